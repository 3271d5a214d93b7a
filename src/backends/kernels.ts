/**
 * The kernel table: every computation the engine performs goes through one of these functions.
 *
 * Two backends implement it: `js` (plain TypeScript, the reference) and `native` (C++ through
 * Node-API). Kernels never allocate their outputs: the caller passes typed arrays it owns, so the
 * JavaScript garbage collector frees all tensor memory. All arrays are dense and row-major unless a
 * stride argument says otherwise. Float kernels accept Float32Array or Float64Array; every array
 * passed to one call has the same float type.
 *
 * Kernels do not count FLOPs; the op layer (`src/tensor/ops`) does, identically for both backends.
 */

export type FloatArray = Float32Array | Float64Array;
export type AnyArray = Float32Array | Float64Array | Int32Array;

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'gelu'
  | 'geluTanh'
  | 'silu'
  | 'square';

export const UNARY_OPS: readonly UnaryOp[] = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'abs',
  'tanh',
  'sigmoid',
  'relu',
  'gelu',
  'geluTanh',
  'silu',
  'square',
];

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
export const BINARY_OPS: readonly BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
];

export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export const COMPARE_OPS: readonly CompareOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];

export type ReduceOp = 'sum' | 'max' | 'min';

/**
 * A strided view for the broadcasting kernels: element `(i0, ..., ir)` of the output shape
 * reads `data[offset + i0 * strides[0] + ... + ir * strides[r]]`; a broadcast dimension
 * has stride 0.
 */
export interface Strided<A extends AnyArray = AnyArray> {
  data: A;
  offset: number;
  strides: Int32Array;
}

/**
 * Batched matrix product `out[b] = op(A[b]) @ op(B[b])` (+ `out[b]` when `accumulate`).
 * `op(A)` is `M x K`; stored as `K x M` when `transA`. `op(B)` is `K x N`; stored `N x K` when
 * `transB`. `aOffsets[b]` / `bOffsets[b]` are the element offsets of batch `b`'s matrices
 * (broadcast batches repeat an offset); `out` is dense `[batch, M, N]`.
 */
export interface MatmulArgs {
  a: FloatArray;
  b: FloatArray;
  out: FloatArray;
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  aOffsets: Int32Array;
  bOffsets: Int32Array;
  accumulate: boolean;
}

/**
 * One operand of attention: element `(b, h, t, d)` is
 * `data[offset + b * strideB + h * strideH + t * strideT + d]` (the head dimension is contiguous).
 */
export interface AttentionView {
  data: FloatArray;
  offset: number;
  strideB: number;
  strideH: number;
  strideT: number;
}

/**
 * Scaled dot-product attention, `B` batch, `H` query heads, `Hkv` key/value heads (`H % Hkv == 0`,
 * query head `h` uses key/value head `floor(h / (H / Hkv))`), `T` queries, `S` keys, `D` head size.
 * `probs` is dense `[B, H, T, S]`. With `causal`, query `t` sees keys `s <= t + (S - T)` (queries
 * are the last `T` positions). `keyMask` is dense `[B, S]`, 1 = attend, 0 = padding; a query that
 * sees no key gets zero output and zero probabilities.
 */
export interface AttentionArgs {
  q: AttentionView;
  k: AttentionView;
  v: AttentionView;
  out: AttentionView;
  probs: FloatArray;
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  scale: number;
  causal: boolean;
  keyMask: Int32Array | null;
}

/** Gradients for attention; `dq`, `dk`, `dv` are overwritten (not accumulated). */
export interface AttentionBackwardArgs extends AttentionArgs {
  dout: AttentionView;
  dq: AttentionView;
  dk: AttentionView;
  dv: AttentionView;
}

export interface AdamArgs {
  param: FloatArray;
  grad: FloatArray;
  m: FloatArray;
  v: FloatArray;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true: AdamW, `p -= lr * wd * p` before the update; false: Adam, `g += wd * p`. */
  decoupled: boolean;
  /** 1-based step count, used for bias correction. */
  step: number;
}

export interface SgdArgs {
  param: FloatArray;
  grad: FloatArray;
  /** momentum buffer; unused when `momentum == 0`. */
  buf: FloatArray;
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  /** true on the first step: the buffer is set to the gradient rather than decayed into. */
  firstStep: boolean;
}

