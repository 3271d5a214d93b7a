/**
 * Training a study model (an MLP, or the LSTM forecaster for windowed series) on a subset of the
 * study's rows, the same way every time (spec E.1.4): the seed fixes the initialisation (stream
 * 'init') and the data order (stream 'data'), so a retrain on a subset starts from exactly the
 * weights the full-data run starts from. Adam, mini-batches of
 * mean loss (cross-entropy or MSE of the standardised target), a fixed number of epochs; fewer
 * rows means fewer steps per epoch, which is the saving.
 *
 * After each epoch an optional callback sees the model (the scoring run scores every training
 * sample there, with parameters frozen, in eval mode).
 *
 * Dimension legend: B batch, F features, K outputs.
 */

import { LSTMForecaster } from '../../models/lstm-forecaster.js';
import { MLP } from '../../models/mlp.js';
import { Adam } from '../../optim/adam.js';
import { backward } from '../../tensor/autograd.js';
import { softmax } from '../../tensor/ops/nn.js';
import { mean } from '../../tensor/ops/reduce.js';
import { Generator } from '../../tensor/random.js';
import { tensorScope } from '../../tensor/storage.js';
import { noGrad } from '../../tensor/tensor.js';
import { tableBatch } from '../../train/tasks/table.js';
import type { StudyData } from './data.js';
import { perSampleLoss, type SampleBatch, type StudyModel } from './per-sample.js';
import { classificationMetrics, regressionMetrics } from './stats.js';

/**
 * The model of every training: an MLP with hidden layer widths (e.g. [32, 32]) on flat rows, or
 * the LSTM forecaster of hidden size H on windows of `steps` time steps.
 */
export type ModelSpec =
  | { kind: 'mlp'; hidden: readonly number[] }
  | { kind: 'lstm'; hidden: number; steps: number };

/** How every model of the study is built and trained. */
export interface TrainOptions {
  model: ModelSpec;
  epochs: number;
  batchSize: number;
  lr: number;
}

/** Rows `rows` of the table as a batch: features `[B, F]`, targets `[B]`. */
export function rowsBatch(data: StudyData, rows: ArrayLike<number>): SampleBatch {
  return tableBatch(data.table, rows);
}

/** The model for the data, initialised from `seed`'s 'init' stream. */
export function buildModel(data: StudyData, options: TrainOptions, seed: number): StudyModel {
  const { encoding } = data;
  const K = encoding.task === 'classification' ? encoding.classes.length : 1;
  const rng = new Generator(seed).fork('init');
  const spec = options.model;
  if (spec.kind === 'lstm') {
    const F = encoding.numFeatures / spec.steps;
    if (!Number.isInteger(F)) {
      throw new RangeError(
        `--model lstm: ${encoding.numFeatures} features do not split into ${spec.steps} steps`,
      );
    }
    return new LSTMForecaster({ inputSize: F, dHidden: spec.hidden, outputs: K }, { rng });
  }
  return new MLP({ sizes: [encoding.numFeatures, ...spec.hidden, K] }, { rng });
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
  afterEpoch?: (model: StudyModel, epoch: number) => void,
): { model: StudyModel; sampleGrads: number } {
  const model = buildModel(data, options, seed);
  const optimizer = new Adam(model.parameters(), { lr: options.lr });
  const order = new Generator(seed).fork('data');
  const perm = Int32Array.from(rows);
  let sampleGrads = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    model.train();
    order.shuffle(perm);
    for (let start = 0; start < perm.length; start += options.batchSize) {
      // Each step in a scope: the next one reuses its memory.
      sampleGrads += tensorScope(() => {
        const batch = rowsBatch(data, perm.subarray(start, start + options.batchSize));
        optimizer.zeroGrad();
        backward(mean(perSampleLoss(model, batch)));
        optimizer.step();
        return batch.y.size;
      });
    }
    afterEpoch?.(model, epoch);
  }
  return { model, sampleGrads };
}

/**
 * Test metrics: accuracy, F1, AUC (classification) or RMSE, MAE, R² in the target's units
 * (regression).
 */
export function testMetrics(model: StudyModel, data: StudyData): Record<string, number> {
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
