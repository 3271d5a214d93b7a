/** Reductions over axes (sum, mean, max, min, variance) and argmax / argmin. */
import { kernels } from '../../backends/index.js';
import type { FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { assertFloat } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { normAxes, normAxis, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { affine, square, sub } from './elementwise.js';
import { scatterAddInto } from './indexing.js';
import { expand, permute, reshape } from './shape.js';

/** Shape after reducing `axes`, with or without the reduced dimensions kept as 1. */
function reducedShape(shape: Shape, axes: number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/**
 * Lays `x` out as `[outer, n, inner]` with the reduced axes merged into `n`, permuting (a copy)
 * only when the axes are not adjacent.
 */
function asOuterNInner(x: Tensor, axes: number[]): [Tensor, number, number, number] {
  const adjacent = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
  let t = x;
  let first = axes[0];
  if (!adjacent) {
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    t = permute(x, [...kept, ...axes]);
    first = kept.length;
  }
  const n = numel(axes.map((a) => x.shape[a]));
  const outer = numel(t.shape.slice(0, first));
  return [t, outer, n, t.size / Math.max(1, outer * n) || 0];
}

function reduceOp(
  op: 'sum' | 'max' | 'min',
  x: Tensor,
  axesArg: number | number[] | undefined,
  keepdim: boolean,
): Tensor {
  assertFloat(op, x.dtype);
  const axes = normAxes(op, axesArg, x.rank);
  const keptShape = reducedShape(x.shape, axes, true);
  const outShape = reducedShape(x.shape, axes, keepdim);
  if (axes.length === 0) return x;
  const [t, outer, n, inner] = asOuterNInner(x, axes);
  if (op !== 'sum' && n === 0) {
    throw new ShapeError(`${op}: cannot reduce an empty axis of ${x.describe()}`);
  }
  const out = Tensor.zeros(outShape, x.dtype);
  kernels().reduce(op, t.data as FloatArray, outer, n, inner, out.data as FloatArray);
  countFlops(x.size);
  if (op === 'sum') {
    return record(out, 'sum', [x], (dy) => [expand(reshape(dy, keptShape), x.shape)]);
  }
  // max / min: the gradient goes to the first extreme element, as argmax chooses it.
  const index = Tensor.zeros([outer, 1, inner], 'int32');
  kernels().argReduce(op, t.data, outer, n, inner, index.data as Int32Array);
  return record(out, op, [x], (dy) => {
    const dt = scatterAddInto([outer, n, inner], reshape(dy, [outer, 1, inner]), 1, index);
    if (t === x) return [reshape(dt, x.shape)];
    // Undo the permutation that brought the reduced axes to the end.
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const order = [...kept, ...axes];
    const inverse = order.map((_, i) => order.indexOf(i));
    return [permute(reshape(dt, t.shape), inverse)];
  });
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  return reduceOp('sum', x, axes, keepdim);
}

export function mean(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const n = numel(normAxes('mean', axes, x.rank).map((a) => x.shape[a]));
  return affine(sum(x, axes, keepdim), 1 / n);
}

export function max(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  return reduceOp('max', x, axes, keepdim);
}

export function min(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  return reduceOp('min', x, axes, keepdim);
}

/** Variance with Bessel's `correction` (1 = unbiased, PyTorch's default; 0 = population). */
export function variance(
  x: Tensor,
  axes?: number | number[],
  keepdim = false,
  correction = 1,
): Tensor {
  const n = numel(normAxes('variance', axes, x.rank).map((a) => x.shape[a]));
  const centred = sub(x, mean(x, axes, true));
  return affine(sum(square(centred), axes, keepdim), 1 / Math.max(0, n - correction));
}

function argOp(op: 'max' | 'min', x: Tensor, axis: number, keepdim: boolean): Tensor {
  const a = normAxis(`arg${op}`, axis, x.rank);
  const [, outer, n, inner] = asOuterNInner(x, [a]);
  if (n === 0) throw new ShapeError(`arg${op}: axis ${axis} of ${x.describe()} is empty`);
  const out = Tensor.zeros(reducedShape(x.shape, [a], keepdim), 'int32');
  kernels().argReduce(op, x.data, outer, n, inner, out.data as Int32Array);
  return out;
}

/** Index of the largest element along `axis` (first on ties; NaN counts as largest). */
export function argmax(x: Tensor, axis = -1, keepdim = false): Tensor {
  return argOp('max', x, axis, keepdim);
}

export function argmin(x: Tensor, axis = -1, keepdim = false): Tensor {
  return argOp('min', x, axis, keepdim);
}
