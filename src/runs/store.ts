/**
 * The run store: where every run's config, metrics, checkpoints and reports live, and the index
 * that finds them again.
 *
 * On disk, under a root folder (`./runs` by default, `SEXTANT_RUNS` or the `root` argument):
 *
 *     runs/sextant.db            one row per run (see db.ts for the columns)
 *     runs/<id>/config.json      the resolved config, as given to `create`
 *     runs/<id>/metrics.jsonl    one JSON line per logged step (see metrics.ts)
 *     runs/<id>/checkpoints/     for the trainer's checkpoints
 *     runs/<id>/error.txt        the stack of a failed run
 *     runs/<id>/report.html, report.md, plots/*.svg   written by src/report
 *
 * Run ids are `<UTC yyyymmdd>-<hhmmss>-<4 random chars>` (`20250612-141502-k3f9`): they sort by
 * start time, can be typed, and two processes starting in the same second still differ (the
 * folder is created exclusively, so a clash just draws again). Commands accept any unique prefix.
 *
 * The trainer never sees the store: the CLI creates a `Run` and passes its methods as the
 * trainer's callbacks. Every read (`get`, `list`, `findByConfigHash`...) first marks `running`
 * runs whose process is gone as `interrupted` (see liveness.ts), so a SIGKILLed run shows as
 * interrupted the next time anyone looks.
 */
import { randomInt } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { canonicalJson, configHash } from './canonical.js';
import { metricsCsv } from './csv.js';
import {
  claimRun,
  insertRun,
  openDatabase,
  RUN_STATUSES,
  type RunRecord,
  type RunRow,
  type RunStatus,
  rowToRecord,
} from './db.js';
import { RunNotFoundError, RunStoreError } from './errors.js';
import { currentProcess, whyOwnerIsGone } from './liveness.js';
import {
  lastLoggedStep,
  type MetricsLog,
  parseMetricsText,
  readMetricsFile,
  validateStep,
} from './metrics.js';
import { collectReproInfo, type ReproInfo } from './repro.js';
import { Run, type RunContext } from './run.js';

export interface RunStoreOptions {
  /** Create the folder and database when missing (default true; false throws instead). */
  create?: boolean;
  /** How long a writer waits for another's lock before failing, ms (default 10 000). */
  busyTimeoutMs?: number;
  /** Heartbeat period of running runs, ms (default 10 000). */
  heartbeatMs?: number;
  /** A run on another host with no heartbeat for this long is interrupted, ms (default 600 000). */
  staleAfterMs?: number;
  /** Least time between two fsyncs of a metrics file, ms (default 10 000; see metrics.ts). */
  fsyncIntervalMs?: number;
  /** The clock, ms since the epoch (injected by tests). */
  now?: () => number;
}

/** What `RunStore.create` needs. */
export interface NewRun {
  /** Free text for people ('gpt-tiny lr=3e-4'). */
  name: string;
  /** What made the run: 'train lm', 'scaling'... */
  kind: string;
  /** The resolved config: JSON values only (checked; its hash finds the run again). */
  config: unknown;
  /**
   * Overrides of the reproducibility facts gathered from this process (e.g. a worker that knows
   * better). The hostname is always this process's: it identifies the run's owner.
   */
  repro?: Partial<ReproInfo>;
}

/** Filters of `RunStore.list`. */
export interface RunFilter {
  status?: RunStatus | readonly RunStatus[];
  kind?: string;
  name?: string;
  /** At most this many runs, newest first. */
  limit?: number;
}

/** The folder of the store: `SEXTANT_RUNS` when set, else `./runs` (absolute). */
export function defaultRunsRoot(): string {
  const env = process.env.SEXTANT_RUNS;
  return resolve(env !== undefined && env !== '' ? env : 'runs');
}

const DB_FILE = 'sextant.db';

/** The run store over one root folder. Open one per process; close it when done. */
export class RunStore {
  /** The store's folder, absolute. */
  readonly root: string;
  /** The SQLite database file. */
  readonly dbPath: string;
  private readonly db: Database.Database;
  private readonly ctx: RunContext;
  private readonly staleAfterMs: number;
  private readonly now: () => number;

