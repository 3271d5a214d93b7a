/**
 * The `js` backend: plain TypeScript kernels, slow and obviously correct. It is the reference the
 * native kernels are tested against, and the fallback when the native addon is not built.
 */
import type { Kernels } from '../kernels.js';
import { attention, attentionBackward } from './attention.js';
import { affine, binary, compare, copy, fill, unary, unaryBackward, where } from './elementwise.js';
import { matmul } from './matmul.js';
import {
  crossEntropy,
  crossEntropyBackward,
  layerNorm,
  layerNormBackward,
  lstmCell,
  lstmCellBackward,
  rmsNorm,
  rmsNormBackward,
  rope,
  softmax,
  softmaxBackward,
} from './nn.js';
import { adamStep, sgdStep } from './optim.js';
import {
  argReduce,
  gather,
  indexAdd,
  indexSelect,
  reduce,
  scatterAdd,
  sumSquares,
} from './reduce.js';

export const jsKernels: Kernels = {
  name: 'js',
  blas: 'reference',
  threads: () => 1,
  setThreads: () => {},
  fill,
  copy,
  unary,
  unaryBackward,
  binary,
  affine,
  compare,
  where,
  reduce,
  argReduce,
  sumSquares,
  indexSelect,
  indexAdd,
  gather,
  scatterAdd,
  matmul,
  softmax,
  softmaxBackward,
  crossEntropy,
  crossEntropyBackward,
  layerNorm,
  layerNormBackward,
  rmsNorm,
  rmsNormBackward,
  attention,
  attentionBackward,
  lstmCell,
  lstmCellBackward,
  rope,
  adamStep,
  sgdStep,
};
