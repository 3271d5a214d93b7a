/** Element types and the typed arrays that hold them. */
import type { AnyArray, FloatArray } from '../backends/kernels.js';
import { DTypeError } from './errors.js';

/** `float64` is for analysis and gradient checks; models train in `float32`. */
export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';

export function allocate(dtype: DType, n: number): AnyArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
  }
}

export function allocateFloat(dtype: FloatDType, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
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
