/**
 * The SQLite side of the run store: the schema of `runs/sextant.db`, how it is opened so that
 * several processes write at once, and the mapping between its rows and `RunRecord`s.
 *
 * Several writers: the database is in WAL mode (readers never block the writer, and the writer
 * never blocks readers) with a busy timeout, so a writer that finds the write lock held waits for
 * it instead of failing. Every write is one statement (its own transaction) or an IMMEDIATE
 * transaction, so none has to upgrade a read lock, the case where SQLite gives up at once.
 * `synchronous = NORMAL` keeps every committed transaction across a killed process; only a power
 * loss may roll back the last few.
 *
 * LIMITATION: SQLite's locks need a local disk; a store on NFS or SMB may lose writes. Machines
 * that share work should pull from the queue and write to their own store.
 */
import Database from 'better-sqlite3';
import { RunStoreError } from './errors.js';
import type { ProcessIdentity } from './liveness.js';
import type { ReproInfo } from './repro.js';

/** A run's state. `interrupted` covers a SIGINT (checkpoint written) and a killed process. */
export type RunStatus = 'running' | 'done' | 'failed' | 'interrupted';

export const RUN_STATUSES: readonly RunStatus[] = ['running', 'done', 'failed', 'interrupted'];

/** One run as the store knows it. Times are ISO 8601 in UTC, e.g. `2025-06-12T14:15:02.123Z`. */
export interface RunRecord {
  /** `<UTC yyyymmdd>-<hhmmss>-<4 random chars>`, e.g. `20250612-141502-k3f9`: sorts by time. */
  id: string;
  /** Free text given at creation (e.g. 'gpt-tiny lr=3e-4'); not unique. */
  name: string;
  /** What made the run: a command ('train lm') or a study ('scaling'). */
  kind: string;
  status: RunStatus;
  /** sha256 of the canonical JSON of `config` (see `configHash`). */
  configHash: string;
  /** The resolved config, as given to `create`. */
  config: unknown;
  createdAt: string;
  /** When the current (or last) process started on the run: equals `createdAt` until a resume. */
  startedAt: string;
  finishedAt: string | null;
  /** Last sign of life of the owning process (see `liveness.ts`). */
  heartbeatAt: string | null;
  /** Highest step logged, as of the last heartbeat or the end. */
  lastStep: number | null;
  /** The last checkpoint the trainer reported (`Run.checkpointSaved`). */
  lastCheckpoint: { step: number; path: string } | null;
  /** How many times the run was resumed. */
  resumes: number;
  /** The metrics given to `finish`; null until then. */
  finalMetrics: Record<string, number> | null;
  /** Why the run failed or was interrupted; null otherwise. */
  error: string | null;
  /** The process that owns (or last owned) the run. */
  pid: number | null;
  repro: ReproInfo;
  /** The run's folder, absolute: config.json, metrics.jsonl, checkpoints/, report.*. */
  dir: string;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
  config_hash TEXT NOT NULL,
  config_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  heartbeat_at TEXT,
  last_step INTEGER,
  last_checkpoint_step INTEGER,
  last_checkpoint TEXT,
  resumes INTEGER NOT NULL DEFAULT 0,
  final_metrics_json TEXT,
  error TEXT,
  pid INTEGER,
  pid_start TEXT,
  hostname TEXT NOT NULL,
  git_commit TEXT,
  git_dirty INTEGER,
  sextant_version TEXT NOT NULL,
  node_version TEXT NOT NULL,
  backend TEXT,
  blas TEXT,
  threads INTEGER,
  cpu_model TEXT NOT NULL,
  os TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS runs_by_hash ON runs (config_hash, status);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);