  private constructor(root: string, db: Database.Database, options: RunStoreOptions) {
    this.root = root;
    this.dbPath = join(root, DB_FILE);
    this.db = db;
    this.now = options.now ?? Date.now;
    this.staleAfterMs = options.staleAfterMs ?? 600_000;
    this.ctx = {
      db,
      read: (id) => this.get(id),
      now: this.now,
      heartbeatMs: options.heartbeatMs ?? 10_000,
      fsyncIntervalMs: options.fsyncIntervalMs ?? 10_000,
    };
  }

  /** Opens the store at `root` (default `defaultRunsRoot()`), creating it unless told not to. */
  static open(root: string = defaultRunsRoot(), options: RunStoreOptions = {}): RunStore {
    const abs = resolve(root);
    if (!RunStore.exists(abs)) {
      if (options.create === false) {
        throw new RunStoreError(
          `no run store at ${abs} (no ${DB_FILE} there); set SEXTANT_RUNS or pass the folder`,
        );
      }
      if (existsSync(abs) && !statSync(abs).isDirectory()) {
        throw new RunStoreError(`run store ${abs}: expected a folder, got a file`);
      }
      mkdirSync(abs, { recursive: true });
    }
    const db = openDatabase(join(abs, DB_FILE), options.busyTimeoutMs ?? 10_000);
    return new RunStore(abs, db, options);
  }

  /** Whether `root` holds a store (its database file exists). */
  static exists(root: string = defaultRunsRoot()): boolean {
    return existsSync(join(resolve(root), DB_FILE));
  }

  /** Closes the database. Runs still held by this process stop beating and can no longer write. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The folder of run `id` (whether or not it exists). */
  runDir(id: string): string {
    return join(this.root, id);
  }

  /**
   * Starts a run: creates its folder with config.json, metrics.jsonl and checkpoints/, inserts its
   * row (status `running`, this process as owner, reproducibility facts) and returns the handle.
   */
  create(spec: NewRun): Run {
    for (const field of ['name', 'kind'] as const) {
      if (typeof spec[field] !== 'string' || spec[field] === '') {
        throw new RunStoreError(
          `RunStore.create: ${field} must be a non-empty string, got ${JSON.stringify(
            spec[field],
          )}`,
        );
      }
    }
    const canonical = canonicalJson(spec.config); // throws, naming the field, for non-JSON
    const hash = configHash(spec.config);
    const repro = { ...collectReproInfo(), ...spec.repro };
    const owner = currentProcess();
    const { id, dir } = this.makeRunFolder();
    try {
      writeAtomic(join(dir, 'config.json'), `${JSON.stringify(spec.config, null, 2)}\n`);
      mkdirSync(join(dir, 'checkpoints'));
      const now = new Date(this.now()).toISOString();
      insertRun(
        this.db,
        { id, name: spec.name, kind: spec.kind, configHash: hash, configJson: canonical },
        owner,
        repro,
        now,
      );
    } catch (e) {
      rmSync(dir, { recursive: true, force: true }); // no folder without a row
      throw e;
    }
    return new Run(id, dir, this.ctx);
  }

  /**
   * Takes over an interrupted or failed run to continue it: status back to `running`, this
   * process as owner (and its machine as the reproducibility facts), `resumes` + 1. With
   * `fromStep` (the step of the checkpoint resumed from), metric lines of later steps are dropped,
   * since the resumed run logs them again.
   */
  resume(idOrPrefix: string, options: { fromStep?: number } = {}): Run {
    if (options.fromStep !== undefined) validateStep(options.fromStep, `resume run ${idOrPrefix}`);
    const id = this.resolve(idOrPrefix);
    const before = this.get(id);
    if (before.status === 'running' || before.status === 'done') {
      const who =
        before.status === 'running' ? ` (process ${before.pid} on ${before.repro.hostname})` : '';
      throw new RunStoreError(
        `resume run ${id}: expected status interrupted or failed, got ${before.status}${who}`,
      );
    }
    const now = new Date(this.now()).toISOString();
    if (!claimRun(this.db, id, before.status, currentProcess(), collectReproInfo(), now)) {
      throw new RunStoreError(`resume run ${id}: another process resumed or changed it first`);
    }
    if (options.fromStep !== undefined) {
      dropMetricsAfter(join(before.dir, 'metrics.jsonl'), options.fromStep);
    }
    return new Run(id, before.dir, this.ctx);
  }

