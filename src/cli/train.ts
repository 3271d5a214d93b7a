/**
 * `sextant train lm | image | table`: one command trains a model on real data as a run in the run
 * store, shows its progress, and writes its report.
 *
 * The flags of each subcommand come from its config schema (src/train/config.ts). A run:
 *   1. resolves the config (flags over `--config` file; or, with `--resume`, the run's own saved
 *      config) and prints it;
 *   2. reads the data and builds the model (bad data fails here, before any run is created);
 *   3. creates the run (or takes over the interrupted one), trains with progress on stderr,
 *      checkpoints into `<run>/checkpoints`, and logs every step's metrics;
 *   4. marks the run done, interrupted (Ctrl-C: checkpoint, then stop) or failed, and writes
 *      report.html and report.md with what exists.
 *
 * Output: text on stdout (config, facts, the result and where the report is) and progress on
 * stderr; with `--json`, JSON lines on stdout: `{"event": "config"}`, `{"event": "start"}`, one
 * progress object per step (`{step, total_steps, eta_s, ...metrics}`), `{"event": "checkpoint"}`,
 * `{"event": "end"}`. Exit status: 0 done, 1 failed, 2 bad config or data, 130 interrupted.
 */
import type { Command } from 'commander';
import { kernels } from '../backends/index.js';
import { formatDuration, ProgressReporter } from '../runs/progress.js';
import type { Run } from '../runs/run.js';
import { defaultRunsRoot, RunStore } from '../runs/store.js';
import { type TrainCliOptions, TrainCliSchema } from '../train/config.js';
import { ConfigValidationError, formatConfig, resolveConfig } from '../train/config-resolve.js';
import { RandomStreams } from '../train/random-streams.js';
import { buildOptimizer, prepareTraining, type TrainKind } from '../train/setup.js';
import { addSchemaOptions, flagValues } from './schema-options.js';
import {
  defaultRunName,
  endRun,
  makeTrainer,
  progressFields,
  type RunStart,
  runStart,
  TRAIN_SCHEMAS,
  trainWithSigint,
  writeTrainReport,
} from './train-run.js';

const DESCRIPTIONS: Record<TrainKind, string> = {
  lm: 'train a language model (gpt2, llama, lstm, transformer) on a text file',
  image: 'train an image classifier (mlp, vit) on IDX files (MNIST, Fashion-MNIST)',
  table: 'train an MLP on a CSV table (classification or regression)',
};

const EXAMPLES: Record<TrainKind, string[]> = {
  lm: [
    '$ sextant train lm                          a small GPT on Moby Dick, a few minutes',
    '$ sextant train lm --data input.txt --model lstm --steps 2000',
    '$ sextant train lm --config run.yaml --lr 3e-4   flags override the file',
    '$ sextant train lm --resume 20250612-1415      continue an interrupted run',
  ],
  image: [
    '$ sextant train image --data t10k-a-images-idx3-ubyte.gz --labels t10k-a-labels-idx1-ubyte.gz',
    '$ sextant train image --data images.gz --labels labels.gz --model vit --patch 7',
  ],
  table: [
    '$ sextant train table --data churn.csv --target Churn',
    '$ sextant train table --data houses.csv --target price --task regression',
  ],
};

/** What a finished `train` command reports (also its `--json` end event). */
export interface TrainOutcome {
  /** 'train lm', 'train image' or 'train table'. */
  kind: string;
  run: string;
  /** The run store's folder. */
  runs: string;
  dir: string;
  status: 'done' | 'interrupted' | 'failed';
  step: number;
  totalSteps: number;
  metrics: Record<string, number>;
  report: string | null;
  error?: string;
}

/** Adds `sextant train lm | image | table` to `program`. */
export function registerTrainCommands(program: Command): void {
  const train = program
    .command('train')
    .description('train a model on real data as a run in the run store, with its report');
  for (const kind of ['lm', 'image', 'table'] as const) {
    const cmd = train.command(kind).description(DESCRIPTIONS[kind]);
    addSchemaOptions(cmd, TRAIN_SCHEMAS[kind]);
    addSchemaOptions(cmd, TrainCliSchema);
    cmd.addHelpText('after', `\nExamples:\n  ${EXAMPLES[kind].join('\n  ')}\n`);
    cmd.action(async (options: Record<string, unknown>) => {
      process.exitCode = await trainCommand(kind, options, {
        stdout: process.stdout,
        stderr: process.stderr,
      });
    });
  }
}

/** Where a command writes. */
export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** Runs `sextant train <kind>` with commander's parsed `options`; resolves to the exit status. */
export async function trainCommand(
  kind: TrainKind,
  options: Readonly<Record<string, unknown>>,
  io: Streams,
): Promise<number> {
  const name = `sextant train ${kind}`;
  let cli: TrainCliOptions = { json: false };
  try {
    const cliFlags = flagValues(TrainCliSchema, options);
    cli = resolveConfig(TrainCliSchema, { flags: cliFlags.values, flagNames: cliFlags.names });
    const outcome = await train(kind, options, cli, io);
    return outcome.status === 'done' ? 0 : outcome.status === 'interrupted' ? 130 : 1;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (cli.json) io.stdout.write(`${JSON.stringify({ event: 'error', error: message })}\n`);
    io.stderr.write(`${name}: ${message}\n`);
    return e instanceof ConfigValidationError || (e as Error).name === 'DataError' ? 2 : 1;
  }
}

