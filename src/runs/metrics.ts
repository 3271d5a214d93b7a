/**
 * `metrics.jsonl`: the per-step metrics of one run, one JSON object per line.
 *
 * Each line is `{"step": 120, "time": 1718200000.123, "train/loss": 2.31, ...}`: the step the
 * trainer counts, the wall-clock time of the append (Unix seconds, millisecond precision), then
 * the metrics as given, slash-named (`train/loss`, `val/loss`, `train/lr`...). JSON has no NaN or
 * infinity, so those are written as the strings "NaN", "Infinity", "-Infinity" and read back as
 * numbers. Several lines may share a step (train and validation metrics logged apart);
 * `mergeByStep` joins them.
 *
 * Standard names, which the run report plots and the progress line shows:
 *   `train/loss`          mean training loss of the step's batch (over all its micro-batches)
 *   `val/loss`            mean loss on the fixed held-out set, at evaluation steps
 *   `train/lr`            learning rate the optimiser used at the step
 *   `train/grad_norm`     global L2 norm of the gradients, before clipping
 *   `train/tokens_per_s`  throughput since the previous logged step
 *   `train/flops`         cumulative FLOPs since the start of training, from the engine's counter
 *                         (log it at evaluation steps too: loss-vs-FLOPs pairs values by step)
 * Any other slash-named number may be logged; it is kept, exported and shown by `runs show`.
 *
 * Append and fsync policy. A line goes to the file in one `write` on a descriptor opened for
 * appending, so once `append` returns, the line is in the kernel's page cache: a SIGKILL of the
 * process after that loses nothing. `fdatasync` (which costs milliseconds) runs at most once per
 * `fsyncIntervalMs` (default 10 s) and on `sync()`/`close()`, so a power loss or kernel crash may
 * lose the last few seconds of lines but never earlier ones. A line torn by such a crash (no final
 * newline) is skipped by the reader with a warning; writers reopening the file start a fresh line.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from 'node:fs';
import { RunStoreError } from './errors.js';

/** One line of `metrics.jsonl`: the step, the append time, and the metrics. */
export interface MetricRecord {
  step: number;
  /** Unix time of the append, seconds (absent in lines written by other tools). */
  time?: number;
  [metric: string]: number | undefined;
}

/** Metric values as the trainer reports them, keyed by slash-separated names (`train/loss`). */
export type Metrics = Readonly<Record<string, number>>;

/** The records read from a metrics file, and what was skipped on the way (torn or bad lines). */
export interface MetricsLog {
  records: MetricRecord[];
  /** One sentence per skipped line, naming the file and line number. Empty when all was read. */
  warnings: string[];
}

export interface MetricsWriterOptions {
  /** Least time between two `fdatasync` calls, ms (default 10 000; 0 syncs every append). */
  fsyncIntervalMs?: number;
  /** The clock, ms since the epoch (injected by tests). */
  now?: () => number;
}

const RESERVED = new Set(['step', 'time']);

/**
 * Checks `metrics` as `logMetrics` and `finish` take them: names non-empty and not `step` or
 * `time`, values numbers (NaN and infinities allowed: they are what a diverging run reports).
 * `where` starts the error message (`run 20250612-...: logMetrics(step 12)`).
 */
export function validateMetrics(metrics: unknown, where: string): asserts metrics is Metrics {
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) {
    throw new RunStoreError(`${where}: metrics must be an object of numbers, got ${show(metrics)}`);
  }
  for (const [name, value] of Object.entries(metrics)) {
    if (name === '' || RESERVED.has(name)) {
      throw new RunStoreError(
        `${where}: metric name ${JSON.stringify(name)} is reserved or empty; ` +
          "use a slash-named metric such as 'train/loss'",
      );
    }
    if (typeof value !== 'number') {
      throw new RunStoreError(`${where}: metric '${name}' must be a number, got ${show(value)}`);
    }
  }
}

/** Validates a step: a non-negative safe integer. */
export function validateStep(step: unknown, where: string): asserts step is number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new RunStoreError(`${where}: step must be a non-negative integer, got ${show(step)}`);
  }
}

/** The JSON line (with its newline) for one record; non-finite numbers become strings. */
export function encodeMetricLine(step: number, timeS: number, metrics: Metrics): string {
  const row: Record<string, number | string> = { step, time: Math.round(timeS * 1000) / 1000 };
  for (const [name, value] of Object.entries(metrics)) {
    row[name] = Number.isFinite(value) ? value : String(value);
  }
  return `${JSON.stringify(row)}\n`;
}

/** Appends metric lines to one file; see the file comment for what survives a crash. */
export class MetricsWriter {
  private fd: number | null;
  private lastSyncMs: number;
  private readonly fsyncIntervalMs: number;
  private readonly now: () => number;

