/**
 * The steps of one `sextant train` run, each small enough to read on its own: which config and
 * checkpoint to start from, the trainer wired to the run and the progress display, training with
 * Ctrl-C turned into a checkpointed stop, the run's final status, and its report.
 */
import path from 'node:path';
import { DEFAULT_CORPUS } from '../data/text.js';
import { writeRunReport } from '../report/run-report.js';
import {
  DEFAULT_FIELDS,
  formatCount,
  formatLoss,
  formatLr,
  type ProgressField,
  type ProgressReporter,
} from '../runs/progress.js';
import type { Run } from '../runs/run.js';
import type { RunStore } from '../runs/store.js';
import { type Checkpoint, latestCheckpoint, readCheckpoint } from '../train/checkpoint.js';
import {
  type TrainCliOptions,
  TrainImageSchema,
  type TrainingConfig,
  TrainLmSchema,
  TrainTableSchema,
} from '../train/config.js';
import {
  type ConfigSchema,
  ConfigValidationError,
  readConfigFile,
  resolveConfig,
} from '../train/config-resolve.js';
import type { RandomStreams } from '../train/random-streams.js';
import { buildSchedule, type PreparedTraining, type TrainKind } from '../train/setup.js';
import { Trainer, type TrainerOptimizer, type TrainResult } from '../train/trainer.js';
import { flagValues } from './schema-options.js';

/** The config schema of each `train` subcommand. */
export const TRAIN_SCHEMAS: Record<TrainKind, ConfigSchema> = {
  lm: TrainLmSchema,
  image: TrainImageSchema,
  table: TrainTableSchema,
};

/** Where a run starts: its config and, when resuming, the run and its newest checkpoint. */
export interface RunStart {
  config: TrainingConfig;
  resumeFrom: { id: string; checkpoint: Checkpoint } | null;
}

/**
 * The config of a new run (flags over the `--config` file), or, with `--resume`, the saved config
 * and newest checkpoint of the run named there.
 */
export function runStart(
  kind: TrainKind,
  options: Readonly<Record<string, unknown>>,
  cli: TrainCliOptions,
  store: RunStore,
): RunStart {
  const schema = TRAIN_SCHEMAS[kind];
  const flags = flagValues(schema, options);
  if (cli.resume === undefined) {
    const file =
      cli.config !== undefined ? { path: cli.config, values: readConfigFile(cli.config) } : null;
    const config = resolveConfig(schema, {
      ...(file !== null ? { file } : {}),
      flags: flags.values,
      flagNames: flags.names,
    }) as TrainingConfig;
    return { config, resumeFrom: null };
  }
  const id = store.resolve(cli.resume);
  const record = store.get(id);
  if (record.kind !== `train ${kind}`) {
    throw new ConfigValidationError([
      `resume: run ${id} is a '${record.kind}' run, not 'train ${kind}'; resume it with ` +
        `sextant ${record.kind} --resume ${id}`,
    ]);
  }
  // LIMITATION: a resume cannot change anything (not even extend the steps): the schedule and
  // the data order depend on the whole config, and the resumed run must equal a whole one.
  const given = [...Object.values(flags.names), ...(cli.config !== undefined ? ['--config'] : [])];
  if (given.length > 0) {
    throw new ConfigValidationError([
      `resume: a resumed run keeps its saved config (so it continues bitwise); remove ` +
        `${given.join(', ')}, or start a new run`,
    ]);
  }
  const config = resolveConfig(schema, {
    file: { path: `run ${id} config.json`, values: record.config as Record<string, unknown> },
  }) as TrainingConfig;
  const checkpoints = path.join(record.dir, 'checkpoints');
  const latest = latestCheckpoint(checkpoints);
  if (latest === null) {
    throw new ConfigValidationError([
      `resume: run ${id} has no checkpoint in ${checkpoints}; start it again as a new run`,
    ]);
  }
  return { config, resumeFrom: { id, checkpoint: readCheckpoint(latest.dir) } };
}

/** `gpt2 on input.txt`, `mlp on t10k-a-images-idx3-ubyte.gz`; the default data by name. */
export function defaultRunName(kind: TrainKind, config: TrainingConfig): string {
  const fallback = kind === 'lm' ? DEFAULT_CORPUS : 'fashion-mnist';
  const data = config.data !== undefined ? path.basename(config.data) : fallback;
  return `${config.model} on ${data}`;
}

