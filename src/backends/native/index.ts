/**
 * The `native` backend: the C++ kernels of `native/*.cc`, loaded from
 * `<repo>/build/Release/sextant_native.node` (built by `npm run build:native`).
 *
 * This file is a thin adapter: it maps the interface's op names to the addon's op codes and its
 * argument objects to positional arguments. The addon validates types and sizes itself (so a
 * wrong call throws instead of touching memory it should not); user-facing errors are the op
 * layer's job. `SEXTANT_NATIVE_ADDON=<file.node>` loads another build of the addon instead (how
 * the tests exercise the built-in GEMM on a machine that has OpenBLAS).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AnyArray,
  BINARY_OPS,
  type BinaryOp,
  COMPARE_OPS,
  type CompareOp,
  type FloatArray,
  type Kernels,
  type ReduceOp,
  UNARY_OPS,
  type UnaryOp,
} from '../kernels.js';

type F = FloatArray;
type I = Int32Array;

/** The addon's exports (native/addon.cc, native/addon_nn.cc); all arguments positional. */
interface Addon {
  readonly blas: string;
  readonly isa: string;
  threads(): number;
  setThreads(n: number): void;
  fill(out: AnyArray, value: number): void;
  copy(sd: AnyArray, so: number, ss: I, dd: AnyArray, dO: number, ds: I, shape: I): void;
  unary(op: number, x: F, out: F): void;
  unaryBackward(op: number, x: F, y: F, dy: F, dx: F): void;
  binary(
    op: number,
    ad: AnyArray,
    ao: number,
    as: I,
    bd: AnyArray,
    bo: number,
    bs: I,
    out: AnyArray,
    shape: I,
  ): void;
  affine(x: F, scale: number, shift: number, out: F): void;
  compare(
    op: number,
    ad: AnyArray,
    ao: number,
    as: I,
    bd: AnyArray,
    bo: number,
    bs: I,
    out: I,
    shape: I,
  ): void;
  where(
    cd: I,
    co: number,
    cs: I,
    ad: AnyArray,
    ao: number,
    as: I,
    bd: AnyArray,
    bo: number,
    bs: I,
    out: AnyArray,
    shape: I,
  ): void;
  reduce(op: number, x: F, outer: number, n: number, inner: number, out: F): void;
  argReduce(isMin: boolean, x: AnyArray, outer: number, n: number, inner: number, out: I): void;
  sumSquares(x: F): number;
  indexSelect(
    x: AnyArray,
    outer: number,
    n: number,
    inner: number,
    index: I,
    out: AnyArray,
  ): number;
  indexAdd(dy: F, outer: number, n: number, inner: number, index: I, dx: F): void;
  gather(
    x: AnyArray,
    outer: number,
    n: number,
    inner: number,
    index: I,
    m: number,
    out: AnyArray,
  ): number;
  scatterAdd(dy: F, outer: number, n: number, inner: number, index: I, m: number, dx: F): void;
  matmul(
    a: F,
    b: F,
    out: F,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    aOffsets: I,
    bOffsets: I,
    accumulate: boolean,
  ): void;
  softmax(x: F, rows: number, cols: number, log: boolean, out: F): void;
  softmaxBackward(y: F, dy: F, rows: number, cols: number, log: boolean, dx: F): void;
  crossEntropy(
    logits: F,
    targets: I,
    rows: number,
    V: number,
    ignoreIndex: number,
    smoothing: number,
    losses: F,
    lse: F,
  ): number;
  crossEntropyBackward(
    logits: F,
    targets: I,
    lse: F,
    rows: number,
    V: number,
    ignoreIndex: number,
    smoothing: number,
    rowScale: F,
    dlogits: F,
  ): void;
  layerNorm(
    x: F,
    gamma: F | null,
    beta: F | null,
    rows: number,
    C: number,
    eps: number,
    y: F,
    mean: F,
    rstd: F,
  ): void;
  layerNormBackward(
    x: F,
    gamma: F | null,
    mean: F,
    rstd: F,
    dy: F,
    rows: number,
    C: number,
    dx: F,
    dgamma: F | null,
    dbeta: F | null,
  ): void;
  rmsNorm(x: F, gamma: F | null, rows: number, C: number, eps: number, y: F, rstd: F): void;
  rmsNormBackward(
    x: F,
    gamma: F | null,
    rstd: F,
    dy: F,
    rows: number,
    C: number,
    dx: F,
    dgamma: F | null,
  ): void;
  attention(meta: Float64Array, q: F, k: F, v: F, out: F, probs: F, keyMask: I | null): void;
  attentionBackward(
    meta: Float64Array,
    q: F,
    k: F,
    v: F,
    probs: F,
    dout: F,
    dq: F,
    dk: F,
    dv: F,
  ): void;
  lstmCell(gates: F, cPrev: F, B: number, H: number, h: F, c: F, act: F): void;
  lstmCellBackward(
    act: F,
    cPrev: F,
    c: F,
    dh: F,
    dc: F,
    B: number,
    H: number,
    dgates: F,
    dcPrev: F,
  ): void;
  rope(
    x: F,
    cos: F,
    sin: F,
    B: number,
    H: number,
    T: number,
    D: number,
    perBatch: boolean,
    inverse: boolean,
    out: F,
  ): void;
  adamStep(
    param: F,
    grad: F,
    m: F,
    v: F,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
    step: number,
  ): void;
  sgdStep(
    param: F,
    grad: F,
    buf: F,
    lr: number,
    momentum: number,
    dampening: number,
    nesterov: boolean,
    weightDecay: number,
    firstStep: boolean,
  ): void;
}

