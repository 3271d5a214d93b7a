/**
 * The config schemas of the training and evaluation commands, one per command. Each field's
 * `.describe()` text is its documentation: the CLI turns it into the flag's help, and the
 * resolved config (defaults filled in) is printed at the start of a run and saved with it as
 * config.json.
 *
 * The defaults make `sextant train lm` train a small GPT on the default corpus (Moby Dick) in a
 * few minutes on two cores.
 */
import { z } from 'zod';
import { SCHEDULE_KINDS } from './schedule.js';

const int = (min: number) => z.number().int().min(min);

/** Fields every training command has: steps, optimiser, schedule, evaluation, checkpoints. */
function trainingFields(defaults: {
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  evalEvery: number;
  checkpointEvery: number;
}) {
  return {
    name: z.string().min(1).optional().describe('a name for the run, shown by `sextant runs ls`'),
    steps: int(1).default(defaults.steps).describe('optimiser updates in the run'),
    batchSize: int(1)
      .default(defaults.batchSize)
      .describe('examples (windows, images, rows) per micro-batch'),
    gradAccum: int(1).default(1).describe('micro-batches whose gradients are summed per update'),
    optimizer: z.enum(['adamw', 'adam', 'sgd']).default('adamw').describe('the optimiser'),
    lr: z.number().positive().max(10).default(defaults.lr).describe('peak learning rate'),
    schedule: z
      .enum(SCHEDULE_KINDS)
      .default('cosine')
      .describe('learning-rate schedule after the warmup'),
    warmup: int(0).default(defaults.warmup).describe('updates of linear learning-rate warmup'),
    minLrRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe('floor of cosine and linear decay, as a fraction of lr'),
    weightDecay: z
      .number()
      .min(0)
      .max(1)
      .default(0.01)
      .describe('weight decay (decoupled for adamw, L2 for adam and sgd)'),
    momentum: z.number().min(0).lt(1).default(0.9).describe('momentum of sgd'),
    gradClip: z
      .number()
      .positive()
      .nullable()
      .default(1)
      .describe('clip the global gradient norm to this (none: no clipping)'),
    evalEvery: int(0)
      .default(defaults.evalEvery)
      .describe('evaluate on the held-out set every this many steps (0: only at the end)'),
    checkpointEvery: int(0)
      .default(defaults.checkpointEvery)
      .describe('write a checkpoint every this many steps (0: only at the end)'),
    keepCheckpoints: int(1).default(2).describe('checkpoints kept on disk, the newest'),
    seed: int(0)
      .max(Number.MAX_SAFE_INTEGER)
      .default(1)
      .describe('seed of every random stream (initialisation, data order, dropout)'),
    valFraction: z
      .number()
      .positive()
      .max(0.5)
      .default(0.1)
      .describe('fraction of the data held out for evaluation'),
  };
}

/** `sextant train lm`: a language model on a text file. */
export const TrainLmSchema = z
  .strictObject({
    data: z
      .string()
      .min(1)
      .optional()
      .describe('UTF-8 text file to train on (default: Moby Dick, from npm)'),
    tokenizer: z
      .string()
      .min(1)
      .default('char')
      .describe("'char', or a tokenizer.json file or folder (GPT-2 BPE, LLaMA)"),
    model: z
      .enum(['gpt2', 'llama', 'lstm', 'transformer'])
      .default('gpt2')
      .describe('the architecture'),
    layers: int(1).default(4).describe('blocks (transformers) or stacked layers (lstm)'),
    width: int(1).default(128).describe('model width: dModel, or the lstm hidden size'),
    heads: int(1).default(4).describe('attention heads (transformers)'),
    context: int(2).default(64).describe('tokens per training window'),
    dropout: z.number().min(0).lt(1).default(0).describe('dropout probability'),
    evalBatches: int(1).default(8).describe('held-out batches per evaluation (fixed windows)'),
    ...trainingFields({
      steps: 1000,
      batchSize: 16,
      lr: 1e-3,
      warmup: 50,
      evalEvery: 100,
      checkpointEvery: 250,
    }),
  })
  .describe('train a language model');

