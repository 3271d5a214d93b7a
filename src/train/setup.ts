/**
 * From a resolved training config to what the trainer needs: the data read, the task built, the
 * optimiser and the schedule made, and the files every checkpoint carries so that `sextant eval`
 * can rebuild the model (task.json, the tokenizer, Hugging Face's config.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readCsv } from '../data/csv.js';
import { DataError } from '../data/errors.js';
import { readImageSet } from '../data/idx.js';
import { loadCorpus, makeTokenizer, tokenizerFiles } from '../data/text.js';
import { Adam, AdamW } from '../optim/adam.js';
import { SGD } from '../optim/sgd.js';
import type { Tensor } from '../tensor/tensor.js';
import type {
  TrainImageConfig,
  TrainingConfig,
  TrainLmConfig,
  TrainTableConfig,
} from './config.js';
import { ConfigValidationError } from './config-resolve.js';
import type { RandomStreams } from './random-streams.js';
import { makeSchedule, type Schedule } from './schedule.js';
import type { TrainTask } from './task.js';
import { TASK_FILE, type TaskRecord } from './tasks/common.js';
import { setupImageTask } from './tasks/image.js';
import { setupLanguageModel } from './tasks/lm.js';
import { setupTableTask } from './tasks/table.js';
import type { TrainerOptimizer } from './trainer.js';

export type TrainKind = 'lm' | 'image' | 'table';

/** Where Debian's `dataset-fashion-mnist` puts the training set: the default of `train image`. */
export const DEBIAN_FASHION_MNIST = {
  images: '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz',
  labels: '/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz',
};

/** A training run ready to start. */
export interface PreparedTraining {
  kind: TrainKind;
  task: TrainTask<unknown>;
  /** Facts about the data and the model, for the start of the run and the report. */
  facts: Record<string, string | number>;
  /** Files added to every checkpoint, by name (task.json first). */
  checkpointFiles: Record<string, string>;
}

/** The label file beside an IDX image file (`...-images-idx3-...` -> `...-labels-idx1-...`). */
export function labelsBeside(imagesFile: string): string | null {
  const base = path.basename(imagesFile);
  if (!base.includes('images-idx3')) return null;
  const guess = path.join(path.dirname(imagesFile), base.replace('images-idx3', 'labels-idx1'));
  return fs.existsSync(guess) ? guess : null;
}

function required(field: string, what: string): never {
  throw new ConfigValidationError([
    `${field}: expected ${what}, got nothing (the field is required)`,
  ]);
}

function checkHeads(config: { model: string; width: number; heads: number }): void {
  if (config.model !== 'lstm' && config.model !== 'mlp' && config.width % config.heads !== 0) {
    throw new ConfigValidationError([
      `heads: expected a divisor of width (${config.width}) for model ${config.model}, got ` +
        `${config.heads}`,
    ]);
  }
}

/** Reads the data of `config`, builds the task of `kind` and the checkpoint files. */
export function prepareTraining(
  kind: TrainKind,
  config: TrainingConfig,
  random: RandomStreams,
): PreparedTraining {
  const record = (data: Record<string, unknown>): string => {
    const r: TaskRecord = { kind, config: { ...config }, data };
    return `${JSON.stringify(r, null, 2)}\n`;
  };
  if (kind === 'lm') {
    const c = config as TrainLmConfig;
    checkHeads(c);
    const corpus = loadCorpus(c.data);
    const tokenizer = makeTokenizer(c.tokenizer, corpus.text);
    const { task, facts } = setupLanguageModel(c, corpus, tokenizer, random);
    return {
      kind,
      task: task as TrainTask<unknown>,
      facts: { ...facts, model: c.model },
      checkpointFiles: {
        [TASK_FILE]: record({ vocabSize: tokenizer.vocabSize, corpus: corpus.source }),
        ...tokenizerFiles(c.tokenizer, tokenizer),
        ...(task.lm.hfConfig !== null ? { 'config.json': task.lm.hfConfig } : {}),
      },
    };
  }
  if (kind === 'image') {
    const c = config as TrainImageConfig;
    let images = c.data;
    let labels = c.labels;
    if (images === undefined) {
      if (!fs.existsSync(DEBIAN_FASHION_MNIST.images)) {
        required(
          'data',
          "an IDX image file (the default, Fashion-MNIST from Debian's dataset-fashion-mnist, " +
            `is not installed at ${DEBIAN_FASHION_MNIST.images})`,
        );
      }
      images = DEBIAN_FASHION_MNIST.images;
      labels ??= DEBIAN_FASHION_MNIST.labels;
    }
    if (!fs.existsSync(images)) {
      throw new DataError(images, 'the IDX image file (--data) does not exist');
    }
    labels ??= labelsBeside(images) ?? required('labels', `the IDX label file of ${images}`);
    const set = readImageSet(images, labels);
    const { task, facts } = setupImageTask(c, set, random);
    const shape = { height: set.height, width: set.width, numClasses: set.numClasses };
    return {
      kind,
      task: task as TrainTask<unknown>,
      facts: { ...facts, model: c.model },
      checkpointFiles: {
        [TASK_FILE]: record(shape),
        ...(task.classifier.hfConfig !== null ? { 'config.json': task.classifier.hfConfig } : {}),
      },
    };
  }
  const c = config as TrainTableConfig;
  if (c.data === undefined) required('data', 'a CSV file');
  if (c.target === undefined) required('target', 'the name of the column to predict');
  const csv = readCsv(c.data);
  const { task, facts } = setupTableTask({ ...c, target: c.target }, csv, random);
  return {
    kind,
    task: task as TrainTask<unknown>,
    facts: { ...facts, model: c.model },
    checkpointFiles: { [TASK_FILE]: record({ encoding: task.encoding }) },
  };
}

/**
 * The optimiser of `config` over `params`, at its peak learning rate.
 * LIMITATION: weight decay applies to every parameter, biases and norm gains included (nanoGPT
 * exempts them with a second parameter group).
 */
export function buildOptimizer(config: TrainingConfig, params: Tensor[]): TrainerOptimizer {
  const { lr, weightDecay } = config;
  if (config.optimizer === 'sgd')
    return new SGD(params, { lr, weightDecay, momentum: config.momentum });
  if (config.optimizer === 'adam') return new Adam(params, { lr, weightDecay });
  return new AdamW(params, { lr, weightDecay });
}

/** The learning-rate schedule of `config`. */
export function buildSchedule(config: TrainingConfig): Schedule {
  return makeSchedule(config.schedule, {
    lr: config.lr,
    warmupSteps: config.warmup,
    totalSteps: config.steps,
    minLrRatio: config.minLrRatio,
  });
}
