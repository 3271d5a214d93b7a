/**
 * Text generation from a causal language model: greedy or sampled (temperature, top-k, top-p),
 * with a KV cache, stop tokens, and a batch of prompts of different lengths.
 *
 * Prompts of different lengths are left-padded to the longest; the padding is hidden from every
 * query by a key mask, and each row's positions count from its own first real token, so each
 * row computes what it would alone (up to float rounding in batched matrix products).
 * Sampling draws from the `Generator` given, one uniform number per unfinished row per step,
 * rows in order, so a seed reproduces a generation, cached or not.
 *
 * Dimension legend: P prompts (batch), S tokens so far (padding included), V vocabulary.
 */

import type { KVCache } from '../nn/attention.js';
import type { Module } from '../nn/module.js';
import type { Generator } from '../tensor/random.js';
import { greedy, type SampleOptions, sampleNext } from '../tensor/sampling.js';
import { noGrad, Tensor } from '../tensor/tensor.js';
import type { LMForwardOptions } from './transformer.js';

/**
 * A model `generate` can drive: `TransformerLM` and the models built on it.
 * LIMITATION: the LSTM language model is not one (carry its state with `LSTMLM.step` instead).
 */
export interface CausalLM extends Module<[Tensor, LMForwardOptions?], Tensor> {
  newCache(): KVCache;
  /** The number of positions the model accepts, or null for no limit. */
  readonly maxPositions: number | null;
}

export interface GenerateOptions {
  /** Tokens to add to each prompt at most. */
  maxNewTokens: number;
  /** Sampling settings and the stream to draw from; absent means greedy decoding. */
  sample?: SampleOptions & { rng: Generator };
  /** A row stops after emitting one of these (the stop token is kept in its output). */
  stopTokens?: readonly number[];
  /** Reuse keys and values of earlier positions; default true. False recomputes everything. */
  useCache?: boolean;
  /** The id placed in padding and after a row stops (never attended to); default 0. */
  padToken?: number;
}

export interface GenerateResult {
  /** Per prompt, the new tokens (ending with the stop token when one stopped it). */
  tokens: number[][];
  /** Per prompt, the prompt followed by its new tokens. */
  sequences: number[][];
  /** Per prompt, 'stop' if a stop token ended it, else 'length'. */
  finishReasons: ('stop' | 'length')[];
}

function checkPrompts(prompts: readonly (readonly number[])[]): void {
  if (!Array.isArray(prompts) || prompts.length === 0) {
    throw new RangeError('generate: prompts must be a non-empty array of token-id arrays');
  }
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new RangeError(`generate: prompt ${b} is empty`);
    p.forEach((id: number, j: number) => {
      if (!Number.isInteger(id) || id < 0) {
        throw new RangeError(`generate: prompt ${b} has id ${id} at position ${j}`);
      }
    });
  });
}

/** int32 `[P, n]` from rows of numbers. */
function int32Matrix(rows: number[][]): Tensor {
  const P = rows.length;
  const n = rows[0]?.length ?? 0;
  const data = new Int32Array(P * n);
  rows.forEach((row, b) => {
    data.set(row, b * n);
  });
  return new Tensor(data, [P, n]);
}

/**
 * Generates up to `maxNewTokens` tokens after each prompt. The model runs in evaluation mode
 * without gradients (each module's mode is restored afterwards).
 *
 * @param prompts token ids per prompt; lengths may differ.
 * @example
 * const { tokens } = generate(model, [[464, 3290], [40]], {
 *   maxNewTokens: 20,
 *   sample: { rng: new Generator(0), temperature: 0.8, topK: 40 },
 *   stopTokens: [50256],
 * });
 */
export function generate(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): GenerateResult {
  checkPrompts(prompts);
  const { maxNewTokens, sample, stopTokens = [], useCache = true, padToken = 0 } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new RangeError(
      `generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`,
    );
  }
  const P = prompts.length;
  const longest = Math.max(...prompts.map((p) => p.length));
  const limit = model.maxPositions;
  // The last token fed to the model sits at position longest + maxNewTokens - 2.
  if (limit !== null && longest + maxNewTokens - 1 > limit) {
    throw new RangeError(
      `generate: the longest prompt (${longest} tokens) plus ${maxNewTokens} new tokens ` +
        `needs ${longest + maxNewTokens - 1} positions; the model has ${limit}`,
    );
  }
  const modes = [...model.namedModules()].map(([, m]) => [m, m.training] as const);
  model.eval();
  try {
    return noGrad(() =>
      decode(model, prompts, longest, P, maxNewTokens, sample, stopTokens, useCache, padToken),
    );
  } finally {
    for (const [m, training] of modes) m.training = training;
  }
}

function decode(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  longest: number,
  P: number,
  maxNewTokens: number,
  sample: GenerateOptions['sample'],
  stopTokens: readonly number[],
  useCache: boolean,
  padToken: number,
): GenerateResult {
  const pad = prompts.map((p) => longest - p.length);
  const padded = pad.some((n) => n > 0);
  const rows = prompts.map((p, b) => [...new Array<number>(pad[b]).fill(padToken), ...p]);
  const tokens: number[][] = prompts.map(() => []);
  const finishReasons: ('stop' | 'length')[] = prompts.map(() => 'length');
  const done = new Array<boolean>(P).fill(false);
  const stops = new Set(stopTokens);
  const cache = useCache ? model.newCache() : null;
  let fed = 0; // positions already in the cache
  for (let step = 0; step < maxNewTokens && done.includes(false); step++) {
    const S = rows[0].length;
    const start = cache ? fed : 0;
    const ids = int32Matrix(rows.map((r) => r.slice(start))); // [P, S - start]
    const forward: LMForwardOptions = { cache, lastPositionOnly: true };
    if (padded) {
      // Row b's real tokens start at pad[b]; padding takes position 0 and is never attended to.
      forward.positions = int32Matrix(
        rows.map((r, b) => r.slice(start).map((_, j) => Math.max(0, start + j - pad[b]))),
      ); // [P, S - start]
      const visible = rows.map((r, b) => r.map((_, j) => (j >= pad[b] ? 1 : 0)));
      forward.keyMask = int32Matrix(visible); // [P, S]
    }
    const logits = model.call(ids, forward); // [P, 1, V]
    fed = S;
    const next = pick(logits, done, sample);
    for (let b = 0; b < P; b++) {
      if (done[b]) {
        rows[b].push(padToken);
        continue;
      }
      const id = next.get(b) as number;
      rows[b].push(id);
      tokens[b].push(id);
      if (stops.has(id)) {
        done[b] = true;
        finishReasons[b] = 'stop';
      }
    }
  }
  const sequences = prompts.map((p, b) => [...p, ...tokens[b]]);
  return { tokens, sequences, finishReasons };
}

/** The next token of each unfinished row, from the last-position logits `[P, 1, V]`. */
function pick(
  logits: Tensor,
  done: readonly boolean[],
  sample: GenerateOptions['sample'],
): Map<number, number> {
  const [P, , V] = logits.shape;
  const active = [...Array(P).keys()].filter((b) => !done[b]);
  const data = logits.data.slice(0, active.length * V); // same float type as the logits
  active.forEach((b, i) => {
    data.set(logits.data.subarray(b * V, (b + 1) * V), i * V);
  });
  const subset = new Tensor(data, [active.length, V]); // [A, V]
  const chosen = sample ? sampleNext(subset, sample.rng, sample) : greedy(subset);
  return new Map(active.map((b, i) => [b, chosen[i]]));
}