/** `sextant train image`: an image classifier on IDX files (MNIST, Fashion-MNIST). */
export const TrainImageSchema = z
  .strictObject({
    data: z
      .string()
      .min(1)
      .optional()
      .describe('IDX image file, gzipped or not (default: Fashion-MNIST from Debian)'),
    labels: z.string().min(1).optional().describe('IDX label file of those images'),
    model: z.enum(['mlp', 'vit']).default('mlp').describe('the architecture'),
    layers: int(1).default(2).describe('hidden layers (mlp) or blocks (vit)'),
    width: int(1).default(128).describe('hidden width (mlp) or dModel (vit)'),
    heads: int(1).default(4).describe('attention heads (vit)'),
    patch: int(1).default(7).describe('patch size in pixels (vit); must divide the image size'),
    dropout: z.number().min(0).lt(1).default(0).describe('dropout probability'),
    evalBatches: int(1).default(16).describe('held-out batches per evaluation'),
    ...trainingFields({
      steps: 500,
      batchSize: 64,
      lr: 1e-3,
      warmup: 20,
      evalEvery: 50,
      checkpointEvery: 250,
    }),
  })
  .describe('train an image classifier');

/** `sextant train table`: an MLP on a CSV table, classification or regression. */
export const TrainTableSchema = z
  .strictObject({
    data: z.string().min(1).optional().describe('CSV file with a header row'),
    target: z.string().min(1).optional().describe('the column to predict'),
    task: z
      .enum(['classification', 'regression'])
      .optional()
      .describe('override the task inferred from the target'),
    ignore: z.string().optional().describe('comma-separated columns to leave out'),
    categorical: z
      .enum(['onehot', 'ordinal'])
      .default('onehot')
      .describe('encoding of categorical columns'),
    maxCategories: int(2)
      .default(20)
      .describe('categorical columns with more values are encoded as ordinals'),
    model: z.enum(['mlp']).default('mlp').describe('the architecture'),
    layers: int(1).default(2).describe('hidden layers'),
    width: int(1).default(64).describe('hidden width'),
    dropout: z.number().min(0).lt(1).default(0).describe('dropout probability'),
    evalBatches: int(1).default(64).describe('held-out batches per evaluation (at most)'),
    ...trainingFields({
      steps: 500,
      batchSize: 64,
      lr: 3e-3,
      warmup: 20,
      evalEvery: 50,
      checkpointEvery: 250,
    }),
  })
  .describe('train a model on a CSV table');

/** Options of every training command that are not part of the run's config. */
export const TrainCliSchema = z.strictObject({
  config: z.string().optional().describe('YAML or JSON file of config fields (flags override it)'),
  resume: z
    .string()
    .optional()
    .describe('continue an interrupted run from its last checkpoint (run id or prefix)'),
  runs: z.string().optional().describe('the run store folder (default: $SEXTANT_RUNS or ./runs)'),
  json: z
    .boolean()
    .default(false)
    .describe('print JSON lines (config, progress, result) instead of text'),
});

/** `sextant eval`: a saved model on new data. */
export const EvalSchema = z.strictObject({
  data: z
    .string()
    .min(1)
    .optional()
    .describe('file to evaluate on: text (lm), IDX images (image) or CSV (table)'),
  labels: z.string().min(1).optional().describe('IDX label file (image models)'),
  batchSize: int(1).default(32).describe('examples per batch'),
  maxBatches: int(1).default(64).describe('evaluate at most this many batches'),
  runs: z.string().optional().describe('the run store folder (default: $SEXTANT_RUNS or ./runs)'),
  json: z.boolean().default(false).describe('print one JSON object instead of text'),
});

export type TrainLmConfig = z.infer<typeof TrainLmSchema>;
export type TrainImageConfig = z.infer<typeof TrainImageSchema>;
export type TrainTableConfig = z.infer<typeof TrainTableSchema>;
export type TrainCliOptions = z.infer<typeof TrainCliSchema>;
export type EvalOptions = z.infer<typeof EvalSchema>;

/** The fields every training config has (what the trainer and optimiser are built from). */
export type TrainingConfig = TrainLmConfig | TrainImageConfig | TrainTableConfig;
