/**
 * The tabular task of `sextant train table`: an MLP on the encoded columns of a CSV file
 * (data/table.ts), classification with cross-entropy or regression with mean squared error on
 * the standardised target. A seeded random `valFraction` of the rows is held out, and the encoding
 * is fitted on the training rows only.
 *
 * Held-out metrics: classification `val/loss` (cross-entropy) and `val/accuracy`; regression
 * `val/loss` (MSE of the standardised target, the training objective) and `val/rmse` (in the
 * target's own units).
 *
 * Dimension legend: N rows, F features, K classes (1 output for regression).
 */
import type { CsvTable } from '../../data/csv.js';
import { type EpochPosition, EpochSampler } from '../../data/sampler.js';
import {
  type EncodedTable,
  encodeTable,
  fitTableEncoding,
  isMissing,
  type TableEncoding,
} from '../../data/table.js';
import { MLP } from '../../models/mlp.js';
import { tensor } from '../../tensor/create.js';
import { square, sub } from '../../tensor/ops/elementwise.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import { mean } from '../../tensor/ops/reduce.js';
import { reshape } from '../../tensor/ops/shape.js';
import { noGrad, type Tensor } from '../../tensor/tensor.js';
import type { JsonValue } from '../checkpoint.js';
import type { TrainTableConfig } from '../config.js';
import type { RandomStreams } from '../random-streams.js';
import type { Metrics, TrainTask } from '../task.js';
import { classifierMetrics, hiddenSizes, type LabelledBatch, splitIndices } from './common.js';
import { batchesOver } from './image.js';

/** The MLP for `encoding`: F inputs, K outputs (classes) or 1 (regression). */
export function buildTableModel(
  config: Pick<TrainTableConfig, 'layers' | 'width' | 'dropout'>,
  encoding: TableEncoding,
  random?: RandomStreams,
): MLP {
  const outputs = encoding.task === 'classification' ? encoding.classes.length : 1;
  const init = random ? { rng: random.fromSeed('init'), dropoutRng: random.stream('dropout') } : {};
  return new MLP(
    {
      sizes: [encoding.numFeatures, ...hiddenSizes(config.layers, config.width), outputs],
      dropout: config.dropout,
    },
    init,
  );
}

/** Rows `indices` of an encoded table as a batch: features `[B, F]`, targets `[B]`. */
export function tableBatch(table: EncodedTable, indices: ArrayLike<number>): LabelledBatch {
  const F = table.numFeatures;
  const B = indices.length;
  const x = new Float32Array(B * F);
  const classification = table.targets instanceof Int32Array;
  const y = classification ? new Int32Array(B) : new Float32Array(B);
  for (let b = 0; b < B; b++) {
    const i = indices[b] as number;
    x.set(table.features.subarray(i * F, (i + 1) * F), b * F);
    y[b] = table.targets[i] as number;
  }
  return { x: tensor(x, { shape: [B, F] }), y: tensor(y, { shape: [B] }) };
}

/** The loss of `model` on `batch`: cross-entropy, or MSE for a float (regression) target. */
export function tableLoss(model: MLP, batch: LabelledBatch): Tensor {
  const out = model.call(batch.x); // [B, K] or [B, 1]
  if (batch.y.dtype === 'int32') return crossEntropy(out, batch.y);
  const pred = reshape(out, [batch.y.size]); // [B]
  return mean(square(sub(pred, batch.y)));
}

/** Held-out metrics of `model` on `batches` (see the file comment). */
export function tableMetrics(
  model: MLP,
  encoding: TableEncoding,
  batches: readonly LabelledBatch[],
  prefix = 'val',
): Metrics {
  if (encoding.task === 'classification') {
    return classifierMetrics(batches, (x) => model.call(x), prefix);
  }
  let sse = 0;
  let count = 0;
  noGrad(() => {
    for (const b of batches) {
      sse += tableLoss(model, b).item() * b.y.size;
      count += b.y.size;
    }
  });
  const mse = sse / count;
  return { [`${prefix}/loss`]: mse, [`${prefix}/rmse`]: Math.sqrt(mse) * encoding.targetStd };
}

