/**
 * Adam and AdamW (Kingma and Ba, 2015; Loshchilov and Hutter, 2019), with the semantics of
 * `torch.optim.Adam` and `torch.optim.AdamW`. At step t (from 1), per element:
 *
 *   Adam:  g = grad + weightDecay * p          (L2 penalty through the gradient)
 *   AdamW: p = p - lr * weightDecay * p        (decoupled decay), g = grad
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 *
 * LIMITATION: no `amsgrad`, `maximize` or `foreach` variants yet.
 */
import { kernels } from '../backends/index.js';
import type { FloatArray } from '../backends/kernels.js';
import { countFlops } from '../tensor/flops.js';
import { untracked } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import { definedOnly, Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer.js';

export interface AdamHypers {
  /** Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment averages; default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the denominator; default 1e-8. */
  eps: number;
  /** Adam: L2 penalty added to the gradient, default 0. AdamW: decoupled decay, default 0.01. */
  weightDecay: number;
}

export type AdamOptions = Partial<AdamHypers>;

interface AdamState extends Record<string, Tensor | number> {
  /** Number of steps taken, for bias correction. */
  step: number;
  /** First moment average `m`. */
  expAvg: Tensor;
  /** Second moment average `v`. */
  expAvgSq: Tensor;
}

/** The shared update of Adam and AdamW; they differ in where weight decay enters. */
abstract class AdamFamily extends Optimizer<AdamHypers, AdamState> {
  protected constructor(
    kind: string,
    private readonly decoupled: boolean,
    params: readonly Tensor[] | readonly ParamGroupInput<AdamHypers>[],
    defaults: AdamHypers,
  ) {
    super(kind, params, defaults);
  }

  protected checkGroup(group: ParamGroup<AdamHypers>, g: number): void {
    this.checkNonNegative(group.lr, 'lr', g);
    this.checkNonNegative(group.eps, 'eps', g);
    this.checkNonNegative(group.weightDecay, 'weightDecay', g);
    const b = group.betas;
    if (!Array.isArray(b) || b.length !== 2 || !b.every((x) => x >= 0 && x < 1)) {
      throw new RangeError(
        `${this.kind}: group ${g} field 'betas' must be two numbers in [0, 1), got ` +
          `${JSON.stringify(b)}`,
      );
    }
  }

  protected initState(param: Tensor): AdamState {
    return {
      step: 0,
      expAvg: Tensor.zeros(param.shape, param.dtype),
      expAvgSq: Tensor.zeros(param.shape, param.dtype),
    };
  }

  protected update(param: Tensor, grad: FloatArray, group: ParamGroup<AdamHypers>): void {
    let state = this.state.get(param);
    if (state === undefined) {
      state = untracked(() => this.initState(param));
      this.state.set(param, state);
    }
    state.step += 1;
    const { lr, betas, eps, weightDecay } = group;
    kernels().adamStep({
      param: param.data as FloatArray,
      grad,
      m: state.expAvg.data as FloatArray,
      v: state.expAvgSq.data as FloatArray,
      lr,
      beta1: betas[0],
      beta2: betas[1],
      eps,
      weightDecay,
      decoupled: this.decoupled,
      step: state.step,
    });
    // Per element: m is 3 (two multiplies, an add), v is 4 (three multiplies, an add), the
    // denominator 3 (bias correction, sqrt, + eps), the update 3 (bias correction and lr, divide,
    // subtract): 13. Weight decay adds 2 (multiply, add) in either form.
    countFlops((13 + (weightDecay !== 0 ? 2 : 0)) * grad.length);
  }
}

/**
 * Adam with L2 weight decay through the gradient, as `torch.optim.Adam`.
 * @example const opt = new Adam(model.parameters(), { lr: 3e-4 });
 */
export class Adam extends AdamFamily {
  constructor(
    params: readonly Tensor[] | readonly ParamGroupInput<AdamHypers>[],
    options: AdamOptions = {},
  ) {
    const defaults: AdamHypers = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 };
    super('Adam', false, params, { ...defaults, ...definedOnly(options) });
  }
}

/**
 * AdamW: Adam with decoupled weight decay (default 0.01), as `torch.optim.AdamW`.
 * @example
 * const opt = new AdamW(model.parameters(), { lr: 6e-4, betas: [0.9, 0.95], weightDecay: 0.1 });
 */
export class AdamW extends AdamFamily {
  constructor(
    params: readonly Tensor[] | readonly ParamGroupInput<AdamHypers>[],
    options: AdamOptions = {},
  ) {
    const defaults: AdamHypers = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };
    super('AdamW', true, params, { ...defaults, ...definedOnly(options) });
  }
}
