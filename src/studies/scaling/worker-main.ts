/**
 * Entry point of one child process of the sweep's pool: `node worker-main.js <store> <spec.json>`.
 * Trains the run and exits 0, or prints the error on stderr and exits 1. Nothing else is printed:
 * the parent reads the run's progress from the run store.
 */
import { readFileSync } from 'node:fs';
import type { ScalingRunSpec } from './config.js';
import { trainScalingRun } from './train-run.js';

const [store, specFile] = process.argv.slice(2);
if (store === undefined || specFile === undefined) {
  process.stderr.write('usage: worker-main.js <run-store> <spec.json>\n');
  process.exit(2);
}
try {
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as ScalingRunSpec;
  await trainScalingRun(spec, store);
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
