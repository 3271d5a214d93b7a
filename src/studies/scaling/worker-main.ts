/**
 * Entry point of one child process of the sweep's pool:
 * `node worker-main.js <store> <job.json>`, the job being `{spec, checkpointEvery}`.
 * Trains the run (or continues its interrupted run) and exits 0, or prints the error on stderr
 * and exits 1. Nothing else is printed: the parent reads the run's progress from the run store.
 */
import { readFileSync } from 'node:fs';
import type { ScalingRunSpec } from './config.js';
import { trainScalingRun } from './train-run.js';

const [store, jobFile] = process.argv.slice(2);
if (store === undefined || jobFile === undefined) {
  process.stderr.write('usage: worker-main.js <run-store> <job.json>\n');
  process.exit(2);
}
try {
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as {
    spec: ScalingRunSpec;
    checkpointEvery: number;
  };
  await trainScalingRun(job.spec, store, job.checkpointEvery);
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
