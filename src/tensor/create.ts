/** Creating tensors from values, and changing dtype. */
import { kernels } from '../backends/index.js';
import type { AnyArray } from '../backends/kernels.js';
import { record } from './autograd.js';
import { allocate, type DType, isFloat } from './dtype.js';
import { DTypeError, ShapeError } from './errors.js';
import { numel, type Shape } from './shape.js';
import { Tensor, type TensorOptions } from './tensor.js';

export interface CreateOptions extends TensorOptions {
  dtype?: DType;
}

type Nested = number | boolean | readonly Nested[];

function inferShape(value: Nested): number[] {
  const shape: number[] = [];
  let v: Nested = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as Nested;
    if (v === undefined) break;
  }
  return shape;
}

function flatten(value: Nested, shape: number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (Array.isArray(value)) throw new ShapeError('tensor: ragged nested array');
    out.push(Number(value));
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[dim]) {
    throw new ShapeError(
      `tensor: ragged nested array (dimension ${dim} should have length ${shape[dim]})`,
    );
  }
  for (const v of value) flatten(v, shape, dim + 1, out);
}

/**
 * A tensor from nested arrays, a typed array or a number.
 * @example tensor([[1, 2], [3, 4]], { requiresGrad: true }) // float32 [2, 2]
 */
export function tensor(
  value: Nested | AnyArray,
  options: CreateOptions & { shape?: Shape } = {},
): Tensor {
  const dtype = options.dtype ?? (value instanceof Int32Array ? 'int32' : 'float32');
  let shape: Shape;
  let flat: ArrayLike<number>;
  if (ArrayBuffer.isView(value)) {
    flat = value;
    shape = options.shape ?? [value.length];
  } else {
    const inferred = inferShape(value as Nested);
    const values: number[] = [];
    flatten(value as Nested, inferred, 0, values);
    flat = values;
    shape = options.shape ?? inferred;
  }
  if (numel(shape) !== flat.length) {
    throw new ShapeError(
      `tensor: shape [${shape}] needs ${numel(shape)} values, got ${flat.length}`,
    );
  }
  const data = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = flat[i];
  return new Tensor(data, shape, options);
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  const data = allocate(options.dtype ?? 'float32', numel(shape));
  if (value !== 0) kernels().fill(data, value);
  return new Tensor(data, shape, options);
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** A zero-dimensional tensor holding `value`. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return full([], value, { dtype });
}

/** `[start, start + step, ...)` below `end`. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  const data = allocate(options.dtype ?? 'float32', n);
  for (let i = 0; i < n; i++) data[i] = lo + i * step;
  return new Tensor(data, [n], options);
}

/** Converts to `dtype` (float to int32 truncates toward zero); differentiable between floats. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const data = allocate(dtype, x.size);
  const src = x.data;
  if (dtype === 'int32') {
    for (let i = 0; i < src.length; i++) data[i] = Math.trunc(src[i]);
  } else {
    data.set(src);
  }
  const out = new Tensor(data, x.shape);
  if (!isFloat(x.dtype) || !isFloat(dtype)) return out;
  return record(out, 'cast', [x], (dy) => [cast(dy, x.dtype)]);
}

/** Throws unless `x` is int32; `what` names the op and operand. */
export function assertInt(what: string, x: Tensor): void {
  if (x.dtype !== 'int32') {
    throw new DTypeError(`${what}: expected an int32 tensor of indices, got ${x.dtype}`);
  }
}
