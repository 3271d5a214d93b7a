/**
 * Training an MLP on a subset of the study's rows, the same way every time (spec E.1.4): the seed
 * fixes the initialisation (stream 'init') and the data order (stream 'data'), so a retrain on a
 * subset starts from exactly the weights the full-data run starts from. Adam, mini-batches of
 * mean loss (cross-entropy or MSE of the standardised target), a fixed number of epochs; fewer
 * rows means fewer steps per epoch, which is the saving.
 *
 * After each epoch an optional callback sees the model (the scoring run scores every training
 * sample there, with parameters frozen, in eval mode).
 *
 * Dimension legend: B batch, F features, K outputs.
 */

import { MLP } from '../../models/mlp.js';
import { Adam } from '../../optim/adam.js';
import { backward } from '../../tensor/autograd.js';
import { softmax } from '../../tensor/ops/nn.js';
import { mean } from '../../tensor/ops/reduce.js';
import { Generator } from '../../tensor/random.js';
import { noGrad } from '../../tensor/tensor.js';
import { tableBatch } from '../../train/tasks/table.js';
import type { StudyData } from './data.js';
import { perSampleLoss, type SampleBatch } from './per-sample.js';
import { classificationMetrics, regressionMetrics } from './stats.js';

/** How every model of the study is built and trained. */
export interface TrainOptions {
  /** Hidden layer widths, e.g. [32, 32]. */
  hidden: readonly number[];
  epochs: number;
  batchSize: number;
  lr: number;
}

/** Rows `rows` of the table as a batch: features `[B, F]`, targets `[B]`. */
export function rowsBatch(data: StudyData, rows: ArrayLike<number>): SampleBatch {
  return tableBatch(data.table, rows);
}

/** The MLP for the data, initialised from `seed`'s 'init' stream. */
export function buildModel(data: StudyData, options: TrainOptions, seed: number): MLP {
  const { encoding } = data;
  const K = encoding.task === 'classification' ? encoding.classes.length : 1;
  return new MLP(
    { sizes: [encoding.numFeatures, ...options.hidden, K] },
    { rng: new Generator(seed).fork('init') },
  );
}

/**
 * Trains a fresh model on `rows` for `options.epochs` epochs. Returns the model and the number of
 * sample-gradient evaluations of training (rows seen by backward).
 */
export function trainOn(
  data: StudyData,
  rows: Int32Array,
  options: TrainOptions,
  seed: number,
  afterEpoch?: (model: MLP, epoch: number) => void,
): { model: MLP; sampleGrads: number } {
  const model = buildModel(data, options, seed);
  const optimizer = new Adam(model.parameters(), { lr: options.lr });
  const order = new Generator(seed).fork('data');
  const perm = Int32Array.from(rows);
  let sampleGrads = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    model.train();
    order.shuffle(perm);
    for (let start = 0; start < perm.length; start += options.batchSize) {
      const batch = rowsBatch(data, perm.subarray(start, start + options.batchSize));
      optimizer.zeroGrad();
      backward(mean(perSampleLoss(model, batch)));
      optimizer.step();
      sampleGrads += batch.y.size;
    }
    afterEpoch?.(model, epoch);
  }
  return { model, sampleGrads };
}

/**
 * Test metrics: accuracy, F1, AUC (classification) or RMSE, MAE, R² in the target's units
 * (regression).
 */
export function testMetrics(model: MLP, data: StudyData): Record<string, number> {
  model.eval();
  const batch = rowsBatch(data, data.test);
  const out = noGrad(() => model.call(batch.x)); // [N, K]
  const { encoding } = data;
  if (encoding.task === 'classification') {
    const probs = noGrad(() => softmax(out, -1)); // [N, K]
    return classificationMetrics(probs.data, batch.y.data, encoding.classes.length);
  }
  const s = encoding.targetStd;
  const m = encoding.targetMean;
  const pred = Float64Array.from(out.data, (v) => v * s + m);
  const target = Float64Array.from(batch.y.data, (v) => v * s + m);
  return regressionMetrics(pred, target);
}
