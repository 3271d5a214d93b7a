/**
 * Choosing the next token from a language model's logits: greedy decoding and sampling with
 * temperature, top-k and top-p (nucleus) truncation. These are host-side helpers without
 * gradients; they read the logits directly and compute in float64 here rather than through the
 * kernel table, so that the same seed picks the same tokens on every backend.
 *
 * Legend: `B` batch (rows), `V` vocabulary size.
 */
import type { FloatArray } from '../backends/kernels.js';
import { isFloat } from './dtype.js';
import { DTypeError, fmtShape, ShapeError } from './errors.js';
import type { Generator } from './random.js';
import type { Tensor } from './tensor.js';

export interface SampleOptions {
  /**
   * Divides the logits before the softmax; default 1. 0 means greedy (the largest logit), higher
   * values flatten the distribution.
   */
  temperature?: number;
  /** Keep only the `topK` largest logits (ties broken towards the lower token id). */
  topK?: number;
  /**
   * Keep the smallest set of most probable tokens whose probability mass (after temperature and
   * top-k) is at least `topP`; always at least one token. In (0, 1]; default 1 (no cut).
   */
  topP?: number;
}

/** Checks `logits` is a float `[B, V]` tensor with V >= 1 and returns its sizes. */
function rowsOf(op: string, logits: Tensor): [number, number, FloatArray] {
  if (!isFloat(logits.dtype)) {
    throw new DTypeError(`${op}: logits must be float32 or float64, got ${logits.dtype}`);
  }
  if (logits.rank !== 2 || logits.shape[1] < 1) {
    throw new ShapeError(
      `${op}: logits must have shape [B, V] with V >= 1, got ${fmtShape(logits.shape)} ` +
        '(for [B, T, V] take the last position first)',
    );
  }
  return [logits.shape[0], logits.shape[1], logits.data as FloatArray];
}

/** The first index of the largest value of `row`; NaN is an error naming the row. */
function argmax(op: string, row: FloatArray, b: number): number {
  let best = 0;
  for (let i = 0; i < row.length; i++) {
    if (Number.isNaN(row[i])) throw new RangeError(`${op}: logits row ${b} contains NaN at ${i}`);
    if (row[i] > row[best]) best = i;
  }
  return best;
}

/**
 * The token with the largest logit in each row (the first one on ties).
 * @param logits float `[B, V]`.
 * @returns `B` token ids.
 */
export function greedy(logits: Tensor): Int32Array {
  const [B, V, data] = rowsOf('greedy', logits);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) out[b] = argmax('greedy', data.subarray(b * V, (b + 1) * V), b);
  return out;
}

/**
 * Samples one token per row from `softmax(logits / temperature)`, truncated by top-k, then top-p.
 * A sampled row consumes exactly one `rng.uniform53()`; greedy rows (temperature 0, topK 1) consume
 * nothing.
 *
 * @param logits float `[B, V]`.
 * @param rng the random stream.
 * @returns `B` token ids.
 * @example
 * // next: Int32Array [B]
 * const next = sampleNext(logits, rng, { temperature: 0.8, topK: 40, topP: 0.95 });
 */
export function sampleNext(
  logits: Tensor,
  rng: Generator,
  options: SampleOptions = {},
): Int32Array {
  const op = 'sampleNext';
  const [B, V, data] = rowsOf(op, logits);
  const { temperature = 1, topK, topP = 1 } = options;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`${op}: temperature must be a finite number >= 0, got ${temperature}`);
  }
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
    throw new RangeError(`${op}: topK must be an integer >= 1, got ${topK}`);
  }
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`${op}: topP must be in (0, 1], got ${topP}`);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const row = data.subarray(b * V, (b + 1) * V);
    if (temperature === 0 || topK === 1) {
      out[b] = argmax(op, row, b);
    } else {
      out[b] = sampleRow(row, b, rng, temperature, Math.min(topK ?? V, V), topP);
    }
  }
  return out;
}

/** One draw from a row; `k` of the tokens are kept by top-k (`k == V`: all). */
function sampleRow(
  row: FloatArray,
  b: number,
  rng: Generator,
  temperature: number,
  k: number,
  topP: number,
): number {
  const V = row.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) {
    if (Number.isNaN(row[i])) {
      throw new RangeError(`sampleNext: logits row ${b} contains NaN at ${i}`);
    }
    if (row[i] > max) max = row[i];
  }
  if (max === Number.NEGATIVE_INFINITY) {
    throw new RangeError(`sampleNext: logits row ${b} has no finite logit (all are -Infinity)`);
  }
  // Unnormalised probabilities exp((x - max) / T); with a +Infinity logit those tokens share all.
  const weight = (x: number): number =>
    max === Number.POSITIVE_INFINITY ? (x === max ? 1 : 0) : Math.exp((x - max) / temperature);
  // Candidates in the order they are drawn from: token order when nothing is cut, else by logit.
  let candidates = Array.from({ length: V }, (_, i) => i);
  if (k < V || topP < 1) {
    // Infinite logits compare as NaN (Inf - Inf), which falls through to the token id.
    candidates.sort((i, j) => row[j] - row[i] || i - j);
    candidates = candidates.slice(0, k);
  }
  const weights = Float64Array.from(candidates, (i) => weight(row[i]));
  let kept = weights.length;
  if (topP < 1) {
    let total = 0;
    for (const w of weights) total += w;
    let mass = 0;
    kept = 0;
    while (kept < weights.length && (kept === 0 || mass < topP * total)) mass += weights[kept++];
  }
  let total = 0;
  for (let i = 0; i < kept; i++) total += weights[i];
  const u = rng.uniform53() * total;
  // The first candidate whose cumulative weight passes u; zero-weight tokens can never be chosen.
  let cumulative = 0;
  for (let i = 0; i < kept; i++) {
    cumulative += weights[i];
    if (cumulative > u) return candidates[i];
  }
  // Not reached (u < total), but stay on a candidate with weight should rounding ever disagree.
  for (let i = kept - 1; i >= 0; i--) if (weights[i] > 0) return candidates[i];
  return candidates[0];
}
