/**
 * Fused network ops: softmax, log-softmax, cross-entropy, layer norm, RMS norm, dropout.
 * Each runs as one kernel forward and one backward; the FLOPs counted are those of the unfused
 * steps, stated at each op.
 */
import { kernels } from '../../backends/index.js';
import type { FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { assertInt } from '../create.js';
import { allocateFloat, assertFloat, type FloatDType } from '../dtype.js';
import { DTypeError, fmtShape, IndexError, ShapeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { normAxis, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { mul } from './elementwise.js';
import { transpose } from './shape.js';

function softmaxOp(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  assertFloat(op, x.dtype);
  const a = normAxis(op, axis, x.rank);
  if (a !== x.rank - 1) return transpose(softmaxOp(transpose(x, a, -1), -1, log), a, -1);
  const cols = x.shape[a];
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = Tensor.empty(x.shape, x.dtype);
  kernels().softmax(x.data as FloatArray, rows, cols, log, out.data as FloatArray);
  // max, subtract, exp, sum, divide (or log and subtract).
  countFlops(5 * x.size);
  return record(out, op, [x], (dy) => {
    const dx = Tensor.empty(x.shape, x.dtype);
    const k = kernels();
    k.softmaxBackward(
      out.data as FloatArray,
      dy.data as FloatArray,
      rows,
      cols,
      log,
      dx.data as FloatArray,
    );
    countFlops(4 * x.size);
    return [dx];
  });
}

/** Softmax along `axis` (default: last). */
export const softmax = (x: Tensor, axis = -1): Tensor => softmaxOp(x, axis, false);
/** Log-softmax along `axis` (default: last), computed stably in one pass. */
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxOp(x, axis, true);

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (PyTorch's default: -100). */
  ignoreIndex?: number;
  /** Mass moved from the target to a uniform distribution over classes, in [0, 1]. */
  labelSmoothing?: number;
  /** 'mean' over the rows not ignored (default), 'sum', or 'none' for per-row losses. */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of `logits` `[..., V]` against int32 class `targets` `[...]`, fused: one kernel
 * computes log-softmax and the loss; the backward writes `softmax - target` directly.
 * Counts 5 FLOPs per logit forward, 4 backward.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  assertFloat('crossEntropy (logits)', logits.dtype);
  assertInt('crossEntropy (targets)', targets);
  const V = logits.shape[logits.rank - 1];
  if (logits.rank < 1 || !sameShape(logits.shape.slice(0, -1), targets.shape)) {
    throw new ShapeError(
      `crossEntropy: logits ${fmtShape(logits.shape)} ` +
        `need targets ${fmtShape(logits.shape.slice(0, -1))}, ` +
        `got ${fmtShape(targets.shape)}`,
    );
  }
  const ignoreIndex = options.ignoreIndex ?? -100;
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) {
    throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
  }
  const reduction = options.reduction ?? 'mean';
  const rows = targets.size;
  const dtype = logits.dtype as FloatDType;
  const losses = allocateFloat(dtype, rows);
  const lse = allocateFloat(dtype, rows);
  const t = targets.data as Int32Array;
  const k = kernels();
  const bad = k.crossEntropy(
    logits.data as FloatArray,
    t,
    rows,
    V,
    ignoreIndex,
    smoothing,
    losses,
    lse,
  );
  if (bad >= 0) {
    throw new IndexError(
      `crossEntropy: target ${t[bad]} at row ${bad} is outside the ${V} classes [0, ${V - 1}] ` +
        `and is not the ignore index ${ignoreIndex}`,
    );
  }
  countFlops(5 * logits.size);
  let counted = 0;
  for (let r = 0; r < rows; r++) if (t[r] !== ignoreIndex) counted++;
  let out: Tensor;
  if (reduction === 'none') {
    out = new Tensor(losses, targets.shape);
  } else {
    let total = 0;
    for (let r = 0; r < rows; r++) total += losses[r];
    // PyTorch's mean over zero counted rows is NaN; so is ours.
    const value = reduction === 'mean' ? total / counted : total;
    out = new Tensor(allocateFloat(dtype, 1), []);
    out.data[0] = value;
  }
  return record(out, 'crossEntropy', [logits], (dy) => {
    const rowScale = allocateFloat(dtype, rows);
    if (reduction === 'none') rowScale.set(dy.data);
    else rowScale.fill(reduction === 'mean' ? dy.data[0] / counted : dy.data[0]);
    const dlogits = Tensor.empty(logits.shape, dtype);
    k.crossEntropyBackward(
      logits.data as FloatArray,
      t,
      lse,
      rows,
      V,
      ignoreIndex,
      smoothing,
      rowScale,
      dlogits.data as FloatArray,
    );
    countFlops(4 * logits.size);
    return [dlogits];
  });
}

function checkNormParams(op: string, x: Tensor, params: (Tensor | null | undefined)[]): void {
  assertFloat(op, x.dtype);
  const C = x.shape[x.rank - 1];
  for (const p of params) {
    if (!p) continue;
    if (p.dtype !== x.dtype) {
      throw new DTypeError(
        `${op}: parameter ${p.describe()} must match the input's dtype ${x.dtype}`,
      );
    }
    if (p.rank !== 1 || p.shape[0] !== C) {
      throw new ShapeError(
        `${op}: parameter ${p.describe()} must be [${C}] for input ${x.describe()}`,
      );
    }
  }
}

/**
 * Layer norm over the last axis: `(x - mean) / sqrt(var + eps) * weight + bias` (biased variance,
 * as PyTorch). Counts 7 FLOPs per element forward, 10 backward.
 */
export function layerNorm(
  x: Tensor,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  checkNormParams('layerNorm', x, [weight, bias]);
  const C = x.shape[x.rank - 1];
  const rows = C === 0 ? 0 : x.size / C;
  const dtype = x.dtype as FloatDType;
  const out = Tensor.empty(x.shape, dtype);
  const mean = allocateFloat(dtype, rows);
  const rstd = allocateFloat(dtype, rows);
  const g = (weight?.data ?? null) as FloatArray | null;
  const b = (bias?.data ?? null) as FloatArray | null;
  kernels().layerNorm(x.data as FloatArray, g, b, rows, C, eps, out.data as FloatArray, mean, rstd);
  countFlops(7 * x.size);
  const inputs = [x, weight, bias].filter((t): t is Tensor => !!t);
  return record(out, 'layerNorm', inputs, (dy) => {
    const dx = Tensor.empty(x.shape, dtype);
    const dw = weight ? Tensor.zeros(weight.shape, dtype) : null;
    const db = bias ? Tensor.zeros(bias.shape, dtype) : null;
    kernels().layerNormBackward(
      x.data as FloatArray,
      g,
      mean,
      rstd,
      dy.data as FloatArray,
      rows,
      C,
      dx.data as FloatArray,
      (dw?.data ?? null) as FloatArray | null,
      (db?.data ?? null) as FloatArray | null,
    );
    countFlops(10 * x.size);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(dw);
    if (bias) grads.push(db);
    return grads;
  });
}

/**
 * RMS norm over the last axis: `x / sqrt(mean(x^2) + eps) * weight` (LLaMA's norm).
 * Counts 4 FLOPs per element forward, 7 backward.
 */
export function rmsNorm(x: Tensor, weight?: Tensor | null, eps = 1e-6): Tensor {
  checkNormParams('rmsNorm', x, [weight]);
  const C = x.shape[x.rank - 1];
  const rows = C === 0 ? 0 : x.size / C;
  const dtype = x.dtype as FloatDType;
  const out = Tensor.empty(x.shape, dtype);
  const rstd = allocateFloat(dtype, rows);
  const g = (weight?.data ?? null) as FloatArray | null;
  kernels().rmsNorm(x.data as FloatArray, g, rows, C, eps, out.data as FloatArray, rstd);
  countFlops(4 * x.size);
  const inputs = weight ? [x, weight] : [x];
  return record(out, 'rmsNorm', inputs, (dy) => {
    const dx = Tensor.empty(x.shape, dtype);
    const dw = weight ? Tensor.zeros(weight.shape, dtype) : null;
    kernels().rmsNormBackward(
      x.data as FloatArray,
      g,
      rstd,
      dy.data as FloatArray,
      rows,
      C,
      dx.data as FloatArray,
      (dw?.data ?? null) as FloatArray | null,
    );
    countFlops(7 * x.size);
    return weight ? [dx, dw] : [dx];
  });
}

/** Anything that draws uniform numbers in [0, 1): a seeded `Generator`. */
export interface UniformSource {
  uniform(): number;
}

/**
 * Inverted dropout: zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`.
 * The mask is drawn from `rng` in TypeScript, so both backends drop the same elements.
 */
export function dropout(x: Tensor, p: number, rng: UniformSource, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  assertFloat('dropout', x.dtype);
  const mask = Tensor.zeros(x.shape, x.dtype);
  const keep = 1 - p;
  for (let i = 0; i < mask.size; i++) mask.data[i] = rng.uniform() < keep ? 1 / keep : 0;
  return mul(x, mask);
}
