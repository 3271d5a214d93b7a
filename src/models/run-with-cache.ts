/**
 * `runWithCache`: runs a model once and returns the activations at the hook points asked for, by
 * name (`blocks.3.hook_resid_post`), and only those. A name that is not a hook point is an error
 * that suggests the nearest names and lists the valid ones.
 */

import { type HookPoint, hookPoints } from '../nn/hook-point.js';
import type { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';

export interface RunWithCacheResult<Out> {
  /** What the model's forward returned. */
  output: Out;
  /** The activation at each name asked for, as the hook point saw it (not a copy). */
  cache: Map<string, Tensor>;
}

/** A hook point name that the model does not have. */
export class HookNameError extends Error {
  override name = 'HookNameError';
}

/** Levenshtein distance, for suggesting the names nearest a typo. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * The valid names, numbered children folded: `blocks.{0..11}.hook_resid_post` stands for twelve
 * names. Keeps the error readable for deep models.
 */
export function summariseHookNames(names: Iterable<string>): string[] {
  const groups = new Map<string, Set<number>>();
  for (const name of names) {
    const match = /^([^.]+)\.(\d+)\.(.+)$/.exec(name);
    const key = match ? `${match[1]}.{i}.${match[3]}` : name;
    const indices = groups.get(key) ?? new Set<number>();
    if (match) indices.add(Number(match[2]));
    groups.set(key, indices);
  }
  return [...groups].map(([key, indices]) => {
    if (indices.size === 0) return key;
    const sorted = [...indices].sort((x, y) => x - y);
    const range =
      sorted.length === 1 ? `${sorted[0]}` : `${sorted[0]}..${sorted[sorted.length - 1]}`;
    return key.replace('{i}', `{${range}}`);
  });
}

/** Throws `HookNameError` for the first of `names` that is not a hook point of the model. */
function checkNames(names: readonly string[], points: Map<string, HookPoint>): void {
  for (const name of names) {
    if (points.has(name)) continue;
    const nearest = [...points.keys()]
      .map((valid) => [valid, editDistance(name, valid)] as const)
      .sort((a, b) => a[1] - b[1])
      .slice(0, 3)
      .map(([valid]) => `'${valid}'`);
    throw new HookNameError(
      `runWithCache: '${name}' is not a hook point of this model. ` +
        `Nearest: ${nearest.join(', ')}. ` +
        `Valid names: ${summariseHookNames(points.keys()).join(', ')}`,
    );
  }
}

/**
 * Runs `model` on `input` (its forward's arguments, or a single tensor) and returns its output and
 * the activations named in `names`. Gradients are recorded as usual (wrap in `noGrad` to skip
 * them). A hook point that runs more than once in one forward keeps its last activation.
 *
 * @example
 * const { output, cache } = runWithCache(model, ids, ['blocks.0.hook_resid_post']);
 * cache.get('blocks.0.hook_resid_post'); // [B, T, C]
 */
export function runWithCache<Args extends unknown[], Out>(
  model: Module<Args, Out>,
  input: Args | Tensor,
  names: readonly string[],
): RunWithCacheResult<Out> {
  const points = hookPoints(model as Module);
  checkNames(names, points);
  const cache = new Map<string, Tensor>();
  const removers = [...new Set(names)].map((name) =>
    (points.get(name) as HookPoint).registerForwardHook((_m, _inputs, output) => {
      cache.set(name, output);
      return undefined;
    }),
  );
  try {
    const args = (input instanceof Tensor ? [input] : input) as Args;
    const output = model.call(...args);
    return { output, cache };
  } finally {
    for (const remove of removers) remove();
  }
}
