/**
 * What the trainer trains: a `TrainTask` joins a model, its data and its loss, so the trainer
 * itself knows nothing of language models, images or tables.
 *
 * A task owns its data stream and can say where it stands (`dataPosition`) and go back there
 * (`restoreDataPosition`), which is what a resume needs beside the weights and the random streams.
 */
import type { Module } from '../nn/module.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import type { JsonValue } from './checkpoint.js';

/** Metrics by slash-separated name (`val/loss`, `val/accuracy`). */
export type Metrics = Record<string, number>;

export interface TrainTask<Batch> {
  /** The model; its `stateDict()` is what checkpoints save and resumes load. */
  readonly model: Module;
  /** The parameters the optimiser updates; default `model.parameters()`. */
  parameters?(): Tensor[];
  /** The next training batch; advances the data position. */
  nextBatch(): Batch;
  /** The mean loss over `batch`, a scalar on the tape (the trainer calls `backward` on it). */
  lossOnBatch(batch: Batch): Tensor;
  /** How many items `batch` holds (tokens for a language model, samples otherwise). */
  batchItems(batch: Batch): number;
  /** The fixed held-out batches evaluated at every evaluation; the same on every call. */
  evalBatches(): readonly Batch[];
  /**
   * Held-out metrics (`val/loss` and, for classifiers, `val/accuracy`). Called without gradients
   * and in eval mode. Default: `evaluateLoss(this, evalBatches())`.
   */
  evaluate?(): Metrics;
  /** Where the data stream stands, as JSON. */
  dataPosition(): JsonValue;
  /** Puts the data stream back where `dataPosition()` said it stood. */
  restoreDataPosition(position: JsonValue): void;
  /** Words for the unit of `batchItems`: 'tokens' or 'samples' (default 'samples'). */
  readonly itemName?: string;
}

/**
 * The item-weighted mean loss of `task` over `batches`, without gradients: `val/loss`. Batches of
 * different sizes weigh by their items, so the value is the mean over all held-out items.
 */
export function evaluateLoss<B>(
  task: Pick<TrainTask<B>, 'batchItems' | 'lossOnBatch'>,
  batches: readonly B[],
): number {
  let total = 0;
  let items = 0;
  noGrad(() => {
    for (const b of batches) {
      const n = task.batchItems(b);
      total += task.lossOnBatch(b).item() * n;
      items += n;
    }
  });
  return items > 0 ? total / items : Number.NaN;
}

/** Runs `fn` with `model` in eval mode (dropout off), restoring its mode afterwards. */
export function inEvalMode<T>(model: Module, fn: () => T): T {
  const wasTraining = model.training;
  model.eval();
  try {
    return fn();
  } finally {
    model.train(wasTraining);
  }
}