  /** Opens `path` for appending (creating it). A torn last line is closed with a newline first. */
  constructor(
    readonly path: string,
    options: MetricsWriterOptions = {},
  ) {
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.fd = openSync(path, 'a');
    this.lastSyncMs = this.now();
    const size = fstatSync(this.fd).size;
    if (size > 0 && !endsWithNewline(path, size)) {
      // A previous writer died mid-line. Without this newline our first line would be glued to
      // the fragment and both would be lost; with it only the fragment is skipped when read.
      writeSync(this.fd, '\n');
    }
  }

  /** Appends one line: `{step, time, ...metrics}`. Validate before calling (`validateMetrics`). */
  append(step: number, metrics: Metrics): void {
    const fd = this.requireOpen();
    const now = this.now();
    writeAll(fd, Buffer.from(encodeMetricLine(step, now / 1000, metrics)));
    if (now - this.lastSyncMs >= this.fsyncIntervalMs) {
      fdatasyncSync(fd);
      this.lastSyncMs = now;
    }
  }

  /** Forces the lines written so far to disk. */
  sync(): void {
    fdatasyncSync(this.requireOpen());
    this.lastSyncMs = this.now();
  }

  /** Syncs and closes; later appends throw. Closing twice is allowed. */
  close(): void {
    if (this.fd === null) return;
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }

  private requireOpen(): number {
    if (this.fd === null) throw new RunStoreError(`${this.path}: the metrics writer is closed`);
    return this.fd;
  }
}

/**
 * Reads a metrics file. A missing file is an empty log. Lines that do not parse are skipped and
 * named in `warnings` (the last line, torn by a killed writer, is the usual one); nothing throws
 * for bad content.
 */
export function readMetricsFile(path: string): MetricsLog {
  let text: string;
  try {
    // LIMITATION: the whole file is read into memory; fine up to a few hundred MB of lines.
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], warnings: [] };
    throw e;
  }
  return parseMetricsText(text, path);
}

/** Parses the text of a metrics file; `file` only names it in warnings. */
export function parseMetricsText(text: string, file: string): MetricsLog {
  const lines = text.split('\n');
  const records: MetricRecord[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const last = i === lines.length - 1; // no newline after it
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      const what = last
        ? 'torn last line (no newline: the writer was probably killed mid-append)'
        : 'line is not valid JSON';
      warnings.push(`${file}:${i + 1}: ${what}; skipped: ${clip(line)}`);
      continue;
    }
    const record = decodeRecord(parsed);
    if (typeof record === 'string') {
      warnings.push(`${file}:${i + 1}: ${record}; skipped: ${clip(line)}`);
      continue;
    }
    records.push(record);
  }
  return { records, warnings };
}

/**
 * Joins records that share a step into one (later lines win for a metric logged twice), sorted by
 * step. `time` is that of the last line of the step.
 */
export function mergeByStep(records: readonly MetricRecord[]): MetricRecord[] {
  const byStep = new Map<number, MetricRecord>();
  for (const r of records) {
    const prev = byStep.get(r.step);
    byStep.set(r.step, prev === undefined ? { ...r } : Object.assign(prev, r));
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The metric names present in `records`, sorted, without `step` and `time`. */
export function metricNames(records: readonly MetricRecord[]): string[] {
  const names = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) if (!RESERVED.has(k)) names.add(k);
  return [...names].sort();
}

/** The last logged value of each metric (by step, then by line order). */
export function lastValues(records: readonly MetricRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of mergeByStep(records)) {
    for (const [k, v] of Object.entries(r)) if (!RESERVED.has(k) && v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * The highest step among the last lines of a metrics file (its last 64 KiB), without reading the
 * rest; null when none can be read. Used to fill in the last step of a run that was killed.
 */
export function lastLoggedStep(path: string): number | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 65_536);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    // The first line may be cut by the window and the last torn by a kill: the parser skips both.
    const { records } = parseMetricsText(buf.toString('utf8'), path);
    return records.length === 0 ? null : Math.max(...records.map((r) => r.step));
  } finally {
    closeSync(fd);
  }
}

function decodeRecord(parsed: unknown): MetricRecord | string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return `expected a JSON object, got ${show(parsed)}`;
  }
  const obj = parsed as Record<string, unknown>;
  if (typeof obj.step !== 'number' || !Number.isFinite(obj.step)) {
    return `expected a numeric "step", got ${show(obj.step)}`;
  }
  const record: MetricRecord = { step: obj.step };
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'step') continue;
    const n = decodeNumber(v);
    if (n === undefined) return `metric "${k}" is not a number: ${show(v)}`;
    record[k] = n;
  }
  return record;
}

function decodeNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return undefined;
}

function endsWithNewline(path: string, size: number): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Buffer): void {
  // One write in practice (regular files take the whole buffer); the loop covers short writes.
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function clip(line: string): string {
  return line.length > 60 ? `${JSON.stringify(line.slice(0, 60))}...` : JSON.stringify(line);
}

function show(v: unknown): string {
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  return `${typeof v} ${typeof v === 'object' ? '' : String(v)}`.trim();
}
