/**
 * The native kernels against the JS reference, on seeded random inputs of awkward sizes, for
 * float32 and float64. Tolerances are two-sided, |native - js| <= atol + rtol * |js|, with
 * float32 bounds set by its precision (the reference computes in double and rounds once) and
 * matmul bounded by the classic K * eps * (|A| |B|) error estimate.
 *
 * Also run it against the built-in GEMM (build with SEXTANT_NO_BLAS=1, or point
 * SEXTANT_NATIVE_ADDON at such a build) and the narrower SIMD paths (SEXTANT_ISA=avx2|generic).
 * Skipped entirely, with the reason, when the addon does not load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsKernels as js } from '../src/backends/js/index.js';
import {
  type AnyArray,
  type AttentionView,
  BINARY_OPS,
  COMPARE_OPS,
  type FloatArray,
  type Kernels,
  type Strided,
  UNARY_OPS,
} from '../src/backends/kernels.js';
import { loadNativeKernels, nativeLoadError } from '../src/backends/native/index.js';

const loaded = loadNativeKernels();
const skip = loaded === null ? `native addon not loaded: ${nativeLoadError()}` : false;
const nk = loaded as Kernels; // only used when not skipped

type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor;
const DTYPES: { name: string; ctor: FloatCtor; eps: number }[] = [
  { name: 'float32', ctor: Float32Array, eps: 2 ** -24 },
  { name: 'float64', ctor: Float64Array, eps: 2 ** -53 },
];
interface Tol {
  rtol: number;
  atol: number;
}
/** Elementwise results: a few ulps. */
const ELEM: Record<string, Tol> = {
  float32: { rtol: 1e-5, atol: 1e-6 },
  float64: { rtol: 1e-12, atol: 1e-14 },
};
/** Results of long sums or chains of float32 roundings (norms, attention, column sums). */
const LONG: Record<string, Tol> = {
  float32: { rtol: 1e-4, atol: 2e-5 },
  float64: { rtol: 1e-10, atol: 1e-12 },
};

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rand(ctor: FloatCtor, n: number, rng: () => number, lo = -1, hi = 1): FloatArray {
  const a = new ctor(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng();
  return a;
}

function randInt(n: number, rng: () => number, lo: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor((hi - lo) * rng());
  return a;
}

function clone<T extends AnyArray>(a: T): T {
  return a.slice() as T;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const ok = Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
    if (!ok)
      assert.fail(`${what}: element ${i} is ${a}, reference ${e} (tol ${JSON.stringify(tol)})`);
  }
}

function same(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  close(actual, expected, { rtol: 0, atol: 0 }, what);
}

/** Row-major strides of a shape. */
function dense(shape: number[]): Int32Array {
  const s = new Int32Array(shape.length);
  let k = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = k;
    k *= shape[d];
  }
  return s;
}

const SIZES = [1, 3, 17, 129, 100_003];

