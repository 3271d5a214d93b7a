/**
 * Ops that move elements without arithmetic: reshape, permute, slice, concat, stack, split,
 * expand. They count no FLOPs. Tensors are always dense, so all but `reshape` copy.
 */
import { kernels } from '../../backends/index.js';
import { record } from '../autograd.js';
import { fmtShape, ShapeError } from '../errors.js';
import {
  broadcastShapes,
  broadcastStrides,
  contiguousStrides,
  normAxis,
  numel,
  type Shape,
  sameShape,
} from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './elementwise.js';

/** Same data, new shape; one dimension may be -1 (inferred). Shares the data (no copy). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const free = shape.indexOf(-1);
  let target = [...shape];
  if (free >= 0) {
    const known = numel(shape.filter((_, i) => i !== free));
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`reshape: cannot infer -1 in ${fmtShape(shape)} for ${x.describe()}`);
    }
    target = shape.map((d, i) => (i === free ? x.size / known : d));
  }
  if (numel(target) !== x.size || target.some((d) => d < 0 || !Number.isInteger(d))) {
    throw new ShapeError(
      `reshape: ${x.describe()} (${x.size} elements) cannot be viewed as ${fmtShape(shape)}`,
    );
  }
  if (sameShape(target, x.shape)) return x;
  const out = new Tensor(x.data, target);
  return record(out, 'reshape', [x], (dy) => [reshape(dy, x.shape)]);
}

/** Inserts a dimension of size 1 at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes dimensions of size 1 (`axis` given: only that one, which must be 1). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) {
    throw new ShapeError(`squeeze: axis ${axis} of ${x.describe()} has size ${x.shape[a]}, not 1`);
  }
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

/** Copies `x` with its axes reordered: output axis `i` is input axis `order[i]`. */
export function permute(x: Tensor, order: readonly number[]): Tensor {
  const axes = order.map((a) => normAxis('permute', a, x.rank));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new ShapeError(
      `permute: [${order}] is not a permutation of the ${x.rank} axes of ${x.describe()}`,
    );
  }
  if (axes.every((a, i) => a === i)) return x;
  const shape = axes.map((a) => x.shape[a]);
  const own = contiguousStrides(x.shape);
  const out = Tensor.zeros(shape, x.dtype);
  kernels().copy(
    { data: x.data, offset: 0, strides: Int32Array.from(axes.map((a) => own[a])) },
    { data: out.data, offset: 0, strides: Int32Array.from(contiguousStrides(shape)) },
    Int32Array.from(shape),
  );
  const inverse = axes.map((_, i) => axes.indexOf(i));
  return record(out, 'permute', [x], (dy) => [permute(dy, inverse)]);
}

/** Swaps two axes (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const order = x.shape.map((_, i) => i);
  const i = normAxis('transpose', a, x.rank);
  const j = normAxis('transpose', b, x.rank);
  [order[i], order[j]] = [order[j], order[i]];
  return permute(x, order);
}

/** Repeats size-1 dimensions (and adds leading ones) to reach `shape`, as broadcasting would. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) {
    throw new ShapeError(`expand: ${x.describe()} cannot be expanded to ${fmtShape(shape)}`);
  }
  if (sameShape(x.shape, shape)) return x;
  const out = Tensor.zeros(shape, x.dtype);
  kernels().copy(
    { data: x.data, offset: 0, strides: broadcastStrides(x.shape, shape) },
    { data: out.data, offset: 0, strides: Int32Array.from(contiguousStrides(shape)) },
    Int32Array.from(shape),
  );
  return record(out, 'expand', [x], (dy) => [sumToShape(dy, x.shape)]);
}

/** Checks a `[start, end)` range along `axis`, allowing negative ends as Python does. */
function range(op: string, x: Tensor, axis: number, start: number, end: number): [number, number] {
  const n = x.shape[axis];
  const s = start < 0 ? start + n : start;
  const e = end < 0 ? end + n : Math.min(end, n);
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || s > e || e > n) {
    throw new ShapeError(
      `${op}: range [${start}, ${end}) is outside axis ${axis} (size ${n}) of ${x.describe()}`,
    );
  }
  return [s, e];
}

