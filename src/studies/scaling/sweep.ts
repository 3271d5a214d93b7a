/**
 * The sweep of the scaling study: its plan (which runs, which are already done, estimated FLOPs
 * and time) and a local process pool that trains the missing runs, each in a child process
 * (`worker-main.ts`) with one kernel thread, as many at once as the machine has cores.
 *
 * Library code: progress is reported through `onEvent`, never printed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configHash } from '../../runs/canonical.js';
import type { RunStore } from '../../runs/store.js';
import type { ScalingRunSpec } from './config.js';
import { runName } from './train-run.js';

/** One run of the plan. */
export interface PlannedRun {
  spec: ScalingRunSpec;
  name: string;
  /** What the run is for: 'lr-sweep', 'main', 'ablation', or 'main+ablation' when shared. */
  group: string;
  /** The finished run with the same config, when there is one (it is not trained again). */
  doneRun: string | null;
  /** The step of the checkpoint an interrupted run of this config continues from, or null. */
  resumeStep: number | null;
  /** Checkpoint every this many steps. */
  checkpointEvery: number;
  /** 6 N D with N from `params`, D the training tokens: an estimate for the plan. */
  estimatedFlops: number;
}

export interface SweepPlan {
  runs: PlannedRun[];
  toTrain: number;
  estimatedFlops: number;
  /** Seconds on this machine, from `flopsPerSecond` and the worker count. */
  estimatedSeconds: number;
  workers: number;
  flopsPerSecond: number;
}

/** A spec and what it is for (see `PlannedRun.group`). */
export interface GroupedSpec {
  spec: ScalingRunSpec;
  group: string;
}

/**
 * The plan of `specs` against `store`: which are done (same config hash, status done), which
 * continue an interrupted run from its checkpoint, and what the rest will cost. Specs with the
 * same config hash are one run (an ablation's baseline is the main sweep's run). `params(spec)`
 * counts a run's parameters; `flopsPerSecond` is the measured rate of one worker; each run
 * writes `checkpoints` checkpoints.
 */
export function planSweep(
  store: RunStore,
  specs: readonly GroupedSpec[],
  params: (spec: ScalingRunSpec) => number,
  workers: number,
  flopsPerSecond: number,
  checkpoints = 1,
): SweepPlan {
  const byHash = new Map<string, PlannedRun>();
  for (const { spec, group } of specs) {
    const hash = configHash(spec);
    const seen = byHash.get(hash);
    if (seen !== undefined) {
      if (!seen.group.split('+').includes(group)) seen.group += `+${group}`;
      continue;
    }
    const done = store.findByConfigHash(hash, { status: 'done' });
    const interrupted = store.findByConfigHash(hash, { status: 'interrupted' });
    const resumeStep = interrupted
      .map((r) => r.lastCheckpoint?.step ?? null)
      .filter((s): s is number => s !== null)
      .pop();
    const tokens = spec.steps * spec.batchSize * spec.context;
    byHash.set(hash, {
      spec,
      name: runName(spec),
      group,
      doneRun: done[0]?.id ?? null,
      resumeStep: done.length === 0 ? (resumeStep ?? null) : null,
      checkpointEvery: Math.max(1, Math.ceil(spec.steps / Math.max(1, checkpoints))),
      estimatedFlops: 6 * params(spec) * tokens,
    });
  }
  const runs = [...byHash.values()];
  const pending = runs.filter((r) => r.doneRun === null);
  const flops = pending.reduce((s, r) => s + r.estimatedFlops, 0);
  // The pool is as slow as its busiest worker; the largest run alone bounds it from below.
  const largest = Math.max(0, ...pending.map((r) => r.estimatedFlops));
  const seconds = Math.max(flops / workers, largest) / flopsPerSecond;
  return {
    runs,
    toTrain: pending.length,
    estimatedFlops: flops,
    estimatedSeconds: seconds,
    workers,
    flopsPerSecond,
  };
}

/** What the pool reports while it works. */
export type SweepEvent =
  | { event: 'run-start'; name: string; index: number; total: number }
  | { event: 'run-end'; name: string; ok: boolean; error?: string; seconds: number };

/** Trains every pending run of `plan` with `plan.workers` child processes; resolves at the end. */
export async function runSweep(
  plan: SweepPlan,
  storeRoot: string,
  onEvent: (e: SweepEvent) => void = () => {},
): Promise<{ failed: { name: string; error: string }[] }> {
  const pending = plan.runs.filter((r) => r.doneRun === null);
  // Largest first, so the longest run does not start last.
  pending.sort((a, b) => b.estimatedFlops - a.estimatedFlops);
  const worker = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sextant-scaling-'));
  const failed: { name: string; error: string }[] = [];
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < pending.length) {
      const index = next++;
      const r = pending[index] as PlannedRun;
      const specFile = path.join(tmp, `spec-${index}.json`);
      writeFileSync(specFile, JSON.stringify({ spec: r.spec, checkpointEvery: r.checkpointEvery }));
      onEvent({ event: 'run-start', name: r.name, index, total: pending.length });
      const started = Date.now();
      const error = await child(worker, [storeRoot, specFile]);
      const seconds = (Date.now() - started) / 1000;
      if (error !== null) failed.push({ name: r.name, error });
      onEvent({
        event: 'run-end',
        name: r.name,
        ok: error === null,
        ...(error !== null ? { error } : {}),
        seconds,
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, plan.workers) }, one));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { failed };
}

/** Runs `node script args` with one kernel thread; resolves to null or its error text. */
function child(script: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, SEXTANT_THREADS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', (e) => resolve(e.message));
    p.on('close', (code, signal) => {
      if (code === 0) resolve(null);
      else resolve(err.trim() || `exited with ${signal ?? code}`);
    });
  });
}