describe('native kernels match the JS reference', { skip }, () => {
  test('reports its configuration', (t) => {
    assert.equal(nk.name, 'native');
    assert.ok(nk.blas === 'openblas' || nk.blas === 'builtin', nk.blas);
    assert.ok(nk.threads() >= 1);
    t.diagnostic(`blas=${nk.blas} threads=${nk.threads()}`);
  });

  test('fill', () => {
    for (const ctor of [Float32Array, Float64Array, Int32Array]) {
      for (const n of [1, 17, 200_001]) {
        for (const v of [1.5, -3.7, 0]) {
          const a = new ctor(n);
          const b = new ctor(n);
          js.fill(a, v);
          nk.fill(b, v);
          same(b, a, `fill ${ctor.name} ${n} ${v}`);
        }
      }
    }
  });

  test('copy between strided views', () => {
    const rng = mulberry32(1);
    for (const ctor of [Float32Array, Float64Array, Int32Array]) {
      const src = new ctor(4 + 17 * 5 * 3);
      for (let i = 0; i < src.length; i++) src[i] = Math.floor(rng() * 1000) - 500;
      const shape = new Int32Array([3, 17, 5]);
      const cases: [Int32Array, number, Int32Array, number][] = [
        [dense([3, 17, 5]), 4, dense([3, 17, 5]), 0], // contiguous
        [new Int32Array([1, 15, 3]), 2, dense([3, 17, 5]), 7], // permuted source
        [new Int32Array([0, 5, 1]), 1, new Int32Array([1, 3, 51]), 3], // broadcast + scattered dst
      ];
      for (const [ss, so, ds, dO] of cases) {
        const a = new ctor(dO + 3 * 17 * 5 + 60);
        const b = new ctor(a.length);
        const s: Strided = { data: src, offset: so, strides: ss };
        js.copy(s, { data: a, offset: dO, strides: ds }, shape);
        nk.copy(s, { data: b, offset: dO, strides: ds }, shape);
        same(b, a, `copy ${ctor.name} ${ss} -> ${ds}`);
      }
    }
  });

  test('unary and unaryBackward, every op', () => {
    const rng = mulberry32(2);
    for (const { name, ctor } of DTYPES) {
      for (const op of UNARY_OPS) {
        for (const n of SIZES) {
          const positive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
          const x = rand(ctor, n, rng, positive ? 0.05 : -4, 4);
          if (n > 3 && !positive) x[1] = Number.NaN;
          const ya = new ctor(n);
          const yb = new ctor(n);
          js.unary(op, x, ya);
          nk.unary(op, x, yb);
          // The reference's erf series loses ~3 digits near |x| = 2.5 (1 + erf cancels there).
          const tol =
            op === 'gelu' && name === 'float64' ? { rtol: 1e-10, atol: 1e-13 } : ELEM[name];
          close(yb, ya, tol, `${op} ${name} n=${n}`);
          const dy = rand(ctor, n, rng);
          const da = new ctor(n);
          const db = new ctor(n);
          js.unaryBackward(op, x, ya, dy, da);
          nk.unaryBackward(op, x, ya, dy, db);
          close(db, da, tol, `${op}' ${name} n=${n}`);
        }
      }
    }
  });

  // Broadcasting layouts over out shape [R, C]: dense, row broadcast, scalar, transposed view.
  function layouts(
    R: number,
    C: number,
  ): { label: string; a: [number, Int32Array]; b: [number, Int32Array] }[] {
    return [
      { label: 'dense', a: [0, dense([R, C])], b: [3, dense([R, C])] },
      { label: 'row-bcast', a: [1, dense([R, C])], b: [2, new Int32Array([0, 1])] },
      { label: 'scalar', a: [0, new Int32Array([0, 0])], b: [5, dense([R, C])] },
      { label: 'transposed', a: [2, new Int32Array([1, R])], b: [0, new Int32Array([1, 0])] },
    ];
  }

  test('binary, compare and where with broadcasting and offsets', () => {
    const rng = mulberry32(3);
    const ctors = [Float32Array, Float64Array, Int32Array] as const;
    for (const ctor of ctors) {
      const tol = ctor === Float32Array ? ELEM.float32 : { rtol: 1e-12, atol: 0 };
      for (const [R, C] of [
        [1, 1],
        [3, 17],
        [129, 257],
        [257, 300],
      ]) {
        const len = R * C + 8;
        const mk = (lo: number, hi: number) => {
          const a = new ctor(len);
          for (let i = 0; i < len; i++) {
            a[i] =
              ctor === Int32Array ? Math.floor(lo + (hi - lo) * rng()) : lo + (hi - lo) * rng();
          }
          return a;
        };
        const shape = new Int32Array([R, C]);
        for (const {
          label,
          a: [ao, as],
          b: [bo, bs],
        } of layouts(R, C)) {
          for (const op of BINARY_OPS) {
            // pow: positive bases (a negative base gives NaN for float exponents on both sides).
            const A = op === 'pow' ? mk(0.5, 2) : mk(-5, 5);
            const B = op === 'pow' ? mk(-2, 3) : mk(-5, 5);
            if (ctor !== Int32Array && len > 4) A[ao] = Number.NaN;
            const sa = { data: A, offset: ao, strides: as };
            const sb = { data: B, offset: bo, strides: bs };
            const oa = new ctor(R * C);
            const ob = new ctor(R * C);
            js.binary(op, sa, sb, oa, shape);
            nk.binary(op, sa, sb, ob, shape);
            close(ob, oa, tol, `binary ${op} ${ctor.name} ${R}x${C} ${label}`);
          }
          const A = mk(-3, 3);
          const B = mk(-3, 3);
          if (ctor !== Int32Array) {
            for (let i = 0; i < len; i++) A[i] = Math.round(A[i]); // make ties likely
            A[ao] = Number.NaN;
          }
          const sa = { data: A, offset: ao, strides: as };
          const sb = { data: B, offset: bo, strides: bs };
          for (const op of COMPARE_OPS) {
            const oa = new Int32Array(R * C);
            const ob = new Int32Array(R * C);
            js.compare(op, sa, sb, oa, shape);
            nk.compare(op, sa, sb, ob, shape);
            same(ob, oa, `compare ${op} ${ctor.name} ${R}x${C} ${label}`);
          }
          const cond = { data: randInt(len, rng, 0, 2), offset: bo, strides: bs };
          const wa = new ctor(R * C);
          const wb = new ctor(R * C);
          js.where(cond, sa, sb, wa, shape);
          nk.where(cond, sa, sb, wb, shape);
          same(wb, wa, `where ${ctor.name} ${R}x${C} ${label}`);
        }
      }
    }
  });

  test('affine', () => {
    const rng = mulberry32(4);
    for (const { name, ctor } of DTYPES) {
      for (const n of SIZES) {
        const x = rand(ctor, n, rng, -10, 10);
        const a = new ctor(n);
        const b = new ctor(n);
        js.affine(x, 0.37, -1.25, a);
        nk.affine(x, 0.37, -1.25, b);
        close(b, a, ELEM[name], `affine ${name} ${n}`);
      }
    }
  });

  const REDUCE_SHAPES = [
    [1, 1, 1],
    [3, 17, 1],
    [17, 3, 5],
    [2, 129, 257],
    [5, 1000, 1],
    [1, 0, 3],
  ];

  test('reduce (sum/max/min) with NaN propagation', () => {
    const rng = mulberry32(5);
    for (const { name, ctor } of DTYPES) {
      for (const [outer, n, inner] of REDUCE_SHAPES) {
        const x = rand(ctor, outer * n * inner, rng, -3, 3);
        if (x.length > 10) x[7] = Number.NaN; // one NaN poisons one output of max/min/sum
        for (const op of ['sum', 'max', 'min'] as const) {
          const a = new ctor(outer * inner);
          const b = new ctor(outer * inner);
          js.reduce(op, x, outer, n, inner, a);
          nk.reduce(op, x, outer, n, inner, b);
          close(b, a, LONG[name], `reduce ${op} ${name} [${outer},${n},${inner}]`);
        }
      }
    }
  });

  test('argReduce: first index on ties, NaN wins', () => {
    const rng = mulberry32(6);
    for (const ctor of [Float32Array, Float64Array, Int32Array]) {
      for (const [outer, n, inner] of REDUCE_SHAPES.filter(([, n]) => n > 0)) {
        const x = new ctor(outer * n * inner);
        for (let i = 0; i < x.length; i++) x[i] = Math.floor(rng() * 5); // many ties
        if (ctor !== Int32Array && x.length > 20) {
          x[9] = Number.NaN;
          x[13] = Number.NaN;
        }
        for (const op of ['max', 'min'] as const) {
          const a = new Int32Array(outer * inner);
          const b = new Int32Array(outer * inner);
          js.argReduce(op, x, outer, n, inner, a);
          nk.argReduce(op, x, outer, n, inner, b);
          same(b, a, `argReduce ${op} ${ctor.name} [${outer},${n},${inner}]`);
        }
      }
    }
  });

  test('sumSquares', () => {
    const rng = mulberry32(7);
    for (const { ctor } of DTYPES) {
      for (const n of [...SIZES, 300_007]) {
        const x = rand(ctor, n, rng);
        close([nk.sumSquares(x)], [js.sumSquares(x)], { rtol: 1e-12, atol: 0 }, `sumSquares ${n}`);
      }
    }
  });

  test('indexSelect / indexAdd and out-of-range detection', () => {
    const rng = mulberry32(8);
    for (const ctor of [Float32Array, Float64Array, Int32Array]) {
      for (const [outer, n, inner, m] of [
        [1, 5, 1, 3],
        [3, 17, 5, 129],
        [4, 1000, 128, 300],
      ]) {
        const x = new ctor(outer * n * inner);
        for (let i = 0; i < x.length; i++) x[i] = Math.floor(rng() * 100);
        const index = randInt(m, rng, 0, n); // repeats are likely
        const a = new ctor(outer * m * inner);
        const b = new ctor(outer * m * inner);
        assert.equal(nk.indexSelect(x, outer, n, inner, index, b), -1);
        js.indexSelect(x, outer, n, inner, index, a);
        same(b, a, `indexSelect ${ctor.name}`);
        for (const bad of [n, -1]) {
          const idx = clone(index);
          idx[m - 1] = bad;
          if (m > 2) idx[m - 2] = bad; // the first bad position is reported
          const want = js.indexSelect(x, outer, n, inner, idx, a);
          assert.equal(nk.indexSelect(x, outer, n, inner, idx, b), want);
          assert.equal(want, m > 2 ? m - 2 : m - 1);
        }
        if (ctor === Int32Array) continue;
        const fc = ctor as FloatCtor;
        const dy = rand(fc, outer * m * inner, rng);
        const da = rand(fc, outer * n * inner, rng);
        const db = clone(da);
        js.indexAdd(dy, outer, n, inner, index, da);
        nk.indexAdd(dy, outer, n, inner, index, db);
        close(db, da, ctor === Float32Array ? LONG.float32 : LONG.float64, 'indexAdd');
      }
    }
  });

  test('gather / scatterAdd and out-of-range detection', () => {
    const rng = mulberry32(9);
    for (const ctor of [Float32Array, Float64Array, Int32Array]) {
      for (const [outer, n, inner, m] of [
        [1, 4, 1, 1],
        [3, 17, 5, 9],
        [4, 129, 65, 200],
      ]) {
        const x = new ctor(outer * n * inner);
        for (let i = 0; i < x.length; i++) x[i] = Math.floor(rng() * 100) - 50;
        const index = randInt(outer * m * inner, rng, 0, n);
        const a = new ctor(index.length);
        const b = new ctor(index.length);
        assert.equal(nk.gather(x, outer, n, inner, index, m, b), -1);
        js.gather(x, outer, n, inner, index, m, a);
        same(b, a, `gather ${ctor.name}`);
        const idx = clone(index);
        const p = Math.floor(index.length / 2);
        idx[p] = n;
        idx[index.length - 1] = -5;
        assert.equal(
          nk.gather(x, outer, n, inner, idx, m, b),
          js.gather(x, outer, n, inner, idx, m, a),
        );
        assert.equal(nk.gather(x, outer, n, inner, idx, m, b), p);
        if (ctor === Int32Array) continue;
        const fc = ctor as FloatCtor;
        const dy = rand(fc, index.length, rng);
        const da = rand(fc, x.length, rng);
        const db = clone(da);
        js.scatterAdd(dy, outer, n, inner, index, m, da);
        nk.scatterAdd(dy, outer, n, inner, index, m, db);
        close(db, da, ctor === Float32Array ? LONG.float32 : LONG.float64, 'scatterAdd');
      }
    }
  });

  test('matmul: transposes, broadcast batches, accumulate', () => {
    const rng = mulberry32(10);
    const abs = (a: FloatArray) => a.map(Math.abs) as FloatArray;
    for (const { name, ctor, eps } of DTYPES) {
      for (const [batch, M, N, K] of [
        [1, 1, 1, 1],
        [1, 3, 17, 129],
        [1, 257, 129, 65],
        [1, 129, 257, 3],
        [3, 64, 64, 64],
        [4, 17, 3, 33],
        [1, 5, 7, 0],
      ]) {
        // b's batches all share one matrix (broadcast); a's are offset by an awkward gap.
        const gap = 3;
        const aOffsets = Int32Array.from({ length: batch }, (_, i) => gap + i * (M * K + gap));
        const bOffsets = new Int32Array(batch).fill(1);
        const a = rand(ctor, gap + batch * (M * K + gap), rng);
        const b = rand(ctor, 1 + K * N, rng);
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const accumulate of [false, true]) {
              const init = rand(ctor, batch * M * N, rng);
              const oa = clone(init);
              const ob = clone(init);
              const args = { a, b, batch, M, N, K, transA, transB, aOffsets, bOffsets, accumulate };
              js.matmul({ ...args, out: oa });
              nk.matmul({ ...args, out: ob });
              // Error bound per element: 2 (K + 1) eps (|A| |B| + |C0|).
              const bound = accumulate ? abs(init) : new ctor(batch * M * N);
              js.matmul({ ...args, a: abs(a), b: abs(b), out: bound, accumulate: true });
              for (let i = 0; i < oa.length; i++) {
                const tol = 2 * (K + 1) * eps * bound[i] + 1e-30;
                if (!(Math.abs(ob[i] - oa[i]) <= tol)) {
                  assert.fail(
                    `matmul ${name} [${batch},${M},${N},${K}] tA=${transA} tB=${transB} ` +
                      `acc=${accumulate}: element ${i} is ${ob[i]}, reference ${oa[i]}, tol ${tol}`,
                  );
                }
              }
            }
          }
        }
      }
    }
  });

  test('softmax / log-softmax and backward', () => {
    const rng = mulberry32(11);
    for (const { name, ctor } of DTYPES) {
      for (const [rows, cols] of [
        [1, 1],
        [3, 17],
        [17, 129],
        [300, 1000],
      ]) {
        const x = rand(ctor, rows * cols, rng, -8, 8);
        if (cols > 3) x[2] = Number.NEGATIVE_INFINITY; // a masked logit
        for (const log of [false, true]) {
          const ya = new ctor(x.length);
          const yb = new ctor(x.length);
          js.softmax(x, rows, cols, log, ya);
          nk.softmax(x, rows, cols, log, yb);
          close(yb, ya, ELEM[name], `softmax log=${log} ${name} ${rows}x${cols}`);
          const dy = rand(ctor, x.length, rng);
          const da = new ctor(x.length);
          const db = new ctor(x.length);
          js.softmaxBackward(ya, dy, rows, cols, log, da);
          nk.softmaxBackward(ya, dy, rows, cols, log, db);
          close(db, da, LONG[name], `softmaxBackward log=${log} ${name} ${rows}x${cols}`);
        }
      }
    }
  });

  test('crossEntropy: ignoreIndex, smoothing, bad targets, backward', () => {
    const rng = mulberry32(12);
    const ignore = -100;
    for (const { name, ctor } of DTYPES) {
      for (const [rows, V] of [
        [1, 1],
        [17, 129],
        [64, 5000],
      ]) {
        const logits = rand(ctor, rows * V, rng, -6, 6);
        const targets = randInt(rows, rng, 0, V);
        if (rows > 3) targets[2] = ignore;
        for (const smoothing of [0, 0.1]) {
          const la = new ctor(rows);
          const lb = new ctor(rows);
          const sa = new ctor(rows);
          const sb = new ctor(rows);
          assert.equal(js.crossEntropy(logits, targets, rows, V, ignore, smoothing, la, sa), -1);
          assert.equal(nk.crossEntropy(logits, targets, rows, V, ignore, smoothing, lb, sb), -1);
          close(lb, la, LONG[name], `crossEntropy loss ${name} ${rows}x${V} eps=${smoothing}`);
          close(sb, sa, LONG[name], `crossEntropy lse ${name} ${rows}x${V}`);
          const scale = rand(ctor, rows, rng, 0.1, 2);
          const da = new ctor(rows * V);
          const db = new ctor(rows * V).fill(7); // every element must be overwritten
          js.crossEntropyBackward(logits, targets, sa, rows, V, ignore, smoothing, scale, da);
          nk.crossEntropyBackward(logits, targets, sa, rows, V, ignore, smoothing, scale, db);
          close(db, da, ELEM[name], `crossEntropyBackward ${name} ${rows}x${V} eps=${smoothing}`);
        }
        for (const bad of [V, -1]) {
          const t = clone(targets);
          t[rows - 1] = bad;
          const want = js.crossEntropy(
            logits,
            t,
            rows,
            V,
            ignore,
            0,
            new ctor(rows),
            new ctor(rows),
          );
          assert.equal(want, rows - 1);
          assert.equal(
            nk.crossEntropy(logits, t, rows, V, ignore, 0, new ctor(rows), new ctor(rows)),
            want,
          );
        }
      }
    }
  });

  test('layerNorm / rmsNorm with and without gamma/beta, and backward', () => {
    const rng = mulberry32(13);
    for (const { name, ctor } of DTYPES) {
      for (const [rows, C] of [
        [1, 1],
        [3, 17],
        [129, 257],
        [2000, 64],
      ]) {
        const x = rand(ctor, rows * C, rng, -2, 3);
        const dy = rand(ctor, rows * C, rng);
        for (const affine of [false, true]) {
          const gamma = affine ? rand(ctor, C, rng, 0.5, 1.5) : null;
          const beta = affine ? rand(ctor, C, rng) : null;
          const what = `${name} ${rows}x${C} affine=${affine}`;
          const ya = new ctor(rows * C);
          const yb = new ctor(rows * C);
          const [ma, mb, ra, rb] = [new ctor(rows), new ctor(rows), new ctor(rows), new ctor(rows)];
          js.layerNorm(x, gamma, beta, rows, C, 1e-5, ya, ma, ra);
          nk.layerNorm(x, gamma, beta, rows, C, 1e-5, yb, mb, rb);
          close(yb, ya, LONG[name], `layerNorm y ${what}`);
          close(mb, ma, ELEM[name], `layerNorm mean ${what}`);
          close(rb, ra, ELEM[name], `layerNorm rstd ${what}`);
          const dxa = new ctor(rows * C);
          const dxb = new ctor(rows * C).fill(3);
          const dga = affine ? rand(ctor, C, rng) : null; // accumulated into
          const dgb = dga ? clone(dga) : null;
          const dba = affine ? rand(ctor, C, rng) : null;
          const dbb = dba ? clone(dba) : null;
          js.layerNormBackward(x, gamma, ma, ra, dy, rows, C, dxa, dga, dba);
          nk.layerNormBackward(x, gamma, ma, ra, dy, rows, C, dxb, dgb, dbb);
          close(dxb, dxa, LONG[name], `layerNorm dx ${what}`);
          if (dga && dgb && dba && dbb) {
            // The reference rounds to float32 at every row of these column sums.
            const colTol = { rtol: LONG[name].rtol, atol: LONG[name].atol * Math.sqrt(rows) * 4 };
            close(dgb, dga, colTol, `layerNorm dgamma ${what}`);
            close(dbb, dba, colTol, `layerNorm dbeta ${what}`);
          }
          const [sa, sb] = [new ctor(rows), new ctor(rows)];
          js.rmsNorm(x, gamma, rows, C, 1e-6, ya, sa);
          nk.rmsNorm(x, gamma, rows, C, 1e-6, yb, sb);
          close(yb, ya, ELEM[name], `rmsNorm y ${what}`);
          close(sb, sa, ELEM[name], `rmsNorm rstd ${what}`);
          const rga = affine ? rand(ctor, C, rng) : null;
          const rgb = rga ? clone(rga) : null;
          js.rmsNormBackward(x, gamma, sa, dy, rows, C, dxa, rga);
          nk.rmsNormBackward(x, gamma, sa, dy, rows, C, dxb, rgb);
          close(dxb, dxa, LONG[name], `rmsNorm dx ${what}`);
          if (rga && rgb) {
            const colTol = { rtol: LONG[name].rtol, atol: LONG[name].atol * Math.sqrt(rows) * 4 };
            close(rgb, rga, colTol, `rmsNorm dgamma ${what}`);
          }
        }
      }
    }
  });

  test('attention: causal + padding + GQA, strided views, and backward', () => {
    const rng = mulberry32(14);
    for (const { name, ctor } of DTYPES) {
      for (const cfg of [
        { B: 2, H: 4, Hkv: 2, T: 5, S: 7, D: 8, causal: true, mask: true },
        { B: 1, H: 2, Hkv: 1, T: 33, S: 33, D: 16, causal: true, mask: false },
        { B: 3, H: 3, Hkv: 3, T: 3, S: 10, D: 5, causal: false, mask: true },
        { B: 2, H: 8, Hkv: 2, T: 17, S: 17, D: 32, causal: true, mask: true },
        // Past 64 queries the causal products run in row blocks (one ragged at the end); the
        // queries may be the last T of S keys, or outnumber them so that the first see none.
        { B: 2, H: 4, Hkv: 2, T: 97, S: 97, D: 8, causal: true, mask: true },
        { B: 1, H: 2, Hkv: 1, T: 70, S: 90, D: 4, causal: true, mask: false },
        { B: 1, H: 2, Hkv: 2, T: 80, S: 66, D: 4, causal: true, mask: false },
        // Heads wider than 64 take the packed GEMM instead of the small-head products.
        { B: 1, H: 2, Hkv: 1, T: 70, S: 70, D: 72, causal: true, mask: true },
        { B: 1, H: 1, Hkv: 1, T: 9, S: 12, D: 65, causal: false, mask: false },
      ]) {
        const { B, H, Hkv, T, S, D, causal } = cfg;
        // q, k, v are slices of one packed [B, T|S, (H + 2 Hkv), D] tensor plus a leading gap,
        // the way a fused projection lays them out; out and the gradients are dense.
        const W = (H + 2 * Hkv) * D;
        const L = Math.max(T, S);
        const packed = rand(ctor, 5 + B * L * W, rng, -2, 2);
        const view = (data: FloatArray, offset: number): AttentionView => ({
          data,
          offset,
          strideB: L * W,
          strideH: D,
          strideT: W,
        });
        const dense4 = (data: FloatArray, heads: number, len: number): AttentionView => ({
          data,
          offset: 0,
          strideB: heads * len * D,
          strideH: len * D,
          strideT: D,
        });
        let keyMask: Int32Array | null = null;
        if (cfg.mask) {
          keyMask = randInt(B * S, rng, 0, 4).map((v) => (v === 0 ? 0 : 1));
          // Batch 0: the first keys are padding, so with the causal rule query 0 sees nothing.
          for (let s = 0; s <= S - T && s < S; s++) keyMask[s] = 0;
        }
        const base = {
          B,
          H,
          Hkv,
          T,
          S,
          D,
          causal,
          keyMask,
          scale: 1 / Math.sqrt(D),
          q: view(packed, 5),
          k: view(packed, 5 + H * D),
          v: view(packed, 5 + (H + Hkv) * D),
        };
        const what = `attention ${name} ${JSON.stringify(cfg)}`;
        const outA = dense4(new ctor(B * H * T * D), H, T);
        const outB = dense4(new ctor(B * H * T * D).fill(9), H, T);
        const pa = new ctor(B * H * T * S);
        const pb = new ctor(B * H * T * S).fill(9);
        js.attention({ ...base, out: outA, probs: pa });
        nk.attention({ ...base, out: outB, probs: pb });
        close(pb, pa, LONG[name], `${what} probs`);
        close(outB.data, outA.data, LONG[name], `${what} out`);
        const dout = dense4(rand(ctor, B * H * T * D, rng), H, T);
        const grads = (fill: number) => ({
          dq: dense4(new ctor(B * H * T * D).fill(fill), H, T),
          dk: dense4(new ctor(B * Hkv * S * D).fill(fill), Hkv, S),
          dv: dense4(new ctor(B * Hkv * S * D).fill(fill), Hkv, S),
        });
        const ga = grads(0);
        const gb = grads(5); // overwritten, not accumulated
        js.attentionBackward({ ...base, out: outA, probs: pa, dout, ...ga });
        nk.attentionBackward({ ...base, out: outA, probs: pa, dout, ...gb });
        close(gb.dq.data, ga.dq.data, LONG[name], `${what} dq`);
        close(gb.dk.data, ga.dk.data, LONG[name], `${what} dk`);
        close(gb.dv.data, ga.dv.data, LONG[name], `${what} dv`);
      }
    }
  });

  test('lstmCell and backward', () => {
    const rng = mulberry32(15);
    for (const { name, ctor } of DTYPES) {
      for (const [B, H] of [
        [1, 1],
        [3, 17],
        [64, 129],
      ]) {
        const gates = rand(ctor, B * 4 * H, rng, -3, 3);
        const cPrev = rand(ctor, B * H, rng);
        const out = () => [new ctor(B * H), new ctor(B * H), new ctor(B * 4 * H)] as const;
        const [ha, ca, aa] = out();
        const [hb, cb, ab] = out();
        js.lstmCell(gates, cPrev, B, H, ha, ca, aa);
        nk.lstmCell(gates, cPrev, B, H, hb, cb, ab);
        close(hb, ha, ELEM[name], `lstm h ${name} ${B}x${H}`);
        close(cb, ca, ELEM[name], `lstm c ${name} ${B}x${H}`);
        close(ab, aa, ELEM[name], `lstm act ${name} ${B}x${H}`);
        const dh = rand(ctor, B * H, rng);
        const dc = rand(ctor, B * H, rng);
        const [dga, dgb] = [new ctor(B * 4 * H), new ctor(B * 4 * H)];
        const [dca, dcb] = [new ctor(B * H), new ctor(B * H)];
        js.lstmCellBackward(aa, cPrev, ca, dh, dc, B, H, dga, dca);
        nk.lstmCellBackward(aa, cPrev, ca, dh, dc, B, H, dgb, dcb);
        close(dgb, dga, ELEM[name], `lstm dgates ${name} ${B}x${H}`);
        close(dcb, dca, ELEM[name], `lstm dcPrev ${name} ${B}x${H}`);
      }
    }
  });

  test('rope: shared and per-batch angles, inverse, in place', () => {
    const rng = mulberry32(16);
    for (const { name, ctor } of DTYPES) {
      for (const [B, H, T, D] of [
        [1, 1, 1, 2],
        [2, 3, 5, 8],
        [4, 8, 129, 64],
      ]) {
        const x = rand(ctor, B * H * T * D, rng, -2, 2);
        for (const perBatch of [false, true]) {
          const angles = (perBatch ? B : 1) * T * (D / 2);
          const theta = rand(ctor, angles, rng, -Math.PI, Math.PI);
          const cos = theta.map(Math.cos) as FloatArray;
          const sin = theta.map(Math.sin) as FloatArray;
          for (const inverse of [false, true]) {
            const a = new ctor(x.length);
            js.rope(x, cos, sin, B, H, T, D, perBatch, inverse, a);
            const b = clone(x);
            nk.rope(b, cos, sin, B, H, T, D, perBatch, inverse, b); // in place
            close(
              b,
              a,
              ELEM[name],
              `rope ${name} [${B},${H},${T},${D}] pb=${perBatch} inv=${inverse}`,
            );
          }
        }
      }
    }
  });

  test('adam (decoupled and not) and sgd (momentum, nesterov, dampening)', () => {
    const rng = mulberry32(17);
    for (const { name, ctor } of DTYPES) {
      for (const n of [1, 17, 100_003]) {
        for (const decoupled of [false, true]) {
          for (const step of [1, 10]) {
            const param = rand(ctor, n, rng);
            const grad = rand(ctor, n, rng);
            const m = rand(ctor, n, rng, -0.1, 0.1);
            const v = rand(ctor, n, rng, 0, 0.01);
            const hyper = {
              lr: 1e-2,
              beta1: 0.9,
              beta2: 0.999,
              eps: 1e-8,
              weightDecay: 0.05,
              decoupled,
              step,
            };
            const A = { param: clone(param), grad, m: clone(m), v: clone(v), ...hyper };
            const Bn = { param: clone(param), grad, m: clone(m), v: clone(v), ...hyper };
            js.adamStep(A);
            nk.adamStep(Bn);
            const what = `adam ${name} n=${n} decoupled=${decoupled} step=${step}`;
            close(Bn.param, A.param, ELEM[name], `${what} param`);
            close(Bn.m, A.m, ELEM[name], `${what} m`);
            close(Bn.v, A.v, ELEM[name], `${what} v`);
          }
        }
        for (const [momentum, nesterov, dampening, firstStep] of [
          [0, false, 0, true],
          [0.9, false, 0.1, true],
          [0.9, false, 0.1, false],
          [0.9, true, 0, false],
        ] as const) {
          const param = rand(ctor, n, rng);
          const grad = rand(ctor, n, rng);
          const buf = rand(ctor, n, rng);
          const hyper = { lr: 0.1, momentum, dampening, nesterov, weightDecay: 0.01, firstStep };
          const A = { param: clone(param), grad, buf: clone(buf), ...hyper };
          const Bn = { param: clone(param), grad, buf: clone(buf), ...hyper };
          js.sgdStep(A);
          nk.sgdStep(Bn);
          const what = `sgd ${name} n=${n} ${JSON.stringify(hyper)}`;
          close(Bn.param, A.param, ELEM[name], `${what} param`);
          close(Bn.buf, A.buf, ELEM[name], `${what} buf`);
        }
      }
    }
  });

  test('results are deterministic: per thread count, and across counts for own kernels', () => {
    const rng = mulberry32(18);
    const before = nk.threads();
    const x = rand(Float32Array, 257 * 1031, rng);
    const run = () => {
      const s = new Float32Array(257);
      nk.reduce('sum', x, 257, 1031, 1, s);
      const y = new Float32Array(x.length);
      nk.softmax(x, 257, 1031, false, y);
      const c = new Float32Array(129 * 129);
      const ofs = new Int32Array(1);
      nk.matmul({
        a: x,
        b: x,
        out: c,
        batch: 1,
        M: 129,
        N: 129,
        K: 1031,
        transA: false,
        transB: true,
        aOffsets: ofs,
        bOffsets: ofs,
        accumulate: false,
      });
      return { s, y, c, ss: [nk.sumSquares(x)] };
    };
    try {
      nk.setThreads(1);
      const one = run();
      same(run().c, one.c, 'matmul, 1 thread, repeated');
      nk.setThreads(3);
      assert.equal(nk.threads(), 3);
      const three = run();
      same(run().c, three.c, 'matmul, 3 threads, repeated');
      same(three.s, one.s, 'reduce');
      same(three.y, one.y, 'softmax');
      same(three.ss, one.ss, 'sumSquares');
      // OpenBLAS may split a product differently for another thread count; the built-in does not.
      if (nk.blas === 'builtin') same(three.c, one.c, 'matmul');
    } finally {
      nk.setThreads(before);
    }
    assert.throws(() => nk.setThreads(0), RangeError);
  });

  test('wrong argument types and short arrays throw instead of touching memory', () => {
    const f = new Float32Array(8);
    assert.throws(() => nk.unary('exp', f, new Float64Array(8)), TypeError);
    assert.throws(() => nk.unary('exp', f, new Float32Array(9)), RangeError);
    assert.throws(() => nk.softmax(f, 3, 3, false, new Float32Array(9)), RangeError);
    const strides = new Int32Array([1]);
    assert.throws(
      () =>
        nk.copy(
          { data: f, offset: 2, strides },
          { data: new Float32Array(8), offset: 0, strides },
          new Int32Array([7]),
        ),
      RangeError,
    );
    const ofs = new Int32Array([0]);
    assert.throws(
      () =>
        nk.matmul({
          a: f,
          b: f,
          out: new Float32Array(9),
          batch: 1,
          M: 3,
          N: 3,
          K: 3,
          transA: false,
          transB: false,
          aOffsets: ofs,
          bOffsets: ofs,
          accumulate: false,
        }),
      RangeError,
    );
    assert.throws(
      () => nk.indexAdd(f, 1, 2, 1, new Int32Array([0, 5]), new Float32Array(2)),
      RangeError,
    );
  });
});
