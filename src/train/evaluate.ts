/**
 * Evaluating a saved model on new data: the model is rebuilt from a checkpoint folder (its
 * task.json, tokenizer and model.safetensors, see checkpoint.ts and setup.ts) and run without
 * gradients over the new file, encoded the way the training data was.
 *
 * Metrics: language models `loss` (mean cross-entropy per token, nats) and `perplexity`;
 * classifiers `loss` and `accuracy`; regression `loss` (MSE of the standardised target) and
 * `rmse` (in the target's units).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readCsv } from '../data/csv.js';
import { DataError } from '../data/errors.js';
import { readImageSet } from '../data/idx.js';
import { encodeTable, type TableEncoding } from '../data/table.js';
import { encodeCorpus, readTextFile, sequentialBatches } from '../data/text.js';
import { loadTokenizer } from '../io/tokenizers/index.js';
import {
  CheckpointError,
  latestCheckpoint,
  MODEL_FILE,
  readTensors,
  readTrainerState,
} from './checkpoint.js';
import type { TrainImageConfig, TrainLmConfig, TrainTableConfig } from './config.js';
import { labelsBeside } from './setup.js';
import { evaluateLoss, inEvalMode, type Metrics } from './task.js';
import { classifierMetrics, TASK_FILE, type TaskRecord } from './tasks/common.js';
import { batchesOver, buildImageClassifier, type ImageShape, imageBatch } from './tasks/image.js';
import { buildLanguageModel, lmLoss } from './tasks/lm.js';
import { buildTableModel, tableBatch, tableMetrics } from './tasks/table.js';

/** What an evaluation found. */
export interface EvalResult {
  /** The checkpoint folder evaluated. */
  checkpoint: string;
  /** Its training step. */
  step: number;
  kind: TaskRecord['kind'];
  model: string;
  /** The data file(s). */
  data: string;
  /** Tokens (language models) or examples evaluated. */
  items: number;
  itemName: 'tokens' | 'examples';
  metrics: Metrics;
  /** What a reader should know about the figures: data left out, characters read as unknown. */
  notes: string[];
}

/** A note when fewer than all `available` items were evaluated. */
function partial(items: number, available: number, itemName: string): string[] {
  if (items >= available) return [];
  return [
    `evaluated the first ${items.toLocaleString('en-US')} of ` +
      `${available.toLocaleString('en-US')} ` +
      `${itemName} (--max-batches x --batch-size); raise --max-batches to read more`,
  ];
}

export interface EvalInput {
  /** A checkpoint folder, or a run folder (its newest checkpoint is used). */
  location: string;
  data: string;
  /** IDX labels (image models); default the label file beside `data`. */
  labels?: string;
  batchSize: number;
  maxBatches: number;
}

/** The checkpoint folder `location` names: itself, or the newest in `<location>/checkpoints`. */
export function findCheckpoint(location: string): string {
  if (fs.existsSync(path.join(location, TASK_FILE))) return location;
  const inRun = latestCheckpoint(path.join(location, 'checkpoints'));
  if (inRun !== null) return inRun.dir;
  throw new CheckpointError(
    `${location}: neither a checkpoint folder (with ${TASK_FILE}) nor a run folder with ` +
      'checkpoints/step-*',
  );
}

