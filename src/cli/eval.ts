/**
 * `sextant eval <run or checkpoint> --data <file>`: evaluates a saved model on new data and prints
 * its loss (and accuracy for classifiers, perplexity for language models). The model is found as
 * a checkpoint folder, a run folder (its newest checkpoint), or a run id (or a unique prefix of
 * one) in the run store.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { defaultRunsRoot, RunStore } from '../runs/store.js';
import { type EvalOptions, EvalSchema } from '../train/config.js';
import { ConfigValidationError, resolveConfig } from '../train/config-resolve.js';
import { type EvalResult, evaluateCheckpoint } from '../train/evaluate.js';
import { addSchemaOptions, flagValues } from './schema-options.js';
import type { Streams } from './train.js';

/** Adds `sextant eval` to `program`. */
export function registerEvalCommand(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate a saved model (run id, run folder or checkpoint folder) on new data')
    .argument(
      '<run-or-checkpoint>',
      'a run id (or unique prefix), a run folder or a checkpoint folder',
    );
  addSchemaOptions(cmd, EvalSchema);
  cmd.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  $ sextant eval 20250612-1415 --data other.txt',
      '  $ sextant eval runs/20250612-141502-k3f9/checkpoints/step-00001000 --data t.csv --json',
      '',
    ].join('\n'),
  );
  cmd.action(async (target: string, options: Record<string, unknown>) => {
    process.exitCode = await evalCommand(target, options, {
      stdout: process.stdout,
      stderr: process.stderr,
    });
  });
}

/** The folder `target` names: an existing folder as it is, else a run of the store. */
function locate(target: string, options: EvalOptions): string {
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) return target;
  const store = RunStore.open(options.runs ?? defaultRunsRoot(), { create: false });
  try {
    return store.get(store.resolve(target)).dir;
  } finally {
    store.close();
  }
}

/** Runs `sextant eval`; resolves to the exit status (0, 1 failure, 2 bad input). */
export async function evalCommand(
  target: string,
  options: Readonly<Record<string, unknown>>,
  io: Streams,
): Promise<number> {
  let json = false;
  try {
    const flags = flagValues(EvalSchema, options);
    const opts = resolveConfig(EvalSchema, { flags: flags.values, flagNames: flags.names });
    json = opts.json;
    if (opts.data === undefined) {
      throw new ConfigValidationError([
        'data: expected the file to evaluate on, got nothing (the field is required)',
      ]);
    }
    const result = evaluateCheckpoint({
      location: locate(target, opts),
      data: opts.data,
      ...(opts.labels !== undefined ? { labels: opts.labels } : {}),
      batchSize: opts.batchSize,
      maxBatches: opts.maxBatches,
    });
    io.stdout.write(json ? `${JSON.stringify(result)}\n` : formatEval(result));
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (json) io.stdout.write(`${JSON.stringify({ error: message })}\n`);
    io.stderr.write(`sextant eval: ${message}\n`);
    const bad = e instanceof ConfigValidationError || (e as Error).name === 'DataError';
    return bad ? 2 : 1;
  }
}

/** An evaluation as text. */
export function formatEval(r: EvalResult): string {
  const metrics = Object.entries(r.metrics)
    .map(([k, v]) => `  ${k.padEnd(11)} ${v.toFixed(4)}`)
    .join('\n');
  return (
    `${r.model} (${r.kind}) from ${r.checkpoint}, step ${r.step}\n` +
    `on ${r.data}: ${r.items.toLocaleString('en-US')} ${r.itemName}\n${metrics}\n` +
    r.notes.map((n) => `note: ${n}\n`).join('')
  );
}