/** One run, from its config to its report (see the file comment for the steps). */
async function train(
  kind: TrainKind,
  options: Readonly<Record<string, unknown>>,
  cli: TrainCliOptions,
  io: Streams,
): Promise<TrainOutcome> {
  const out = (text: string) => io.stdout.write(text);
  const event = (e: Record<string, unknown>) => out(`${JSON.stringify(e)}\n`);
  const store = RunStore.open(cli.runs ?? defaultRunsRoot());
  try {
    // 1. The config, printed: the run's own when resuming.
    const start = runStart(kind, options, cli, store);
    const { config, resumeFrom } = start;
    if (cli.json) event({ event: 'config', kind: `train ${kind}`, config });
    else out(`sextant train ${kind}: config\n${formatConfig(config)}\n`);

    // 2. Data and model, from the random streams (restored ones when resuming).
    const random = new RandomStreams(config.seed, resumeFrom?.checkpoint.trainer.random);
    const prepared = prepareTraining(kind, config, random);
    const params = prepared.task.parameters?.() ?? prepared.task.model.parameters();
    const optimizer = buildOptimizer(config, params);

    // 3. The run, and the trainer reporting to it.
    const run = openRun(store, kind, start);
    announceStart(cli, out, event, run, start, prepared.facts);
    const progress = new ProgressReporter({
      stream: cli.json ? io.stdout : io.stderr,
      mode: cli.json ? 'json' : 'auto',
      fields: progressFields(kind),
      everySteps: cli.json ? 1 : Math.max(1, Math.floor(config.steps / 50)),
    });
    const trainer = makeTrainer(config, prepared, optimizer, random, run, progress, (step, dir) => {
      if (cli.json) event({ event: 'checkpoint', step, dir });
      else progress.message(`checkpoint step ${step}: ${dir}`);
    });
    if (resumeFrom !== null) {
      try {
        trainer.restore(resumeFrom.checkpoint);
      } catch (e) {
        run.fail(e); // still resumable once the cause is fixed
        throw e;
      }
    }

    // 4. Train; 5. record how it ended; 6. the report, with whatever the run logged.
    const started = Date.now();
    const { result, failure } = await trainWithSigint(trainer, progress);
    const status = endRun(run, result, failure);
    const { report, reportError } = await writeTrainReport(store, run, prepared.facts);
    const outcome: TrainOutcome = {
      kind: `train ${kind}`,
      run: run.id,
      runs: store.root,
      dir: run.dir,
      status,
      step: trainer.step,
      totalSteps: config.steps,
      metrics: result?.finalMetrics ?? {},
      report,
      ...(failure !== null ? { error: failure.message } : {}),
    };
    if (cli.json) {
      event({ event: 'end', ...outcome, ...(reportError !== null ? { reportError } : {}) });
    } else {
      out(formatOutcome(outcome, (Date.now() - started) / 1000, reportError));
      if (failure !== null) io.stderr.write(`sextant train ${kind}: ${failure.message}\n`);
    }
    return outcome;
  } finally {
    store.close();
  }
}

/** A new run in `store`, or the interrupted one taken over from its checkpoint's step. */
function openRun(store: RunStore, kind: TrainKind, start: RunStart): Run {
  const { config, resumeFrom } = start;
  if (resumeFrom !== null) {
    return store.resume(resumeFrom.id, { fromStep: resumeFrom.checkpoint.trainer.step });
  }
  const name = config.name ?? defaultRunName(kind, config);
  return store.create({ name, kind: `train ${kind}`, config });
}

/** Prints the run, its data and model facts, and the backend. */
function announceStart(
  cli: TrainCliOptions,
  out: (text: string) => void,
  event: (e: Record<string, unknown>) => void,
  run: Run,
  start: RunStart,
  facts: Readonly<Record<string, string | number>>,
): void {
  const k = kernels();
  const backend = `${k.name} (${k.blas}, ${k.threads()} threads)`;
  const from = start.resumeFrom?.checkpoint ?? null;
  if (cli.json) {
    event({
      event: 'start',
      run: run.id,
      dir: run.dir,
      resumedFrom: from?.dir ?? null,
      facts,
      backend,
    });
    return;
  }
  out(`data and model:\n${formatConfig(facts)}\nbackend: ${backend}\n`);
  out(
    from !== null
      ? `resuming run ${run.id} from step ${from.trainer.step} (${from.dir})\n`
      : `run ${run.id} in ${run.dir}\n`,
  );
}

/** The closing lines of a text-mode run. */
export function formatOutcome(
  o: TrainOutcome,
  seconds: number,
  reportError: string | null,
): string {
  const shown = ['train/loss', 'val/loss', 'val/accuracy', 'val/rmse']
    .filter((m) => o.metrics[m] !== undefined)
    .map((m) => `${m} ${(o.metrics[m] as number).toFixed(4)}`);
  const lines = [
    `${o.status} after ${formatDuration(seconds)}: step ${o.step}/${o.totalSteps}` +
      (shown.length > 0 ? `  ${shown.join('  ')}` : ''),
  ];
  if (o.status === 'interrupted') {
    const runs = o.runs !== defaultRunsRoot() ? ` --runs ${o.runs}` : '';
    lines.push(`resume with: sextant ${o.kind} --resume ${o.run}${runs}`);
  }
  lines.push(o.report !== null ? `report: ${o.report}` : `report not written: ${reportError}`);
  return `${lines.join('\n')}\n`;
}