export interface Kernels {
  readonly name: 'js' | 'native';
  /** What multiplies matrices: 'openblas', 'builtin' or 'reference'. */
  readonly blas: string;
  threads(): number;
  setThreads(n: number): void;

  fill(out: AnyArray, value: number): void;
  /** Copies `shape` elements between two strided views (each may have any offsets/strides). */
  copy(src: Strided, dst: Strided, shape: Int32Array): void;

  /** `out[i] = op(x[i])`, same length. */
  unary(op: UnaryOp, x: FloatArray, out: FloatArray): void;
  /** `dx[i] = dy[i] * d op(x)/dx at x[i]`; `y` is the forward output `op(x)`. */
  unaryBackward(op: UnaryOp, x: FloatArray, y: FloatArray, dy: FloatArray, dx: FloatArray): void;
  /** `out = op(a, b)` over the dense output `shape`, reading the operands through their views. */
  binary(op: BinaryOp, a: Strided, b: Strided, out: AnyArray, shape: Int32Array): void;
  /** `out = a * scale + shift`, elementwise. */
  affine(x: FloatArray, scale: number, shift: number, out: FloatArray): void;
  /** `out = (a op b) ? 1 : 0` over `shape`. */
  compare(op: CompareOp, a: Strided, b: Strided, out: Int32Array, shape: Int32Array): void;
  /** `out = cond != 0 ? a : b` over `shape`. */
  where(cond: Strided<Int32Array>, a: Strided, b: Strided, out: AnyArray, shape: Int32Array): void;

  /** Reduces the middle axis of a dense `[outer, n, inner]` array into `out` `[outer, inner]`. */
  reduce(
    op: ReduceOp,
    x: FloatArray,
    outer: number,
    n: number,
    inner: number,
    out: FloatArray,
  ): void;
  /**
   * Index of the max (or min) along the middle axis of `[outer, n, inner]`; ties take the first
   * index; NaN counts as the largest (and the smallest) value, as in PyTorch.
   */
  argReduce(
    op: 'max' | 'min',
    x: AnyArray,
    outer: number,
    n: number,
    inner: number,
    out: Int32Array,
  ): void;
  /** Sum of squares of all elements, accumulated in double precision. */
  sumSquares(x: FloatArray): number;

  /**
   * `out[o, m, i] = x[o, index[m], i]` for `x` `[outer, n, inner]`, `out` `[outer, index.length,
   * inner]`. Returns -1 when all indices are in `[0, n)`, otherwise the position of the first bad
   * index (and writes nothing useful).
   */
  indexSelect(
    x: AnyArray,
    outer: number,
    n: number,
    inner: number,
    index: Int32Array,
    out: AnyArray,
  ): number;
  /** `dx[o, index[m], i] += dy[o, m, i]`; indices already checked. */
  indexAdd(
    dy: FloatArray,
    outer: number,
    n: number,
    inner: number,
    index: Int32Array,
    dx: FloatArray,
  ): void;
  /**
   * `out[o, j, i] = x[o, index[o, j, i], i]` for `x` `[outer, n, inner]` and `index`/`out`
   * `[outer, m, inner]` (torch.gather along the middle axis). Returns -1 or the first bad position.
   */
  gather(
    x: AnyArray,
    outer: number,
    n: number,
    inner: number,
    index: Int32Array,
    m: number,
    out: AnyArray,
  ): number;
  /** `dx[o, index[o, j, i], i] += dy[o, j, i]`; indices already checked. */
  scatterAdd(
    dy: FloatArray,
    outer: number,
    n: number,
    inner: number,
    index: Int32Array,
    m: number,
    dx: FloatArray,
  ): void;

  matmul(args: MatmulArgs): void;

  /** Softmax (or log-softmax) over the last axis of dense `[rows, cols]`. */
  softmax(x: FloatArray, rows: number, cols: number, log: boolean, out: FloatArray): void;
  /** `y` is the forward output. */
  softmaxBackward(
    y: FloatArray,
    dy: FloatArray,
    rows: number,
    cols: number,
    log: boolean,
    dx: FloatArray,
  ): void;