function codes<K extends string>(names: readonly K[]): Record<K, number> {
  const table = {} as Record<K, number>;
  names.forEach((name, i) => {
    table[name] = i;
  });
  return table;
}

const UNARY = codes<UnaryOp>(UNARY_OPS);
const BINARY = codes<BinaryOp>(BINARY_OPS);
const COMPARE = codes<CompareOp>(COMPARE_OPS);
const REDUCE: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

function code<K extends string>(table: Record<K, number>, op: K, kind: string): number {
  const c = table[op];
  if (c === undefined) throw new Error(`native kernels: unknown ${kind} op '${op}'`);
  return c;
}

/** The directory holding sextant's package.json, found by walking up from this file. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'sextant') {
          return dir;
        }
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the sextant package root above ${import.meta.url}`);
    dir = up;
  }
}

function addonPath(): string {
  const override = process.env.SEXTANT_NATIVE_ADDON;
  if (override !== undefined && override !== '') return override;
  return join(repoRoot(), 'build', 'Release', 'sextant_native.node');
}

/** Interface objects in, positional arguments out; the attention views travel in `meta`. */
function wrap(n: Addon): Kernels {
  // Reused for every attention call (JS is single-threaded here); layout in addon_nn.cc.
  const meta = new Float64Array(40);
  const views = (args: { q: View; k: View; v: View; out: View }, shape: AttnShape): void => {
    put(meta, 0, args.q);
    put(meta, 4, args.k);
    put(meta, 8, args.v);
    put(meta, 12, args.out);
    meta[16] = shape.B;
    meta[17] = shape.H;
    meta[18] = shape.Hkv;
    meta[19] = shape.T;
    meta[20] = shape.S;
    meta[21] = shape.D;
    meta[22] = shape.scale;
    meta[23] = shape.causal ? 1 : 0;
  };
  return {
    name: 'native',
    blas: n.blas,
    threads: () => n.threads(),
    setThreads: (t) => {
      if (!Number.isInteger(t) || t < 1) {
        throw new RangeError(`setThreads: need a whole number >= 1, got ${t}`);
      }
      n.setThreads(t);
    },
    fill: (out, value) => n.fill(out, value),
    copy: (s, d, shape) => n.copy(s.data, s.offset, s.strides, d.data, d.offset, d.strides, shape),
    unary: (op, x, out) => n.unary(code(UNARY, op, 'unary'), x, out),
    unaryBackward: (op, x, y, dy, dx) => n.unaryBackward(code(UNARY, op, 'unary'), x, y, dy, dx),
    binary: (op, a, b, out, shape) =>
      n.binary(
        code(BINARY, op, 'binary'),
        a.data,
        a.offset,
        a.strides,
        b.data,
        b.offset,
        b.strides,
        out,
        shape,
      ),
    affine: (x, scale, shift, out) => n.affine(x, scale, shift, out),
    compare: (op, a, b, out, shape) =>
      n.compare(
        code(COMPARE, op, 'compare'),
        a.data,
        a.offset,
        a.strides,
        b.data,
        b.offset,
        b.strides,
        out,
        shape,
      ),
    where: (c, a, b, out, shape) =>
      n.where(
        c.data,
        c.offset,
        c.strides,
        a.data,
        a.offset,
        a.strides,
        b.data,
        b.offset,
        b.strides,
        out,
        shape,
      ),
    reduce: (op, x, outer, len, inner, out) =>
      n.reduce(code(REDUCE, op, 'reduce'), x, outer, len, inner, out),
    argReduce: (op, x, outer, len, inner, out) =>
      n.argReduce(op === 'min', x, outer, len, inner, out),
    sumSquares: (x) => n.sumSquares(x),
    indexSelect: (x, outer, len, inner, index, out) =>
      n.indexSelect(x, outer, len, inner, index, out),
    indexAdd: (dy, outer, len, inner, index, dx) => n.indexAdd(dy, outer, len, inner, index, dx),
    gather: (x, outer, len, inner, index, m, out) => n.gather(x, outer, len, inner, index, m, out),
    scatterAdd: (dy, outer, len, inner, index, m, dx) =>
      n.scatterAdd(dy, outer, len, inner, index, m, dx),
    matmul: (a) =>
      n.matmul(
        a.a,
        a.b,
        a.out,
        a.batch,
        a.M,
        a.N,
        a.K,
        a.transA,
        a.transB,
        a.aOffsets,
        a.bOffsets,
        a.accumulate,
      ),
    softmax: (x, rows, cols, log, out) => n.softmax(x, rows, cols, log, out),
    softmaxBackward: (y, dy, rows, cols, log, dx) => n.softmaxBackward(y, dy, rows, cols, log, dx),
    crossEntropy: (logits, targets, rows, V, ignoreIndex, smoothing, losses, lse) =>
      n.crossEntropy(logits, targets, rows, V, ignoreIndex, smoothing, losses, lse),
    crossEntropyBackward: (logits, targets, lse, rows, V, ignoreIndex, smoothing, scale, dl) =>
      n.crossEntropyBackward(logits, targets, lse, rows, V, ignoreIndex, smoothing, scale, dl),
    layerNorm: (x, gamma, beta, rows, C, eps, y, mean, rstd) =>
      n.layerNorm(x, gamma, beta, rows, C, eps, y, mean, rstd),
    layerNormBackward: (x, gamma, mean, rstd, dy, rows, C, dx, dgamma, dbeta) =>
      n.layerNormBackward(x, gamma, mean, rstd, dy, rows, C, dx, dgamma, dbeta),
    rmsNorm: (x, gamma, rows, C, eps, y, rstd) => n.rmsNorm(x, gamma, rows, C, eps, y, rstd),
    rmsNormBackward: (x, gamma, rstd, dy, rows, C, dx, dgamma) =>
      n.rmsNormBackward(x, gamma, rstd, dy, rows, C, dx, dgamma),
    attention: (a) => {
      views(a, a);
      n.attention(meta, a.q.data, a.k.data, a.v.data, a.out.data, a.probs, a.keyMask);
    },
    attentionBackward: (a) => {
      views(a, a);
      put(meta, 24, a.dout);
      put(meta, 28, a.dq);
      put(meta, 32, a.dk);
      put(meta, 36, a.dv);
      n.attentionBackward(
        meta,
        a.q.data,
        a.k.data,
        a.v.data,
        a.probs,
        a.dout.data,
        a.dq.data,
        a.dk.data,
        a.dv.data,
      );
    },
    lstmCell: (gates, cPrev, B, H, h, c, act) => n.lstmCell(gates, cPrev, B, H, h, c, act),
    lstmCellBackward: (act, cPrev, c, dh, dc, B, H, dgates, dcPrev) =>
      n.lstmCellBackward(act, cPrev, c, dh, dc, B, H, dgates, dcPrev),
    rope: (x, cos, sin, B, H, T, D, perBatch, inverse, out) =>
      n.rope(x, cos, sin, B, H, T, D, perBatch, inverse, out),
    adamStep: (a) =>
      n.adamStep(
        a.param,
        a.grad,
        a.m,
        a.v,
        a.lr,
        a.beta1,
        a.beta2,
        a.eps,
        a.weightDecay,
        a.decoupled,
        a.step,
      ),
    sgdStep: (a) =>
      n.sgdStep(
        a.param,
        a.grad,
        a.buf,
        a.lr,
        a.momentum,
        a.dampening,
        a.nesterov,
        a.weightDecay,
        a.firstStep,
      ),
  };
}