/** The tabular task; see the file comment. */
export class TableTask implements TrainTask<LabelledBatch> {
  readonly model: MLP;
  private readonly sampler: EpochSampler;
  private readonly heldOut: LabelledBatch[];

  constructor(
    model: MLP,
    readonly encoding: TableEncoding,
    private readonly table: EncodedTable,
    private readonly trainRows: Int32Array,
    valRows: Int32Array,
    private readonly config: Pick<TrainTableConfig, 'batchSize' | 'evalBatches'>,
    random: RandomStreams,
  ) {
    this.model = model;
    this.sampler = new EpochSampler(trainRows.length, random.fromSeed('data'));
    this.heldOut = batchesOver(valRows, config.batchSize, config.evalBatches, (slice) =>
      tableBatch(table, slice),
    );
  }

  nextBatch(): LabelledBatch {
    const picks = this.sampler.next(this.config.batchSize).map((k) => this.trainRows[k] as number);
    return tableBatch(this.table, picks);
  }

  lossOnBatch(batch: LabelledBatch): Tensor {
    return tableLoss(this.model, batch);
  }

  batchItems(batch: LabelledBatch): number {
    return batch.y.size;
  }

  evalBatches(): readonly LabelledBatch[] {
    return this.heldOut;
  }

  evaluate(): Metrics {
    return tableMetrics(this.model, this.encoding, this.heldOut);
  }

  dataPosition(): JsonValue {
    return { ...this.sampler.position };
  }

  restoreDataPosition(position: JsonValue): void {
    this.sampler.position = position as unknown as EpochPosition;
  }
}

/**
 * Splits the rows of `csv` (those with a target), fits the encoding on the training rows, encodes
 * everything and builds the model and the task for `config`.
 */
export function setupTableTask(
  config: TrainTableConfig & { target: string },
  csv: CsvTable,
  random: RandomStreams,
): { task: TableTask; facts: Record<string, number | string> } {
  const ignore = (config.ignore ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const fitOptions = {
    target: config.target,
    ignore,
    maxCategories: config.maxCategories,
    categorical: config.categorical,
    ...(config.task !== undefined ? { task: config.task } : {}),
  };
  // A first look decides the task and which rows have a target; the split is over those rows.
  const probe = fitTableEncoding(csv, fitOptions);
  const all = encodeTable(csv, probe);
  const { train, val } = splitIndices(all.count, config.valFraction, random.fromSeed('split'));
  // Row numbers in the file of the encoded rows (those with a target, in file order), to fit
  // the final encoding on the training rows only.
  const t = csv.header.indexOf(config.target);
  const fileRows = csv.rows.flatMap((row, r) => (isMissing(row[t] as string) ? [] : [r]));
  const encoding = fitTableEncoding(csv, {
    ...fitOptions,
    task: probe.task,
    rows: Array.from(train, (k) => fileRows[k] as number),
  });
  const table = encodeTable(csv, encoding);
  const model = buildTableModel(config, encoding, random);
  const task = new TableTask(model, encoding, table, train, val, config, random);
  const used = encoding.columns.filter((c) => c.kind !== 'dropped').length;
  const dropped = encoding.columns
    .filter((c) => c.kind === 'dropped')
    .map((c) => `${c.name} (${(c as { reason: string }).reason})`);
  return {
    task,
    facts: {
      data: csv.source,
      task: encoding.task,
      target: encoding.target,
      rows: table.count,
      rowsWithoutTarget: table.droppedMissingTarget,
      trainRows: train.length,
      heldOutRows: val.length,
      inputColumns: used,
      features: encoding.numFeatures,
      ...(encoding.task === 'classification' ? { classes: encoding.classes.join(', ') } : {}),
      ...(dropped.length > 0 ? { droppedColumns: dropped.join('; ') } : {}),
      parameters: model.numParameters(),
    },
  };
}