function readTaskRecord(dir: string): TaskRecord {
  const file = path.join(dir, TASK_FILE);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TaskRecord;
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read the task record (${(e as Error).message})`);
  }
}

/** Evaluates the model saved at `input.location` on `input.data`; see the file comment. */
export function evaluateCheckpoint(input: EvalInput): EvalResult {
  const dir = findCheckpoint(input.location);
  const step = readTrainerState(dir).step;
  const record = readTaskRecord(dir);
  const weights = readTensors(path.join(dir, MODEL_FILE));
  const base = { checkpoint: dir, step, kind: record.kind, model: String(record.config.model) };
  if (record.kind === 'lm') {
    const config = record.config as unknown as TrainLmConfig;
    const tokenizer = loadTokenizer(dir);
    const lm = buildLanguageModel(config, tokenizer.vocabSize);
    lm.module.loadStateDict(weights);
    const corpus = readTextFile(input.data);
    const ids = encodeCorpus(tokenizer, corpus.text, corpus.source);
    if (ids.length < config.context + 1) {
      throw new DataError(
        input.data,
        `${ids.length} tokens, but the model's windows need context + 1 = ${config.context + 1}`,
      );
    }
    const batches = sequentialBatches(ids, config.context, input.batchSize, input.maxBatches);
    const loss = inEvalMode(lm.module, () =>
      evaluateLoss({ batchItems: (b) => b.y.size, lossOnBatch: (b) => lmLoss(lm, b) }, batches),
    );
    const items = batches.reduce((n, b) => n + b.y.size, 0);
    const notes = partial(items, ids.length - 1, 'tokens');
    const unk = (tokenizer as { unk?: string | null }).unk;
    if (unk) {
      const unkId = tokenizer.encode(unk)[0];
      const literal = corpus.text.split(unk).length - 1;
      const unknown = ids.reduce((n, id) => n + (id === unkId ? 1 : 0), 0) - literal;
      if (unknown > 0) {
        notes.push(
          `${unknown.toLocaleString('en-US')} characters of the file are not in the model's ` +
            `vocabulary and were read as its unknown token ${JSON.stringify(unk)}`,
        );
      }
    }
    return {
      ...base,
      data: input.data,
      items,
      itemName: 'tokens',
      metrics: { loss, perplexity: Math.exp(loss) },
      notes,
    };
  }
  if (record.kind === 'image') {
    const config = record.config as unknown as TrainImageConfig;
    const shape = record.data as unknown as ImageShape;
    const labels =
      input.labels ??
      labelsBeside(input.data) ??
      (() => {
        throw new DataError(input.data, 'image models need --labels <IDX label file>');
      })();
    const set = readImageSet(input.data, labels);
    if (set.height !== shape.height || set.width !== shape.width) {
      throw new DataError(
        input.data,
        `images are ${set.height} x ${set.width}, the model was trained on ` +
          `${shape.height} x ${shape.width}`,
      );
    }
    if (set.numClasses > shape.numClasses) {
      throw new DataError(
        labels,
        `has label ${set.numClasses - 1}, the model knows classes 0..${shape.numClasses - 1}`,
      );
    }
    const classifier = buildImageClassifier(config, shape);
    classifier.module.loadStateDict(weights);
    const all = Int32Array.from({ length: set.count }, (_, i) => i);
    const batches = batchesOver(all, input.batchSize, input.maxBatches, (s) => imageBatch(set, s));
    const metrics = inEvalMode(classifier.module, () =>
      classifierMetrics(batches, (x) => classifier.logits(x), 'eval'),
    );
    const items = batches.reduce((n, b) => n + b.y.size, 0);
    return {
      ...base,
      data: `${input.data} + ${labels}`,
      items,
      itemName: 'examples',
      metrics: unprefixed(metrics),
      notes: partial(items, set.count, 'examples'),
    };
  }
  const config = record.config as unknown as TrainTableConfig;
  const encoding = (record.data as { encoding: TableEncoding }).encoding;
  const model = buildTableModel(config, encoding);
  model.loadStateDict(weights);
  const table = encodeTable(readCsv(input.data), encoding);
  if (table.count === 0) {
    throw new DataError(input.data, `no rows with a known value in target '${encoding.target}'`);
  }
  const rows = Int32Array.from({ length: table.count }, (_, i) => i);
  const batches = batchesOver(rows, input.batchSize, input.maxBatches, (s) => tableBatch(table, s));
  const metrics = inEvalMode(model, () => tableMetrics(model, encoding, batches, 'eval'));
  const items = batches.reduce((n, b) => n + b.y.size, 0);
  return {
    ...base,
    data: input.data,
    items,
    itemName: 'examples',
    metrics: unprefixed(metrics),
    notes: partial(items, table.count, 'rows'),
  };
}

function unprefixed(metrics: Metrics): Metrics {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k.replace(/^eval\//, ''), v]));
}