  /**
   * Per-row cross-entropy of `logits` `[rows, V]` against class `targets` `[rows]`, with label
   * smoothing `eps`: `loss = (1 - eps) * (lse - x[t]) + eps * (lse - mean(x))`. Rows whose target
   * is `ignoreIndex` get loss 0. Writes `losses[rows]` and the log-sum-exp `lse[rows]`. Returns -1,
   * or the first row whose target is outside `[0, V)` and is not `ignoreIndex`.
   */
  crossEntropy(
    logits: FloatArray,
    targets: Int32Array,
    rows: number,
    V: number,
    ignoreIndex: number,
    smoothing: number,
    losses: FloatArray,
    lse: FloatArray,
  ): number;
  /** `dlogits[r] = rowScale[r] * d loss_r / d logits[r]` (rows with `ignoreIndex` get zero). */
  crossEntropyBackward(
    logits: FloatArray,
    targets: Int32Array,
    lse: FloatArray,
    rows: number,
    V: number,
    ignoreIndex: number,
    smoothing: number,
    rowScale: FloatArray,
    dlogits: FloatArray,
  ): void;

  /**
   * Layer norm over the last axis of `[rows, C]`: `y = (x - mean) * rstd * gamma + beta`
   * (`gamma`/`beta` may be null: 1 and 0). Saves `mean[rows]`, `rstd[rows]`.
   */
  layerNorm(
    x: FloatArray,
    gamma: FloatArray | null,
    beta: FloatArray | null,
    rows: number,
    C: number,
    eps: number,
    y: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
  ): void;
  /** Overwrites `dx`; adds into `dgamma`/`dbeta` when they are given. */
  layerNormBackward(
    x: FloatArray,
    gamma: FloatArray | null,
    mean: FloatArray,
    rstd: FloatArray,
    dy: FloatArray,
    rows: number,
    C: number,
    dx: FloatArray,
    dgamma: FloatArray | null,
    dbeta: FloatArray | null,
  ): void;
  /** RMS norm: `y = x * rstd * gamma`, `rstd = 1 / sqrt(mean(x^2) + eps)`. */
  rmsNorm(
    x: FloatArray,
    gamma: FloatArray | null,
    rows: number,
    C: number,
    eps: number,
    y: FloatArray,
    rstd: FloatArray,
  ): void;
  rmsNormBackward(
    x: FloatArray,
    gamma: FloatArray | null,
    rstd: FloatArray,
    dy: FloatArray,
    rows: number,
    C: number,
    dx: FloatArray,
    dgamma: FloatArray | null,
  ): void;

  attention(args: AttentionArgs): void;
  attentionBackward(args: AttentionBackwardArgs): void;

  /**
   * One LSTM time step from pre-activations `gates` `[B, 4H]` in PyTorch's order (i, f, g, o):
   * `c = sigmoid(f) * cPrev + sigmoid(i) * tanh(g)`, `h = sigmoid(o) * tanh(c)`. Saves the
   * activated gates in `act` `[B, 4H]` for the backward pass.
   */
  lstmCell(
    gates: FloatArray,
    cPrev: FloatArray,
    B: number,
    H: number,
    h: FloatArray,
    c: FloatArray,
    act: FloatArray,
  ): void;
  /**
   * Given `dh`, `dc` (gradient flowing into this step's `h` and `c`), writes `dgates` `[B, 4H]` and
   * `dcPrev` `[B, H]`.
   */
  lstmCellBackward(
    act: FloatArray,
    cPrev: FloatArray,
    c: FloatArray,
    dh: FloatArray,
    dc: FloatArray,
    B: number,
    H: number,
    dgates: FloatArray,
    dcPrev: FloatArray,
  ): void;

  /**
   * Rotary embedding, half-split layout (pairs `(d, d + D/2)`), on `x` dense `[B, H, T, D]`:
   * `out[.., d] = x[d] cos - x[d + D/2] sin`, `out[.., d + D/2] = x[d + D/2] cos + x[d] sin`, angle
   * from `cos`/`sin` `[T, D/2]` (or `[B, T, D/2]` when `perBatch`). `inverse` rotates by the
   * negative angle (the backward pass).
   */
  rope(
    x: FloatArray,
    cos: FloatArray,
    sin: FloatArray,
    B: number,
    H: number,
    T: number,
    D: number,
    perBatch: boolean,
    inverse: boolean,
    out: FloatArray,
  ): void;

  adamStep(args: AdamArgs): void;
  sgdStep(args: SgdArgs): void;
}