interface View {
  offset: number;
  strideB: number;
  strideH: number;
  strideT: number;
}
interface AttnShape {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  scale: number;
  causal: boolean;
}

function put(meta: Float64Array, at: number, v: View): void {
  meta[at] = v.offset;
  meta[at + 1] = v.strideB;
  meta[at + 2] = v.strideH;
  meta[at + 3] = v.strideT;
}

let loaded: { kernels: Kernels | null; error: string | null; path: string; isa: string } | null =
  null;

function load(): NonNullable<typeof loaded> {
  if (loaded) return loaded;
  let path = '(unresolved)';
  try {
    path = addonPath();
    const require = createRequire(import.meta.url);
    const addon = require(path) as Addon;
    if (typeof addon.matmul !== 'function' || typeof addon.blas !== 'string') {
      throw new Error(`${path} is not a sextant native addon (missing exports)`);
    }
    loaded = { kernels: wrap(addon), error: null, path, isa: addon.isa };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    loaded = { kernels: null, error: `cannot load ${path}: ${why}`, path, isa: '' };
  }
  return loaded;
}

/** The native kernel table, or null when the addon is missing or fails to load. */
export function loadNativeKernels(): Kernels | null {
  return load().kernels;
}

/** Why the addon did not load (for `sextant doctor`); null when it loaded. */
export function nativeLoadError(): string | null {
  return load().error;
}

/** Where the addon was loaded from and which GEMM micro-kernel it picked; null if not loaded. */
export function nativeAddonInfo(): { path: string; blas: string; isa: string } | null {
  const l = load();
  return l.kernels ? { path: l.path, blas: l.kernels.blas, isa: l.isa } : null;
}