  /** The run `id` (exact id). Throws `RunNotFoundError` when there is none. */
  get(id: string): RunRecord {
    this.reconcile();
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (row === undefined) throw this.notFound(id);
    return rowToRecord(row, this.runDir(row.id));
  }

  /**
   * The full id of the run whose id is `idOrPrefix` or starts with it. Throws when none or
   * several match (the error lists them).
   */
  resolve(idOrPrefix: string): string {
    if (idOrPrefix === '') throw new RunStoreError(`run store ${this.root}: empty run id`);
    const exact = this.db.prepare('SELECT id FROM runs WHERE id = ?').get(idOrPrefix);
    if (exact !== undefined) return idOrPrefix;
    const like = `${idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const ids = this.db
      .prepare("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6")
      .pluck()
      .all(like) as string[];
    if (ids.length === 1) return ids[0] as string;
    if (ids.length === 0) throw this.notFound(idOrPrefix);
    const count = ids.length > 5 ? 'more than 5' : String(ids.length);
    throw new RunStoreError(
      `run '${idOrPrefix}' is ambiguous in ${this.root}: it starts ${count} ids ` +
        `(${ids.slice(0, 5).join(', ')}); give more characters`,
    );
  }

  /** Runs matching `filter`, newest first. */
  list(filter: RunFilter = {}): RunRecord[] {
    this.reconcile();
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.status !== undefined) {
      const statuses: readonly RunStatus[] =
        typeof filter.status === 'string' ? [filter.status] : filter.status;
      for (const s of statuses) {
        if (!RUN_STATUSES.includes(s)) {
          throw new RunStoreError(
            `list: status must be one of ${RUN_STATUSES.join(', ')}, got '${s}'`,
          );
        }
      }
      where.push(`status IN (${statuses.map(() => '?').join(', ')})`);
      params.push(...statuses);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    if (filter.name !== undefined) {
      where.push('name = ?');
      params.push(filter.name);
    }
    let sql = 'SELECT * FROM runs';
    if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
    sql += ' ORDER BY created_at DESC, rowid DESC';
    if (filter.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(filter.limit);
    }
    const rows = this.db.prepare(sql).all(...params) as RunRow[];
    return rows.map((r) => rowToRecord(r, this.runDir(r.id)));
  }

  /**
   * Runs whose config hashes to `hash` (see `configHash`), oldest first; with `status`, only
   * those. A sweep skips a config when `findByConfigHash(configHash(c), {status: 'done'})` is
   * not empty.
   */
  findByConfigHash(hash: string, options: { status?: RunStatus } = {}): RunRecord[] {
    this.reconcile();
    const rows = (
      options.status === undefined
        ? this.db
            .prepare('SELECT * FROM runs WHERE config_hash = ? ORDER BY created_at, rowid')
            .all(hash)
        : this.db
            .prepare(
              'SELECT * FROM runs WHERE config_hash = ? AND status = ? ORDER BY created_at, rowid',
            )
            .all(hash, options.status)
    ) as RunRow[];
    return rows.map((r) => rowToRecord(r, this.runDir(r.id)));
  }

  /**
   * Deletes run `id`: its row, then its folder. A run still running in a live process is refused
   * unless `force` (its process would keep writing into a deleted folder).
   */
  remove(idOrPrefix: string, options: { force?: boolean } = {}): void {
    const id = this.resolve(idOrPrefix);
    const run = this.get(id); // reconciles first: a dead owner no longer counts as running
    if (run.status === 'running' && options.force !== true) {
      throw new RunStoreError(
        `remove run ${id}: it is running (process ${run.pid} on ${run.repro.hostname}); ` +
          'stop it first, or force the removal',
      );
    }
    this.db.prepare('DELETE FROM runs WHERE id = ?').run(id);
    rmSync(run.dir, { recursive: true, force: true });
  }

  /** The metrics of run `id`, with warnings for lines that were skipped (torn by a kill). */
  readMetrics(idOrPrefix: string): MetricsLog {
    const id = this.resolve(idOrPrefix);
    return readMetricsFile(join(this.runDir(id), 'metrics.jsonl'));
  }

  /** The metrics of run `id` as CSV text (see csv.ts for the layout). */
  exportCsv(idOrPrefix: string): string {
    return metricsCsv(this.readMetrics(idOrPrefix).records);
  }

  /**
   * Marks as `interrupted` every running run whose process is gone (see liveness.ts), and returns
   * their ids. Every read calls it; it costs one indexed query when nothing is running.
   */
  reconcile(): string[] {
    const running = this.db
      .prepare(
        "SELECT id, pid, hostname, pid_start, heartbeat_at FROM runs WHERE status = 'running'",
      )
      .all() as Pick<RunRow, 'id' | 'pid' | 'hostname' | 'pid_start' | 'heartbeat_at'>[];
    const marked: string[] = [];
    const nowMs = this.now();
    for (const r of running) {
      const why = whyOwnerIsGone(
        { pid: r.pid, hostname: r.hostname, pidStart: r.pid_start, heartbeatAt: r.heartbeat_at },
        nowMs,
        this.staleAfterMs,
      );
      if (why === null) continue;
      // Matching pid and heartbeat too: if the owner finished, or another process resumed the
      // run, between our read and this write, the row is left alone.
      const changed = this.db
        .prepare(
          `UPDATE runs SET status = 'interrupted', finished_at = ?, error = ?,
             last_step = coalesce(?, last_step)
           WHERE id = ? AND status = 'running' AND pid IS ? AND heartbeat_at IS ?`,
        )
        .run(
          new Date(nowMs).toISOString(),
          why,
          lastLoggedStep(join(this.runDir(r.id), 'metrics.jsonl')),
          r.id,
          r.pid,
          r.heartbeat_at,
        ).changes;
      if (changed === 1) marked.push(r.id);
    }
    return marked;
  }

  private makeRunFolder(): { id: string; dir: string } {
    for (let attempt = 0; attempt < 20; attempt++) {
      const id = newRunId(this.now());
      const dir = this.runDir(id);
      try {
        mkdirSync(dir); // not recursive: fails when the id is taken, which is the point
        return { id, dir };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    throw new RunStoreError(`run store ${this.root}: could not find a free run id in 20 draws`);
  }

  private notFound(id: string): RunNotFoundError {
    return new RunNotFoundError(
      `no run '${id}' in ${this.root} (ids look like 20250612-141502-k3f9; ` +
        '`sextant runs ls` lists them)',
    );
  }
}

// Crockford's base 32 without the letters read as digits (i, l, o) or as a word (u).
const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A new run id for time `nowMs`: `yyyymmdd-hhmmss-xxxx` in UTC. */
export function newRunId(nowMs: number): string {
  const iso = new Date(nowMs).toISOString(); // 2025-06-12T14:15:02.123Z
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
  let suffix = '';
  // Ids need to differ, not to be reproducible: the OS random source is the right one here.
  for (let i = 0; i < 4; i++) suffix += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return `${stamp}-${suffix}`;
}

/** Writes `text` to `path` through a temporary file and a rename: readers see old or new. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Rewrites a metrics file without the lines of steps after `step` (and without torn lines). */
function dropMetricsAfter(path: string, step: number): void {
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const kept = text
    .split('\n')
    .filter((line) => {
      const { records } = parseMetricsText(line, path);
      return records.length === 1 && (records[0] as { step: number }).step <= step;
    })
    .map((line) => `${line}\n`)
    .join('');
  writeAtomic(path, kept);
}
