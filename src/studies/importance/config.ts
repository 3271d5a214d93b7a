/**
 * The config of `sextant importance`: one zod schema whose field docs are also the command's flags
 * and help (src/cli/schema-options.ts). The defaults are the quick preset: a 2×32 MLP (an LSTM of
 * 32 units for the windowed ucc-5g preset), 20 epochs, 3 seeds, kept fractions 0.9 to 0.5 and
 * cumulative mass 0.9, about a minute per tabular data set on two cores.
 */
import { z } from 'zod';
import { AGGREGATIONS } from './scores.js';

const int = (min: number) => z.number().int().min(min);

export const SELECTORS = ['gradnorm', 'el2n', 'loss', 'forgetting'] as const;
export type Selector = (typeof SELECTORS)[number];

export const MODELS = ['mlp', 'lstm'] as const;
export type ModelKind = (typeof MODELS)[number];

export const ImportanceSchema = z
  .strictObject({
    preset: z
      .enum(['telco', '5gophers', 'ucc-5g'])
      .optional()
      .describe(
        'column layout of a public telecom data set: telco (IBM Telco churn, ' +
          'Telco-Customer-Churn.csv), 5gophers (5Gophers 1.0 all-carriers_01-throughput.csv), ' +
          'ucc-5g (UCC 5G production download traces, GitHub uccmisl/5Gdataset: --data is the ' +
          'folder of Download/{Driving,Static}/*.csv; DL_bitrate forecast from sliding windows)',
      ),
    data: z
      .string()
      .min(1)
      .describe('CSV file with a header row (ucc-5g: a folder of trace CSVs, or one trace)'),
    window: int(1).default(10).describe('ucc-5g: time steps of history in each sliding window'),
    maxWindows: int(0)
      .default(8000)
      .describe('ucc-5g: subsample to at most this many windows (train and test alike); 0 = all'),
    target: z.string().min(1).optional().describe('the column to predict (overrides the preset)'),
    task: z
      .enum(['classification', 'regression'])
      .optional()
      .describe('override the task inferred from the target'),
    ignore: z.string().optional().describe('comma-separated columns to leave out'),
    group: z
      .string()
      .optional()
      .describe('comma-separated columns naming groups kept whole in the split (runs, cells)'),
    testFraction: z.number().gt(0).lt(1).default(0.2).describe('share of rows held out for test'),
    model: z
      .enum(MODELS)
      .optional()
      .describe(
        'mlp (flat rows; a window is flattened) or lstm (a window read step by step, dense ' +
          'head on the last hidden state; windowed presets only); default lstm for ucc-5g, ' +
          'else mlp',
      ),
    layers: int(1).default(2).describe('hidden layers of the MLP'),
    width: int(1).default(32).describe('hidden width of the MLP'),
    lstmHidden: int(1).default(32).describe('hidden size of the LSTM (--model lstm)'),
    epochs: int(1).default(20).describe('epochs of every training (scoring run and retrains)'),
    batchSize: int(1).default(64).describe('mini-batch size'),
    lr: z.number().gt(0).default(1e-3).describe('Adam learning rate'),
    seed: int(0).default(0).describe('first seed (split, scoring run, first retrain)'),
    seeds: int(1).default(3).describe('retrain seeds: seed, seed+1, ...'),
    selectors: z
      .string()
      .default('gradnorm,el2n')
      .describe(`comma-separated scores to prune by: ${SELECTORS.join(', ')}`),
    aggregation: z.enum(AGGREGATIONS).default('mean').describe('how scores across epochs combine'),
    emaBeta: z.number().min(0).lt(1).default(0.5).describe('EMA factor of --aggregation ema'),
    earlyEpochs: int(1).optional().describe('window of --aggregation early (default epochs/3)'),
    keep: z
      .string()
      .default('0.9,0.8,0.7,0.6,0.5')
      .describe('comma-separated kept fractions (fixed-fraction selection)'),
    mass: z
      .number()
      .gt(0)
      .max(1)
      .nullable()
      .default(0.9)
      .describe('cumulative-mass selection: keep the top scores holding this share of the total'),
    knee: z.boolean().default(false).describe('also select at the knee of the sorted scores'),
    prune: z
      .enum(['lowest', 'highest'])
      .default('lowest')
      .describe('which scores to drop: lowest (spec default, keep the influential) or highest'),
    stratify: z
      .boolean()
      .default(false)
      .describe('select within each class (or each group, for regression) separately'),
    watts: z
      .number()
      .gt(0)
      .default(65)
      .describe('power model, watts (used when RAPL is unreadable)'),
    pue: z.number().min(1).default(1).describe('power usage effectiveness multiplier'),
    gridIntensity: z.number().min(0).default(475).describe('grid carbon intensity, g CO2eq/kWh'),
  })
  .describe('score training samples, prune, retrain, report');

export type ImportanceConfig = z.infer<typeof ImportanceSchema>;
