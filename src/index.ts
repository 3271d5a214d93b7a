/**
 * sextant's public API: tensors with autograd, the op set, backends, FLOP counting.
 * Importing this module attaches the ops to `Tensor` as methods.
 */
import './tensor/methods.js';

export { availableBackends, kernels, setBackend } from './backends/index.js';
export type { Kernels } from './backends/kernels.js';
export * from './io/index.js';
export { Module } from './nn/module.js';
export * from './optim/index.js';
export { type BackwardOptions, backward, record } from './tensor/autograd.js';
export { arange, cast, full, ones, scalar, tensor, zeros } from './tensor/create.js';
export type { DType, FloatDType } from './tensor/dtype.js';
export { DTypeError, IndexError, NotSupportedError, ShapeError } from './tensor/errors.js';
export { type FlopCount, readFlops, resetFlops } from './tensor/flops.js';
export * from './tensor/ops/attention.js';
export * from './tensor/ops/elementwise.js';
export * from './tensor/ops/indexing.js';
export * from './tensor/ops/lstm.js';
export * from './tensor/ops/matmul.js';
export * from './tensor/ops/nn.js';
export * from './tensor/ops/reduce.js';
export * from './tensor/ops/shape.js';
export { bernoulliMask, Generator, rand, randint, randn } from './tensor/random.js';
export { greedy, type SampleOptions, sampleNext } from './tensor/sampling.js';
export {
  clearPool,
  keep,
  pooledMemoryBytes,
  tensorScope,
  untracked,
} from './tensor/storage.js';
export { type GradHook, isGradEnabled, noGrad, Tensor } from './tensor/tensor.js';