`;

/** A row of `runs` as SQLite returns it. */
export interface RunRow {
  id: string;
  name: string;
  kind: string;
  status: RunStatus;
  config_hash: string;
  config_json: string;
  created_at: string;
  started_at: string;
  finished_at: string | null;
  heartbeat_at: string | null;
  last_step: number | null;
  last_checkpoint_step: number | null;
  last_checkpoint: string | null;
  resumes: number;
  final_metrics_json: string | null;
  error: string | null;
  pid: number | null;
  pid_start: string | null;
  hostname: string;
  git_commit: string | null;
  git_dirty: number | null;
  sextant_version: string;
  node_version: string;
  backend: string | null;
  blas: string | null;
  threads: number | null;
  cpu_model: string;
  os: string;
}

/** Opens (creating when needed) the database at `path`, ready for several writers. */
export function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new RunStoreError(
        `${path}: the run database has schema version ${version}, this sextant reads up to ` +
          `${SCHEMA_VERSION}; upgrade sextant or point SEXTANT_RUNS at another folder`,
      );
    }
    if (version < SCHEMA_VERSION) {
      // IMMEDIATE: two processes opening a new store at once create the table one after the other.
      db.transaction(() => {
        db.exec(SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** The columns that say who owns a run and on what it runs, as named statement parameters. */
function ownerParams(owner: ProcessIdentity, repro: ReproInfo) {
  return {
    pid: owner.pid,
    pid_start: owner.startId,
    // The hostname identifies the owner (see liveness.ts), so it is always the owner's own.
    hostname: owner.hostname,
    git_commit: repro.gitCommit,
    git_dirty: repro.gitDirty === null ? null : repro.gitDirty ? 1 : 0,
    sextant_version: repro.sextantVersion,
    node_version: repro.nodeVersion,
    backend: repro.backend,
    blas: repro.blas,
    threads: repro.threads,
    cpu_model: repro.cpuModel,
    os: repro.os,
  };
}

const OWNER_COLUMNS: readonly (keyof ReturnType<typeof ownerParams>)[] = [
  'pid',
  'pid_start',
  'hostname',
  'git_commit',
  'git_dirty',
  'sextant_version',
  'node_version',
  'backend',
  'blas',
  'threads',
  'cpu_model',
  'os',
];

/** Inserts the row of a new run, `running`, owned by `owner`. `now` is an ISO time. */
export function insertRun(
  db: Database.Database,
  run: { id: string; name: string; kind: string; configHash: string; configJson: string },
  owner: ProcessIdentity,
  repro: ReproInfo,
  now: string,
): void {
  const columns = OWNER_COLUMNS.join(', ');
  const values = OWNER_COLUMNS.map((c) => `@${c}`).join(', ');
  db.prepare(
    `INSERT INTO runs (id, name, kind, status, config_hash, config_json, created_at, started_at,
       heartbeat_at, ${columns})
     VALUES (@id, @name, @kind, 'running', @config_hash, @config_json, @now, @now, ` +
      `@now, ${values})`,
  ).run({
    id: run.id,
    name: run.name,
    kind: run.kind,
    config_hash: run.configHash,
    config_json: run.configJson,
    now,
    ...ownerParams(owner, repro),
  });
}

/**
 * Makes `owner` the owner of run `id` again (a resume): status `running`, times and final
 * fields reset, `resumes` + 1, machine facts replaced. Only when the status is still `expected`,
 * so that of two processes resuming at once exactly one gets `true`.
 */
export function claimRun(
  db: Database.Database,
  id: string,
  expected: RunStatus,
  owner: ProcessIdentity,
  repro: ReproInfo,
  now: string,
): boolean {
  const sets = OWNER_COLUMNS.map((c) => `${c} = @${c}`).join(', ');
  const changes = db
    .prepare(
      `UPDATE runs SET status = 'running', started_at = @now, heartbeat_at = @now,
         finished_at = NULL, final_metrics_json = NULL, error = NULL, resumes = resumes + 1,
         ${sets}
       WHERE id = @id AND status = @expected`,
    )
    .run({ id, expected, now, ...ownerParams(owner, repro) }).changes;
  return changes === 1;
}

/** JSON for metrics that may hold NaN or infinities (as strings, like metrics.jsonl). */
export function metricsToJson(metrics: Readonly<Record<string, number>>): string {
  return JSON.stringify(metrics, (_k, v) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  );
}

function metricsFromJson(text: string): Record<string, number> {
  const raw = JSON.parse(text) as Record<string, number | string>;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = typeof v === 'number' ? v : Number(v);
  return out;
}

/** The record for a row; `dir` is the run's folder. */
export function rowToRecord(row: RunRow, dir: string): RunRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    status: row.status,
    configHash: row.config_hash,
    config: JSON.parse(row.config_json) as unknown,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    heartbeatAt: row.heartbeat_at,
    lastStep: row.last_step,
    lastCheckpoint:
      row.last_checkpoint === null || row.last_checkpoint_step === null
        ? null
        : { step: row.last_checkpoint_step, path: row.last_checkpoint },
    resumes: row.resumes,
    finalMetrics: row.final_metrics_json === null ? null : metricsFromJson(row.final_metrics_json),
    error: row.error,
    pid: row.pid,
    repro: {
      gitCommit: row.git_commit,
      gitDirty: row.git_dirty === null ? null : row.git_dirty !== 0,
      sextantVersion: row.sextant_version,
      nodeVersion: row.node_version,
      backend: row.backend,
      blas: row.blas,
      threads: row.threads,
      hostname: row.hostname,
      cpuModel: row.cpu_model,
      os: row.os,
    },
    dir,
  };
}
