/** Reference optimiser updates, written as in the PyTorch documentation's pseudocode. */
import type { AdamArgs, SgdArgs } from '../kernels.js';

export function adamStep(args: AdamArgs): void {
  const { param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step } = args;
  const correction1 = 1 - beta1 ** step;
  const correction2 = 1 - beta2 ** step;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i];
    if (decoupled) param[i] -= lr * weightDecay * param[i];
    else g += weightDecay * param[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const mHat = m[i] / correction1;
    const vHat = v[i] / correction2;
    param[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

export function sgdStep(args: SgdArgs): void {
  const { param, grad, buf, lr, momentum, dampening, nesterov, weightDecay, firstStep } = args;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i] + weightDecay * param[i];
    if (momentum !== 0) {
      buf[i] = firstStep ? g : momentum * buf[i] + (1 - dampening) * g;
      g = nesterov ? g + momentum * buf[i] : buf[i];
    }
    param[i] -= lr * g;
  }
}
