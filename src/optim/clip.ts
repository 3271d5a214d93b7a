/**
 * Gradient clipping by the global norm, as `torch.nn.utils.clip_grad_norm_`: all gradients are
 * treated as one vector, and scaled together when its norm exceeds the limit.
 */
import { kernels } from '../backends/index.js';
import type { FloatArray } from '../backends/kernels.js';
import { NotSupportedError } from '../tensor/errors.js';
import { countFlops, inPhase } from '../tensor/flops.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ClipOptions {
  /** Throw when the total norm is NaN or infinite, instead of scaling by it; default false. */
  errorIfNonfinite?: boolean;
}

/** The largest absolute value of `x` (0 when empty), via the kernel table. */
function maxAbs(x: FloatArray): number {
  if (x.length === 0) return 0;
  const k = kernels();
  const abs = x instanceof Float32Array ? new Float32Array(x.length) : new Float64Array(x.length);
  k.unary('abs', x, abs);
  const out = x instanceof Float32Array ? new Float32Array(1) : new Float64Array(1);
  k.reduce('max', abs, 1, x.length, 1, out);
  return out[0];
}

/**
 * Scales the gradients of `params` in place so that their global norm is at most `maxNorm`, and
 * returns the norm before clipping. When `total > maxNorm` each gradient is multiplied by
 * `maxNorm / (total + 1e-6)`. Parameters without a gradient are skipped; a parameter listed twice
 * counts once. A NaN total leaves the gradients unchanged (`errorIfNonfinite` makes it an error).
 * FLOPs count under the 'optimizer' phase: 2 per element for the norm (square, add) and 1 per
 * element for the scaling.
 *
 * @param params parameters whose `.grad` is clipped.
 * @param maxNorm the largest norm allowed, > 0.
 * @param normType 2 (Euclidean, default) or Infinity (largest absolute value).
 */
export function clipGradNorm(
  params: Iterable<Tensor>,
  maxNorm: number,
  normType = 2,
  options: ClipOptions = {},
): number {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`clipGradNorm: maxNorm must be a finite number > 0, got ${maxNorm}`);
  }
  if (normType !== 2 && normType !== Number.POSITIVE_INFINITY) {
    // LIMITATION: only the norms used in practice; a general p-norm needs a power-sum kernel.
    throw new NotSupportedError(
      `clipGradNorm: normType ${normType} is not supported yet (supported: 2, Infinity)`,
    );
  }
  const grads: FloatArray[] = [];
  for (const p of new Set(params)) {
    if (p.grad !== null) grads.push(p.grad.data as FloatArray);
  }
  return inPhase('optimizer', () => {
    let total: number;
    if (normType === 2) {
      let sumSq = 0;
      for (const g of grads) {
        sumSq += kernels().sumSquares(g);
        countFlops(2 * g.length);
      }
      total = Math.sqrt(sumSq);
    } else {
      total = 0;
      for (const g of grads) {
        // NaN must win over any number, as it does in the 2-norm.
        const m = maxAbs(g);
        total = Number.isNaN(m) || Number.isNaN(total) ? Number.NaN : Math.max(total, m);
        countFlops(g.length);
      }
    }
    if (!Number.isFinite(total) && options.errorIfNonfinite) {
      throw new RangeError(
        `clipGradNorm: the total norm of the gradients is ${total}; a gradient holds NaN or ` +
          'infinite values',
      );
    }
    if (total > maxNorm) {
      const scale = maxNorm / (total + 1e-6);
      for (const g of grads) {
        kernels().affine(g, scale, 0, g);
        countFlops(g.length);
      }
    }
    return total;
  });
}