/**
 * Writes `src` into the block of the dense `dst` (shape `dstShape`) starting at `start` on `axis`.
 */
function copyBlock(src: Tensor, dst: Tensor, axis: number, start: number): void {
  const dstStrides = contiguousStrides(dst.shape);
  kernels().copy(
    { data: src.data, offset: 0, strides: Int32Array.from(contiguousStrides(src.shape)) },
    { data: dst.data, offset: start * dstStrides[axis], strides: Int32Array.from(dstStrides) },
    Int32Array.from(src.shape),
  );
}

/** Elements `[start, end)` along `axis`. */
export function slice(
  x: Tensor,
  axis: number,
  start: number,
  end = Number.POSITIVE_INFINITY,
): Tensor {
  const a = normAxis('slice', axis, x.rank);
  const [s, e] = range('slice', x, a, start, end === Number.POSITIVE_INFINITY ? x.shape[a] : end);
  if (s === 0 && e === x.shape[a]) return x;
  const shape = [...x.shape];
  shape[a] = e - s;
  const own = contiguousStrides(x.shape);
  const out = Tensor.zeros(shape, x.dtype);
  kernels().copy(
    { data: x.data, offset: s * own[a], strides: Int32Array.from(own) },
    { data: out.data, offset: 0, strides: Int32Array.from(contiguousStrides(shape)) },
    Int32Array.from(shape),
  );
  return record(out, 'slice', [x], (dy) => {
    const dx = Tensor.zeros(x.shape, x.dtype);
    copyBlock(dy, dx, a, s);
    return [dx];
  });
}

/** Joins tensors along an existing `axis`; all other dimensions must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = xs[0];
  const a = normAxis('concat', axis, first.rank);
  for (const [i, t] of xs.entries()) {
    const ok =
      t.rank === first.rank &&
      t.dtype === first.dtype &&
      t.shape.every((d, j) => j === a || d === first.shape[j]);
    if (!ok) {
      throw new ShapeError(
        `concat: tensor ${i} is ${t.describe()}, tensor 0 is ${first.describe()}; ` +
          `all must have the same dtype and match on every axis but ${a}`,
      );
    }
  }
  const shape = [...first.shape];
  shape[a] = xs.reduce((n, t) => n + t.shape[a], 0);
  const out = Tensor.zeros(shape, first.dtype);
  let start = 0;
  const starts: number[] = [];
  for (const t of xs) {
    starts.push(start);
    copyBlock(t, out, a, start);
    start += t.shape[a];
  }
  return record(out, 'concat', xs, (dy) =>
    xs.map((t, i) => (t.requiresGrad ? slice(dy, a, starts[i], starts[i] + t.shape[a]) : null)),
  );
}

/** Joins same-shaped tensors along a new `axis`. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('stack: needs at least one tensor');
  const a = normAxis('stack', axis, xs[0].rank + 1);
  for (const [i, t] of xs.entries()) {
    if (!sameShape(t.shape, xs[0].shape)) {
      throw new ShapeError(
        `stack: tensor ${i} is ${t.describe()}, tensor 0 is ${xs[0].describe()}`,
      );
    }
  }
  return concat(
    xs.map((t) => unsqueeze(t, a)),
    a,
  );
}

/** Cuts `x` along `axis` into pieces of the given sizes (or equal pieces of `sizes` each). */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis('split', axis, x.rank);
  const n = x.shape[a];
  const list =
    typeof sizes === 'number'
      ? Array.from({ length: Math.ceil(n / sizes) }, (_, i) => Math.min(sizes, n - i * sizes))
      : [...sizes];
  if (list.reduce((s, d) => s + d, 0) !== n) {
    throw new ShapeError(`split: sizes [${list}] do not add up to axis ${a} of ${x.describe()}`);
  }
  let start = 0;
  return list.map((d) => {
    const piece = slice(x, a, start, start + d);
    start += d;
    return piece;
  });
}

/** Flattens dimensions `start..end` (inclusive) into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normAxis('flatten', start, x.rank);
  const e = normAxis('flatten', end, x.rank);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export type { Shape };