/** The progress line's fields: tokens for language models; samples and accuracy otherwise. */
export function progressFields(kind: TrainKind): readonly ProgressField[] {
  if (kind === 'lm') return DEFAULT_FIELDS;
  return [
    { metric: 'train/loss', label: 'loss', format: formatLoss, width: 6 },
    { metric: 'val/loss', label: 'val', format: formatLoss, width: 6 },
    { metric: 'val/accuracy', label: 'acc', format: (v) => v.toFixed(3), width: 5 },
    { metric: 'train/lr', label: 'lr', format: formatLr, width: 6 },
    {
      metric: 'train/samples_per_s',
      label: 'samples/s',
      format: formatCount,
      width: 7,
      labelAfter: true,
    },
  ];
}

/** The trainer of `prepared`, reporting every step to `run` and `progress`. */
export function makeTrainer(
  config: TrainingConfig,
  prepared: PreparedTraining,
  optimizer: TrainerOptimizer,
  random: RandomStreams,
  run: Run,
  progress: ProgressReporter,
  onCheckpoint: (step: number, dir: string) => void,
): Trainer<unknown> {
  return new Trainer(prepared.task, optimizer, {
    totalSteps: config.steps,
    schedule: buildSchedule(config),
    random,
    gradAccumSteps: config.gradAccum,
    gradClip: config.gradClip,
    evalEvery: config.evalEvery,
    checkpointEvery: config.checkpointEvery,
    checkpointDir: run.checkpointDir(),
    keepCheckpoints: config.keepCheckpoints,
    checkpointFiles: prepared.checkpointFiles,
    callbacks: {
      onStep(step, metrics) {
        run.logMetrics(step, metrics);
        progress.step({ step, totalSteps: config.steps, metrics });
      },
      onCheckpoint(step, dir) {
        run.checkpointSaved(step, dir);
        onCheckpoint(step, dir);
      },
    },
  });
}

/**
 * Runs the trainer with Ctrl-C asking it to checkpoint and stop at the next step boundary (a
 * second Ctrl-C quits at once; the store then shows the run as interrupted). Never rejects: a
 * training error comes back as `failure`.
 */
export async function trainWithSigint(
  trainer: Trainer<unknown>,
  progress: ProgressReporter,
): Promise<{ result: TrainResult | null; failure: Error | null }> {
  let interrupts = 0;
  // SIGTERM (kill, timeout, job schedulers, container stops) is treated as Ctrl-C: a checkpoint
  // at the next step boundary, then a clean stop.
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    trainer.requestStop(signal);
    progress.message(
      `${signal}: stopping after this step with a checkpoint (send it again to quit now)`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return { result: await trainer.run(), failure: null };
  } catch (e) {
    return { result: null, failure: e instanceof Error ? e : new Error(String(e)) };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.done();
  }
}

/** Marks `run` done, interrupted or failed from how training ended; returns the status. */
export function endRun(
  run: Run,
  result: TrainResult | null,
  failure: Error | null,
): 'done' | 'interrupted' | 'failed' {
  if (failure !== null || result === null) {
    run.fail(failure ?? new Error('training ended without a result'));
    return 'failed';
  }
  if (result.status === 'stopped') {
    const ck = result.checkpoint;
    run.interrupt(
      `${result.stopReason ?? 'stopped'} at step ${result.step}` +
        (ck !== null ? `; checkpoint step ${ck.step} written` : ''),
    );
    return 'interrupted';
  }
  run.finish(result.finalMetrics);
  return 'done';
}

/**
 * Writes report.html and report.md of `run` with everything it logged, and a section of the
 * data and model facts. Returns the HTML path, or the reason it could not be written.
 */
export async function writeTrainReport(
  store: RunStore,
  run: Run,
  facts: Readonly<Record<string, string | number>>,
): Promise<{ report: string | null; reportError: string | null }> {
  try {
    const log = store.readMetrics(run.id);
    const paths = await writeRunReport(store.get(run.id), {
      metrics: log.records,
      metricWarnings: log.warnings,
      sections: [
        {
          title: 'Data and model',
          paragraphs: ['As read and built at the start of the run.'],
          table: {
            columns: ['fact', 'value'],
            rows: Object.entries(facts).map(([k, v]) => [k, String(v)]),
          },
        },
      ],
    });
    return { report: paths.html, reportError: null };
  } catch (e) {
    return { report: null, reportError: (e as Error).message };
  }
}
