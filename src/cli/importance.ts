/**
 * `sextant importance`: are all training samples important? Scores every training sample by its
 * per-sample gradient norm (and EL2N, loss, forgetting) at every epoch, prunes the lowest, retrains
 * on the rest next to full data and random subsets over several seeds, and writes the study's
 * files and report into a run (src/studies/importance/). The model is an MLP, or for windowed
 * series (ucc-5g) an LSTM by default.
 *
 * Output: the resolved config and progress on stderr, the finding and the report's path on stdout;
 * with `--json`, one JSON object on stdout: per data set and selector, the kept fraction, the
 * metric with its interval and the savings. Exit status: 0 done, 1 failed, 2 bad config or data.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { defaultRunsRoot, RunStore } from '../runs/store.js';
import { type ImportanceConfig, ImportanceSchema } from '../studies/importance/config.js';
import { PRESETS } from '../studies/importance/data.js';
import { finding, resultJson, writeStudyReport } from '../studies/importance/report.js';
import { defaultModel, runImportanceStudy } from '../studies/importance/study.js';
import {
  ConfigValidationError,
  formatConfig,
  readConfigFile,
  resolveConfig,
} from '../train/config-resolve.js';
import { addSchemaOptions, flagValues } from './schema-options.js';
import type { Streams } from './train.js';

/** Options of the command that are not part of the study's config. */
export const ImportanceCliSchema = z.strictObject({
  config: z.string().optional().describe('YAML or JSON file of config fields (flags override it)'),
  runs: z.string().optional().describe('the run store folder (default $SEXTANT_RUNS or ./runs)'),
  json: z.boolean().default(false).describe('print one JSON object of results on stdout'),
});

/** Adds `sextant importance` to `program`. */
export function registerImportanceCommand(program: Command): void {
  const cmd = program
    .command('importance')
    .description('score training samples by gradient norm, prune, retrain, report what is saved');
  addSchemaOptions(cmd, ImportanceSchema);
  addSchemaOptions(cmd, ImportanceCliSchema);
  cmd.addHelpText(
    'after',
    [
      '',
      'Presets (the file is yours to give; where each public data set comes from):',
      ...Object.values(PRESETS).map((p) => `  ${p.name.padEnd(9)} ${p.source}`),
      '',
      'Examples:',
      '  $ sextant importance --preset telco --data Telco-Customer-Churn.csv',
      '  $ sextant importance --preset 5gophers --data all-carriers_01-throughput.csv --json',
      '  $ sextant importance --preset ucc-5g --data 5G-production-dataset/Download --window 10',
      '  $ sextant importance --preset ucc-5g --data Download --model mlp   # flattened windows',
      '  $ sextant importance --data my.csv --target label --keep 0.8,0.6 --seeds 5',
      '',
    ].join('\n'),
  );
  cmd.action(async (options: Record<string, unknown>) => {
    process.exitCode = await importanceCommand(options, {
      stdout: process.stdout,
      stderr: process.stderr,
    });
  });
}

/** Runs `sextant importance`; resolves to the exit status (0, 1 failure, 2 bad input). */
export async function importanceCommand(
  options: Readonly<Record<string, unknown>>,
  io: Streams,
): Promise<number> {
  let json = false;
  try {
    const cliFlags = flagValues(ImportanceCliSchema, options);
    const cli = resolveConfig(ImportanceCliSchema, {
      flags: cliFlags.values,
      flagNames: cliFlags.names,
    });
    json = cli.json;
    const flags = flagValues(ImportanceSchema, options);
    const resolved = resolveConfig(ImportanceSchema, {
      ...(cli.config !== undefined
        ? { file: { path: cli.config, values: readConfigFile(cli.config) } }
        : {}),
      flags: flags.values,
      flagNames: flags.names,
    });
    // The model the preset implies is written into the config, so the run records it.
    const config: ImportanceConfig = Object.freeze({
      ...resolved,
      model: resolved.model ?? defaultModel(resolved),
    });
    io.stderr.write(`sextant importance\n${formatConfig(config)}\n`);
    const result = runImportanceStudy(config, (event) => {
      if (event.kind === 'scoring-epoch') {
        io.stderr.write(`scoring run: epoch ${event.epoch}/${event.epochs}\n`);
      } else if (event.done % 5 === 0 || event.done === event.total) {
        io.stderr.write(`retrain ${event.done}/${event.total}\n`);
      }
    });
    const store = RunStore.open(cli.runs ?? defaultRunsRoot());
    let report: string;
    let runId: string;
    try {
      const run = store.create({
        name: `importance ${result.dataset}`,
        kind: 'importance',
        config: { ...config },
      });
      runId = run.id;
      report = await writeStudyReport(run.dir, result, config, run.id);
      const full = result.conditions.find((c) => c.selector === 'full');
      const values = (full?.metrics ?? []).map((m) => m[result.primary] as number);
      const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
      run.finish(Number.isFinite(mean) ? { [`importance/full_${result.primary}`]: mean } : {});
    } finally {
      store.close();
    }
    if (json) {
      io.stdout.write(`${JSON.stringify({ run: runId, report, ...resultJson(result) })}\n`);
    } else {
      io.stdout.write(`${finding(result)}\nrun ${runId}; report: ${report}\n`);
    }
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (json) io.stdout.write(`${JSON.stringify({ error: message })}\n`);
    io.stderr.write(`sextant importance: ${message}\n`);
    const name = (e as Error).name;
    const bad =
      e instanceof ConfigValidationError || name === 'DataError' || e instanceof RangeError;
    return bad ? 2 : 1;
  }
}
