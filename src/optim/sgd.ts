/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
 * with the semantics of `torch.optim.SGD`:
 *
 *   g = grad + weightDecay * p
 *   buf = g                                  (first step)
 *   buf = momentum * buf + (1 - dampening) * g   (later steps)
 *   g = nesterov ? g + momentum * buf : buf      (when momentum != 0)
 *   p = p - lr * g
 */
import { kernels } from '../backends/index.js';
import type { FloatArray } from '../backends/kernels.js';
import { countFlops } from '../tensor/flops.js';
import { untracked } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import { definedOnly, Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer.js';

export interface SgdHypers {
  lr: number;
  /** Default 0 (plain SGD, no momentum buffer). */
  momentum: number;
  /** Default 0. */
  dampening: number;
  /** Default false; needs momentum > 0 and dampening 0. */
  nesterov: boolean;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay: number;
}

export type SgdOptions = Partial<SgdHypers>;

interface SgdState extends Record<string, Tensor | number> {
  momentumBuffer: Tensor;
}

const SGD_DEFAULTS: SgdHypers = {
  lr: 1e-3,
  momentum: 0,
  dampening: 0,
  nesterov: false,
  weightDecay: 0,
};

/**
 * @example
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
 * loss.backward(); opt.step(); opt.zeroGrad();
 */
export class SGD extends Optimizer<SgdHypers, SgdState> {
  constructor(
    params: readonly Tensor[] | readonly ParamGroupInput<SgdHypers>[],
    options: SgdOptions = {},
  ) {
    super('SGD', params, { ...SGD_DEFAULTS, ...definedOnly(options) });
  }

  protected checkGroup(group: ParamGroup<SgdHypers>, g: number): void {
    this.checkNonNegative(group.lr, 'lr', g);
    this.checkNonNegative(group.momentum, 'momentum', g);
    this.checkNonNegative(group.dampening, 'dampening', g);
    this.checkNonNegative(group.weightDecay, 'weightDecay', g);
    if (typeof group.nesterov !== 'boolean') {
      throw new TypeError(
        `SGD: group ${g} field 'nesterov' must be a boolean, got ${group.nesterov}`,
      );
    }
    if (group.nesterov && (group.momentum <= 0 || group.dampening !== 0)) {
      throw new RangeError(
        `SGD: group ${g}: nesterov needs momentum > 0 and dampening 0, got momentum=` +
          `${group.momentum}, dampening=${group.dampening}`,
      );
    }
  }

  protected initState(param: Tensor): SgdState {
    return { momentumBuffer: Tensor.zeros(param.shape, param.dtype) };
  }

  protected update(param: Tensor, grad: FloatArray, group: ParamGroup<SgdHypers>): void {
    const { lr, momentum, dampening, nesterov, weightDecay } = group;
    let buf: FloatArray;
    let firstStep = false;
    if (momentum !== 0) {
      let state = this.state.get(param);
      if (state === undefined) {
        state = untracked(() => this.initState(param));
        this.state.set(param, state);
        firstStep = true;
      }
      buf = state.momentumBuffer.data as FloatArray;
    } else {
      // No momentum buffer is kept; the kernel does not read this one.
      buf = param.dtype === 'float32' ? new Float32Array(0) : new Float64Array(0);
    }
    kernels().sgdStep({
      param: param.data as FloatArray,
      grad,
      buf,
      lr,
      momentum,
      dampening,
      nesterov,
      weightDecay,
      firstStep,
    });
    // Per element: the update p -= lr * g is 2; weight decay g + wd * p adds 2; the momentum
    // buffer m * buf + (1 - d) * g adds 3 (0 on the first step, a copy); Nesterov's
    // g + m * buf adds 2.
    const perElement =
      2 +
      (weightDecay !== 0 ? 2 : 0) +
      (momentum !== 0 && !firstStep ? 3 : 0) +
      (momentum !== 0 && nesterov ? 2 : 0);
    countFlops(perElement * grad.length);
  }
}
