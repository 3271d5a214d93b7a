/**
 * Index ops: index-select, embedding, gather, one-hot. Backward passes scatter-add into zeros.
 * Every index is checked against its axis before any element is read.
 */
import { kernels } from '../../backends/index.js';
import type { FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { assertInt } from '../create.js';
import { type DType, isFloat } from '../dtype.js';
import { fmtShape, IndexError, ShapeError } from '../errors.js';
import { normAxis, splitAt } from '../shape.js';
import { Tensor } from '../tensor.js';

function badIndex(
  op: string,
  x: Tensor,
  axis: number,
  index: Tensor,
  position: number,
): IndexError {
  const n = x.shape[axis];
  return new IndexError(
    `${op}: index ${index.data[position]} at position ${position} of the indices ` +
      `${fmtShape(index.shape)} is out of range for axis ${axis} of size ${n} of ${x.describe()} ` +
      `(valid: 0..${n - 1})`,
  );
}

/**
 * Rows of `x` along `axis` picked by `index` (int32, any shape): the result's `axis` is replaced by
 * `index`'s dimensions. `indexSelect(weight [V, C], ids [B, T])` is `[B, T, C]`.
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  assertInt('indexSelect', index);
  const a = normAxis('indexSelect', axis, x.rank);
  const [outer, n, inner] = splitAt(x.shape, a);
  const shape = [...x.shape.slice(0, a), ...index.shape, ...x.shape.slice(a + 1)];
  const out = Tensor.zeros(shape, x.dtype);
  const ids = index.data as Int32Array;
  const bad = kernels().indexSelect(x.data, outer, n, inner, ids, out.data);
  if (bad >= 0) throw badIndex('indexSelect', x, a, index, bad);
  if (!isFloat(x.dtype)) return out;
  return record(out, 'indexSelect', [x], (dy) => {
    const dx = Tensor.zeros(x.shape, x.dtype);
    kernels().indexAdd(dy.data as FloatArray, outer, n, inner, ids, dx.data as FloatArray);
    return [dx];
  });
}

/** Looks up rows of `weight` `[V, C]` for token ids `[...]`: result `[..., C]`. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2) {
    throw new ShapeError(`embedding: the weight must be [V, C], got ${weight.describe()}`);
  }
  return indexSelect(weight, 0, ids);
}

/**
 * `out[..., j, ...] = x[..., index[..., j, ...], ...]` along `axis` (torch.gather): `index` has
 * `x`'s rank and shape except on `axis`.
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  assertInt('gather', index);
  const a = normAxis('gather', axis, x.rank);
  const matches = index.rank === x.rank && index.shape.every((d, i) => i === a || d === x.shape[i]);
  if (!matches) {
    throw new ShapeError(
      `gather: index ${fmtShape(index.shape)} must have the shape of ${x.describe()} except ` +
        `on axis ${a}`,
    );
  }
  const [outer, n, inner] = splitAt(x.shape, a);
  const m = index.shape[a];
  const out = Tensor.zeros(index.shape, x.dtype);
  const bad = kernels().gather(x.data, outer, n, inner, index.data as Int32Array, m, out.data);
  if (bad >= 0) throw badIndex('gather', x, a, index, bad);
  if (!isFloat(x.dtype)) return out;
  return record(out, 'gather', [x], (dy) => [scatterAddInto(x.shape, dy, a, index)]);
}

/**
 * Zeros of `shape` with `src` added at `index` along `axis` (the backward of gather).
 * `index` must already be checked.
 */
export function scatterAddInto(
  shape: readonly number[],
  src: Tensor,
  axis: number,
  index: Tensor,
): Tensor {
  const [outer, n, inner] = splitAt(shape, axis);
  const out = Tensor.zeros(shape, src.dtype);
  const m = index.shape[axis];
  kernels().scatterAdd(
    src.data as FloatArray,
    outer,
    n,
    inner,
    index.data as Int32Array,
    m,
    out.data as FloatArray,
  );
  return record(out, 'scatterAdd', [src], (dy) => [gather(dy, axis, index)]);
}

/** One-hot rows: int32 `[...]` to `[..., numClasses]` of 0 and 1. */
export function oneHot(index: Tensor, numClasses: number, dtype: DType = 'float32'): Tensor {
  assertInt('oneHot', index);
  const out = Tensor.zeros([...index.shape, numClasses], dtype);
  for (let i = 0; i < index.size; i++) {
    const c = index.data[i];
    if (c < 0 || c >= numClasses) {
      throw new IndexError(`oneHot: class ${c} at position ${i} is outside [0, ${numClasses - 1}]`);
    }
    out.data[i * numClasses + c] = 1;
  }
  return out;
}
