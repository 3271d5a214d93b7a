/** Optimisers and gradient clipping. */
export { Adam, type AdamHypers, type AdamOptions, AdamW } from './adam.js';
export { type ClipOptions, clipGradNorm } from './clip.js';
export {
  type GroupHypers,
  type HyperValue,
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
} from './optimizer.js';
export { SGD, type SgdHypers, type SgdOptions } from './sgd.js';
