/**
 * Pieces the three training tasks share: the record a checkpoint keeps of its task, held-out
 * splits, classifier metrics, and Hugging Face config files beside the weights.
 */

import type { HfConfig } from '../../io/hf-config.js';
import { hfConfigJson } from '../../io/hf-config-write.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import { argmax } from '../../tensor/ops/reduce.js';
import type { Generator } from '../../tensor/random.js';
import { noGrad, type Tensor } from '../../tensor/tensor.js';
import type { Metrics } from '../task.js';

/** The file in every checkpoint that says how to rebuild the model and read data for it. */
export const TASK_FILE = 'task.json';

/** What task.json holds: the kind of task and the resolved config it was trained with. */
export interface TaskRecord {
  kind: 'lm' | 'image' | 'table';
  /** The resolved training config (as config.json of the run). */
  config: Record<string, unknown>;
  /** What the task learned from its data that a rebuild needs (vocabulary size, encoding...). */
  data: Record<string, unknown>;
}

/** Shuffles `0..count-1` with `rng` and splits off the last `valFraction` (at least one each). */
export function splitIndices(
  count: number,
  valFraction: number,
  rng: Generator,
): { train: Int32Array; val: Int32Array } {
  const order = rng.shuffle(Int32Array.from({ length: count }, (_, i) => i));
  const nVal = Math.min(count - 1, Math.max(1, Math.round(count * valFraction)));
  return { train: order.slice(0, count - nVal), val: order.slice(count - nVal) };
}

/** A classifier batch: inputs and int32 class ids `[B]`. */
export interface LabelledBatch {
  x: Tensor;
  y: Tensor;
}

/**
 * Mean cross-entropy (`val/loss`) and accuracy (`val/accuracy`) of `logitsOf` over `batches`,
 * weighted by batch size, without gradients.
 */
export function classifierMetrics(
  batches: readonly LabelledBatch[],
  logitsOf: (x: Tensor) => Tensor,
  prefix = 'val',
): Metrics {
  let loss = 0;
  let correct = 0;
  let count = 0;
  noGrad(() => {
    for (const { x, y } of batches) {
      const logits = logitsOf(x); // [B, K]
      const B = y.size;
      loss += crossEntropy(logits, y).item() * B;
      const predicted = argmax(logits, -1).data; // [B]
      for (let i = 0; i < B; i++) if (predicted[i] === y.data[i]) correct += 1;
      count += B;
    }
  });
  return { [`${prefix}/loss`]: loss / count, [`${prefix}/accuracy`]: correct / count };
}

/** Hugging Face's config.json text for `config`, keys sorted (as `writeHfConfig` writes it). */
export function hfConfigText(config: HfConfig): string {
  const json = hfConfigJson(config);
  const sorted = Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/** `n` hidden layers of `width`: the middle of an MLP's sizes. */
export function hiddenSizes(layers: number, width: number): number[] {
  return Array.from({ length: layers }, () => width);
}
