/**
 * `Run`: the handle a training process holds on its own run. The trainer's callbacks call it:
 * `logMetrics` every logged step, `checkpointSaved` after each checkpoint, then exactly one of
 * `finish`, `fail` or `interrupt`. Each of those writes through at once, so a process killed at
 * any point leaves everything it had reported on disk (see `metrics.ts` for the metrics file).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { RunRecord, RunStatus } from './db.js';
import { metricsToJson } from './db.js';
import { RunStoreError } from './errors.js';
import { type Metrics, MetricsWriter, validateMetrics, validateStep } from './metrics.js';

/** What a `Run` needs from its store (kept narrow so the two files stay apart). */
export interface RunContext {
  db: Database.Database;
  /** Reads the run's row as a record. */
  read(id: string): RunRecord;
  now(): number;
  heartbeatMs: number;
  fsyncIntervalMs: number;
}

/** The handle on a running run. Made by `RunStore.create` or `RunStore.resume`. */
export class Run {
  /** The run's folder: config.json, metrics.jsonl, checkpoints/, report.*. */
  readonly dir: string;
  private readonly writer: MetricsWriter;
  private ended: RunStatus | null = null;
  private lastStep: number | null = null;
  private lastBeatMs: number;
  private readonly timer: NodeJS.Timeout;

  /** @internal Use `RunStore.create` or `RunStore.resume`. */
  constructor(
    readonly id: string,
    dir: string,
    private readonly ctx: RunContext,
  ) {
    this.dir = dir;
    this.writer = new MetricsWriter(join(dir, 'metrics.jsonl'), {
      fsyncIntervalMs: ctx.fsyncIntervalMs,
      now: ctx.now,
    });
    this.lastBeatMs = ctx.now();
    // Beats between logged steps too (a long evaluation). unref: it never keeps Node alive.
    this.timer = setInterval(() => {
      try {
        this.beat();
      } catch {
        // Thrown from a timer it would kill the process; the next beat or write will report it.
      }
    }, ctx.heartbeatMs);
    this.timer.unref();
  }

  /** The run as stored now (status, times, final metrics...). */
  record(): RunRecord {
    return this.ctx.read(this.id);
  }

  /**
   * Appends `{step, time, ...metrics}` to metrics.jsonl. Cheap enough for every step: one `write`
   * call; the database is touched only for the heartbeat, at most every `heartbeatMs`.
   * Names are slash-separated (`train/loss`, `val/loss`, `train/lr`, `train/grad_norm`,
   * `train/tokens_per_s`, `train/flops` = cumulative FLOPs counted by the engine).
   */
  logMetrics(step: number, metrics: Metrics): void {
    const where = `run ${this.id}: logMetrics(step ${step})`;
    this.requireRunning(where);
    validateStep(step, where);
    validateMetrics(metrics, where);
    this.writer.append(step, metrics);
    this.lastStep = this.lastStep === null ? step : Math.max(this.lastStep, step);
    if (this.ctx.now() - this.lastBeatMs >= this.ctx.heartbeatMs) this.beat();
  }

  /** The folder for this run's checkpoints (`<run>/checkpoints`), created if missing. */
  checkpointDir(): string {
    const dir = join(this.dir, 'checkpoints');
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Records that a checkpoint of `step` is complete at `path` (after the trainer's rename), so
   * `runs show` and a resume can find it. Also forces the metrics logged so far to disk.
   */
  checkpointSaved(step: number, path: string): void {
    const where = `run ${this.id}: checkpointSaved`;
    this.requireRunning(where);
    validateStep(step, where);
    this.writer.sync();
    this.ctx.db
      .prepare(
        'UPDATE runs SET last_checkpoint_step = ?, last_checkpoint = ?, heartbeat_at = ? ' +
          'WHERE id = ?',
      )
      .run(step, path, this.iso(), this.id);
  }

  /** Marks the run done with its final metrics (e.g. `{'val/loss': 1.52}`). */
  finish(finalMetrics: Metrics = {}): void {
    validateMetrics(finalMetrics, `run ${this.id}: finish`);
    this.end('done', { finalMetrics, error: null });
  }

  /** Marks the run failed; `error`'s message is stored, its stack written to `error.txt`. */
  fail(error: unknown): void {
    const message =
      error instanceof Error ? `${error.name}: ${error.message}` : `Error: ${String(error)}`;
    const stack = error instanceof Error && error.stack !== undefined ? error.stack : message;
    writeFileSync(join(this.dir, 'error.txt'), `${stack}\n`);
    this.end('failed', { finalMetrics: null, error: message });
  }

  /**
   * Marks the run interrupted: stopped on purpose (SIGINT) and resumable. `reason` says how, e.g.
   * 'SIGINT at step 120; checkpoint step 120 written'.
   */
  interrupt(reason = 'interrupted'): void {
    this.end('interrupted', { finalMetrics: null, error: reason });
  }

  private end(
    status: RunStatus,
    info: { finalMetrics: Metrics | null; error: string | null },
  ): void {
    this.requireRunning(`run ${this.id}: ${status === 'done' ? 'finish' : status}`);
    clearInterval(this.timer);
    this.writer.close();
    this.ended = status;
    const now = this.iso();
    this.ctx.db
      .prepare(
        'UPDATE runs SET status = ?, finished_at = ?, heartbeat_at = ?, last_step = ?, ' +
          'final_metrics_json = ?, error = ? WHERE id = ?',
      )
      .run(
        status,
        now,
        now,
        this.lastStep,
        info.finalMetrics === null ? null : metricsToJson(info.finalMetrics),
        info.error,
        this.id,
      );
  }

  private beat(): void {
    if (this.ended !== null || !this.ctx.db.open) return;
    this.lastBeatMs = this.ctx.now();
    try {
      this.ctx.db
        .prepare(
          'UPDATE runs SET heartbeat_at = ?, last_step = coalesce(?, last_step) ' +
            "WHERE id = ? AND status = 'running'",
        )
        .run(this.iso(), this.lastStep, this.id);
    } catch (e) {
      // A missed heartbeat only matters minutes later; a store busy past its timeout must not
      // stop training. Anything else is a real fault.
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
    }
  }

  private requireRunning(where: string): void {
    if (this.ended !== null) {
      throw new RunStoreError(`${where}: the run has already ended (status ${this.ended})`);
    }
  }

  private iso(): string {
    return new Date(this.ctx.now()).toISOString();
  }
}
