/**
 * Batched matrix product with broadcast batch dimensions. Transposed operands are read in place
 * by the kernel (no copy); the backward pass uses the same flags instead of transposing.
 */
import { kernels } from '../../backends/index.js';
import type { FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { assertFloat } from '../dtype.js';
import { DTypeError, fmtShape, ShapeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { broadcastShapes, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './elementwise.js';
import { reshape } from './shape.js';

export interface MatmulOptions {
  /** Read `a` `[..., K, M]` as its transpose `[..., M, K]`. */
  transA?: boolean;
  /** Read `b` `[..., N, K]` as its transpose `[..., K, N]`. */
  transB?: boolean;
}

/** Element offsets of each batch's matrix in a dense `[...batch, rows, cols]` operand. */
function batchOffsets(
  batchShape: number[],
  own: readonly number[],
  matrixSize: number,
): Int32Array {
  const count = numel(batchShape);
  const offsets = new Int32Array(count);
  const lead = batchShape.length - own.length;
  for (let p = 0; p < count; p++) {
    let rest = p;
    let offset = 0;
    let stride = matrixSize;
    for (let d = batchShape.length - 1; d >= 0; d--) {
      const i = rest % batchShape[d];
      rest = Math.floor(rest / batchShape[d]);
      const ownSize = d >= lead ? own[d - lead] : 1;
      if (ownSize !== 1) offset += i * stride;
      stride *= ownSize;
    }
    offsets[p] = offset;
  }
  return offsets;
}

/**
 * `op(a) @ op(b)` over the last two axes, broadcasting the rest: `[..., M, K] @ [..., K, N]` gives
 * `[..., M, N]`. One-dimensional operands are treated as a row (`a`) or column (`b`) vector and
 * that axis is dropped from the result. Counts `2 * M * N * K` FLOPs per batch.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  assertFloat('matmul (first operand)', a.dtype);
  assertFloat('matmul (second operand)', b.dtype);
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`matmul: operands ${a.describe()} and ${b.describe()} differ in dtype`);
  }
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(
      `matmul: operands must have at least one axis, got ${a.describe()} and ${b.describe()}`,
    );
  }
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const a2 = a.rank === 1 ? reshape(a, transA ? [a.size, 1] : [1, a.size]) : a;
  const b2 = b.rank === 1 ? reshape(b, transB ? [1, b.size] : [b.size, 1]) : b;
  const [ar, ac] = a2.shape.slice(-2);
  const [br, bc] = b2.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (K !== Kb) {
    const ta = transA ? ' (transposed)' : '';
    const tb = transB ? ' (transposed)' : '';
    throw new ShapeError(
      `matmul: inner sizes differ: ${fmtShape(a.shape)}${ta} @ ${fmtShape(b.shape)}${tb} ` +
        `multiplies [${M}, ${K}] by [${Kb}, ${N}]`,
    );
  }
  const aBatch = a2.shape.slice(0, -2);
  const bBatch = b2.shape.slice(0, -2);
  const batchShape = broadcastShapes('matmul (batch dimensions)', aBatch, bBatch);
  const batch = numel(batchShape);
  const out = Tensor.empty([...batchShape, M, N], a.dtype); // every element written
  kernels().matmul({
    a: a2.data as FloatArray,
    b: b2.data as FloatArray,
    out: out.data as FloatArray,
    batch,
    M,
    N,
    K,
    transA,
    transB,
    aOffsets: batchOffsets(batchShape, aBatch, M * K),
    bOffsets: batchOffsets(batchShape, bBatch, K * N),
    accumulate: false,
  });
  countFlops(2 * batch * M * N * K);
  let result = out;
  if (a.rank === 1 || b.rank === 1) {
    const shape = [...batchShape];
    if (a.rank !== 1) shape.push(M);
    if (b.rank !== 1) shape.push(N);
    result = reshape(out, shape);
  }
  const resultShape = result.shape;
  return record(result, 'matmul', [a, b], (dyIn) => {
    const dy = reshape(dyIn, [...batchShape, M, N]);
    void resultShape;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      const full = transA
        ? matmul(b2, dy, { transA: transB, transB: true })
        : matmul(dy, b2, { transB: !transB });
      da = reshape(sumToShape(full, a2.shape), a.shape);
    }
    if (b.requiresGrad) {
      const full = transB
        ? matmul(dy, a2, { transA: true, transB: transA })
        : matmul(a2, dy, { transA: !transA });
      db = reshape(sumToShape(full, b2.shape), b.shape);
    }
    return [da, db];
  });
}

/**
 * Batch offsets of a single matrix, shared by every one-matrix product (kernels never write it).
 */
const SINGLE = new Int32Array(1);

export interface LinearOptions {
  /**
   * How `weight` is stored: `'out_in'` `[out, in]` as `torch.nn.Linear` (default), or `'in_out'`
   * `[in, out]` as GPT-2's Conv1D. Either is read in place.
   */
  weightLayout?: 'out_in' | 'in_out';
}

/**
 * A dense layer, fused: `x` `[..., in]` times the weight plus `bias` `[out]`, result `[..., out]`.
 * All leading axes go through one matrix product, which starts from the bias rather than adding
 * it afterwards; the backward pass is three products and a column sum, with no copies.
 * Counts `2·N·in·out` FLOPs (+ `N·out` for the bias) forward, twice the products backward.
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  options: LinearOptions = {},
): Tensor {
  const inOut = options.weightLayout === 'in_out';
  const [O, I] = inOut ? [weight.shape[1], weight.shape[0]] : [weight.shape[0], weight.shape[1]];
  if (weight.rank !== 2 || x.rank === 0 || x.shape[x.rank - 1] !== I) {
    const layout = inOut ? '[in, out]' : '[out, in]';
    throw new ShapeError(
      `linear: input ${x.describe()} needs last dimension ${I} to match the weight ` +
        `${weight.describe()} (stored ${layout})`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== O)) {
    throw new ShapeError(
      `linear: bias ${bias.describe()} must be [${O}] for weight ${weight.describe()}`,
    );
  }
  for (const t of bias ? [weight, bias] : [weight]) {
    if (t.dtype !== x.dtype) {
      throw new DTypeError(`linear: ${t.describe()} must have the input's dtype ${x.dtype}`);
    }
  }
  assertFloat('linear', x.dtype);
  const N = x.size / I;
  const out = Tensor.empty([...x.shape.slice(0, -1), O], x.dtype); // [..., out], all written
  const k = kernels();
  if (bias) {
    const rows = { data: out.data, offset: 0, strides: Int32Array.of(O, 1) };
    k.copy({ data: bias.data, offset: 0, strides: Int32Array.of(0, 1) }, rows, Int32Array.of(N, O));
  }
  k.matmul({
    a: x.data as FloatArray,
    b: weight.data as FloatArray,
    out: out.data as FloatArray,
    batch: 1,
    M: N,
    N: O,
    K: I,
    transA: false,
    transB: !inOut,
    aOffsets: SINGLE,
    bOffsets: SINGLE,
    accumulate: bias !== undefined && bias !== null,
  });
  countFlops(2 * N * O * I + (bias ? N * O : 0));
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linear', inputs, (dy) => {
    const product = (
      a: Tensor,
      b: Tensor,
      M: number,
      Nn: number,
      K: number,
      tA: boolean,
      tB: boolean,
      shape: readonly number[],
    ) => {
      const r = Tensor.empty(shape, x.dtype);
      kernels().matmul({
        a: a.data as FloatArray,
        b: b.data as FloatArray,
        out: r.data as FloatArray,
        batch: 1,
        M,
        N: Nn,
        K,
        transA: tA,
        transB: tB,
        aOffsets: SINGLE,
        bOffsets: SINGLE,
        accumulate: false,
      });
      countFlops(2 * M * Nn * K);
      return r;
    };
    // dx [N, in] = dy [N, out] @ W as [out, in]
    const dx = x.requiresGrad ? product(dy, weight, N, I, O, false, inOut, x.shape) : null;
    // dW: [out, in] = dy^T @ x, or [in, out] = x^T @ dy
    const dw = !weight.requiresGrad
      ? null
      : inOut
        ? product(x, dy, I, O, N, true, false, weight.shape)
        : product(dy, x, O, I, N, true, false, weight.shape);
    let db: Tensor | null = null;
    if (bias?.requiresGrad) {
      db = Tensor.zeros([O], x.dtype);
      kernels().reduce('sum', dy.data as FloatArray, 1, N, O, db.data as FloatArray);
      countFlops(N * O);
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
