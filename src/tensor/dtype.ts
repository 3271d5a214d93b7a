/** Element types and the typed arrays that hold them. */
import type { AnyArray, FloatArray } from '../backends/kernels.js';
import { DTypeError } from './errors.js';
import { noteAllocation, poisonArray, takePooled } from './storage.js';

/** `float64` is for analysis and gradient checks; models train in `float32`. */
export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';

/**
 * A zero-filled array of `n` elements: reused from the pool of a `tensorScope` that ended when
 * it holds one of that length, otherwise new.
 */
export function allocate(dtype: DType, n: number): AnyArray {
  return take(dtype, n, true);
}

/**
 * An array of `n` elements whose contents are unspecified (stale values when reused from the
 * pool): for outputs that a kernel overwrites completely, which then skip the zero-filling.
 */
export function allocateUninitialized(dtype: DType, n: number): AnyArray {
  return take(dtype, n, false);
}

function take(dtype: DType, n: number, zero: boolean): AnyArray {
  const reused = takePooled(dtype, n, zero);
  if (reused !== undefined) {
    noteAllocation(reused);
    return reused;
  }
  let fresh: AnyArray;
  try {
    switch (dtype) {
      case 'float32':
        fresh = new Float32Array(n);
        break;
      case 'float64':
        fresh = new Float64Array(n);
        break;
      case 'int32':
        fresh = new Int32Array(n);
        break;
    }
  } catch (e) {
    const gib = (n * (dtype === 'float64' ? 8 : 4)) / 2 ** 30;
    throw new RangeError(
      `cannot allocate a ${dtype} tensor of ${n} elements (${gib.toFixed(1)} GiB): ` +
        `${(e as Error).message}; a smaller batch, width or context would fit`,
    );
  }
  if (!zero) poisonArray(fresh);
  noteAllocation(fresh);
  return fresh;
}

export function allocateFloat(dtype: FloatDType, n: number): FloatArray {
  return allocate(dtype, n) as FloatArray;
}

/** `allocateUninitialized` for float types. */
export function allocateFloatUninitialized(dtype: FloatDType, n: number): FloatArray {
  return allocateUninitialized(dtype, n) as FloatArray;
}

export function dtypeOf(data: AnyArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype !== 'int32';
}

/** Throws unless `dtype` is a float type; `what` names the op and operand. */
export function assertFloat(what: string, dtype: DType): asserts dtype is FloatDType {
  if (!isFloat(dtype)) {
    throw new DTypeError(`${what}: expected a float32 or float64 tensor, got ${dtype}`);
  }
}
