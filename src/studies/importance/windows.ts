/**
 * Windowed forecasting data for the `ucc-5g` preset: the UCC 5G download traces (one trace per
 * CSV file, one row ≈ 1 s). Each sample is a sliding window of the previous W rows of the numeric
 * radio features (DL_bitrate history included) of one trace, flattened into one row of W·F
 * features, and its target is the next row's `DL_bitrate`. Windows never cross traces. The split
 * is chronological within each trace: the first (1 − test fraction) of a trace's windows train,
 * the rest test, so every test window of a trace starts after every training window of it.
 *
 * Missing values (`-` or empty, and the other spellings of src/data/table.ts) are handled as the
 * other presets do: a window whose target is missing is left out; a missing feature cell encodes
 * as 0, the training mean after standardising. Statistics are fitted on training windows only.
 *
 * Dimension legend: W window length (time steps), F features per time step, N windows.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type CsvTable, readCsv } from '../../data/csv.js';
import { DataError } from '../../data/errors.js';
import { type ColumnEncoding, isMissing, type TableEncoding } from '../../data/table.js';
import { Generator } from '../../tensor/random.js';
import type { StudyData } from './data.js';

/** The numeric radio/context features of each time step (the target's history included). */
export const UCC_FEATURES = [
  'Speed',
  'RSRP',
  'RSRQ',
  'SNR',
  'CQI',
  'RSSI',
  'DL_bitrate',
  'UL_bitrate',
  'NRxRSRP',
  'NRxRSRQ',
] as const;
export const UCC_TARGET = 'DL_bitrate';

/** One window: rows `start .. start+W-1` of trace `trace` predict row `start+W`. */
export interface Window {
  trace: number;
  start: number;
}

/** Windows of every trace, split chronologically within each trace. */
export interface WindowSplit {
  train: Window[];
  test: Window[];
}

/** The CSV files of `path`: the file itself, or every `*.csv` below the folder, sorted. */
export function traceFiles(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new DataError(path, `cannot read the data (${(e as Error).message})`);
  }
  if (!isDir) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.toLowerCase().endsWith('.csv')) out.push(p);
    }
  };
  walk(path);
  if (out.length === 0) throw new DataError(path, 'no .csv files in the folder');
  return out;
}

function numberAt(csv: CsvTable, r: number, c: number): number {
  const cell = ((csv.rows[r] as string[])[c] as string).trim();
  if (isMissing(cell) || cell === '-') return Number.NaN;
  const v = Number(cell);
  if (!Number.isFinite(v)) {
    throw new DataError(
      csv.source,
      `line ${csv.lines[r]}: column '${csv.header[c]}' is numeric but holds ` +
        JSON.stringify(cell),
    );
  }
  return v;
}

/** One trace's columns as numbers (NaN where missing): `values[f][row]`. */
export interface Trace {
  source: string;
  lines: number[];
  values: Float64Array[];
  target: Float64Array;
}

/** Reads the feature and target columns of one trace; errors name the file and column or line. */
export function readTrace(csv: CsvTable, features: readonly string[], target: string): Trace {
  const col = (name: string) => {
    const c = csv.header.indexOf(name);
    if (c < 0) {
      throw new DataError(
        csv.source,
        `no column '${name}' (ucc-5g windows need ` +
          `${[...new Set([...features, target])].join(', ')}); ` +
          `the columns are: ${csv.header.join(', ')}`,
      );
    }
    return c;
  };
  const t = col(target);
  const at = features.map(col);
  const n = csv.rows.length;
  return {
    source: csv.source,
    lines: csv.lines,
    values: at.map((c) => Float64Array.from({ length: n }, (_, r) => numberAt(csv, r, c))),
    target: Float64Array.from({ length: n }, (_, r) => numberAt(csv, r, t)),
  };
}

/**
 * Every window of length `W` of each trace whose target is present, split chronologically within
 * the trace: the first `round((1 − testFraction) · n)` windows train, the rest test.
 */
export function splitWindows(
  traces: readonly Trace[],
  W: number,
  testFraction: number,
): WindowSplit {
  const train: Window[] = [];
  const test: Window[] = [];
  traces.forEach((tr, trace) => {
    const windows: Window[] = [];
    for (let start = 0; start + W < tr.target.length; start++) {
      if (!Number.isNaN(tr.target[start + W] as number)) windows.push({ trace, start });
    }
    const nTrain = Math.round(windows.length * (1 - testFraction));
    train.push(...windows.slice(0, nTrain));
    test.push(...windows.slice(nTrain));
  });
  return { train, test };
}

/** A seeded subsample of `list` of about `fraction` of it, in the original order. */
function subsample<T>(list: readonly T[], fraction: number, rng: Generator): T[] {
  if (fraction >= 1) return [...list];
  const idx = rng.shuffle(Array.from(list, (_, i) => i));
  const keep = idx.slice(0, Math.max(1, Math.round(list.length * fraction))).sort((a, b) => a - b);
  return keep.map((i) => list[i] as T);
}

export interface WindowOptions {
  window: number;
  testFraction: number;
  /** At most this many windows in all (train + test, subsampled alike); 0 = all. */
  maxWindows: number;
  seed: number;
  features?: readonly string[];
  target?: string;
}

function meanStd(values: Iterable<number>): { mean: number; std: number } {
  let n = 0;
  let sum = 0;
  let sq = 0;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    n += 1;
    sum += v;
    sq += v * v;
  }
  if (n === 0) return { mean: 0, std: 1 };
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sq / n - mean * mean));
  return { mean, std: std > 0 ? std : 1 };
}

/** The windowed study data plus the windows themselves (for tests and the report). */
export interface WindowedData {
  data: StudyData;
  traces: Trace[];
  /** The window of each encoded row (`data.train` and `data.test` index into it). */
  windows: Window[];
  /** Windows before subsampling. */
  totalWindows: number;
}

/** Reads the traces under `path` and builds windowed, flattened, standardised rows. */
export function loadWindowedData(path: string, options: WindowOptions): WindowedData {
  const features = options.features ?? UCC_FEATURES;
  const target = options.target ?? UCC_TARGET;
  const W = options.window;
  const traces = traceFiles(path).map((f) => readTrace(readCsv(f), features, target));
  const all = splitWindows(traces, W, options.testFraction);
  const totalWindows = all.train.length + all.test.length;
  const fraction =
    options.maxWindows > 0 && totalWindows > options.maxWindows
      ? options.maxWindows / totalWindows
      : 1;
  const rng = new Generator(options.seed).fork('windows');
  const train = subsample(all.train, fraction, rng);
  const test = subsample(all.test, fraction, rng);
  if (train.length < 20 || test.length < 10) {
    throw new DataError(
      path,
      `too few windows for the split: ${train.length} training and ${test.length} test ` +
        `windows of ${W} steps (test fraction ${options.testFraction}); at least 20 and 10 ` +
        'are needed',
    );
  }
  // Statistics on the rows inside training windows, and on training targets.
  const inTrain = traces.map((tr) => new Uint8Array(tr.target.length));
  for (const w of train) (inTrain[w.trace] as Uint8Array).fill(1, w.start, w.start + W);
  const stats = features.map((_, f) =>
    meanStd(
      (function* () {
        for (let k = 0; k < traces.length; k++) {
          const v = (traces[k] as Trace).values[f] as Float64Array;
          const mask = inTrain[k] as Uint8Array;
          for (let r = 0; r < v.length; r++) if (mask[r]) yield v[r] as number;
        }
      })(),
    ),
  );
  const targetStats = meanStd(train.map((w) => (traces[w.trace] as Trace).target[w.start + W]));
  if (train.every((w) => (traces[w.trace] as Trace).target[w.start + W] === targetStats.mean)) {
    throw new DataError(path, `target '${target}' is constant on the training windows`);
  }
  const columns: ColumnEncoding[] = [];
  for (let lag = W; lag >= 1; lag--) {
    features.forEach((name, f) => {
      const s = stats[f] as { mean: number; std: number };
      columns.push({ name: `${name}[t-${lag}]`, kind: 'numeric', mean: s.mean, std: s.std });
    });
  }
  const F = features.length;
  const windows = [...train, ...test];
  const N = windows.length;
  const x = new Float32Array(N * W * F);
  const y = new Float32Array(N);
  const lines = new Int32Array(N);
  const groupIds = new Int32Array(N);
  windows.forEach((w, i) => {
    const tr = traces[w.trace] as Trace;
    for (let s = 0; s < W; s++) {
      for (let f = 0; f < F; f++) {
        const v = (tr.values[f] as Float64Array)[w.start + s] as number;
        const st = stats[f] as { mean: number; std: number };
        x[(i * W + s) * F + f] = Number.isNaN(v) ? 0 : (v - st.mean) / st.std;
      }
    }
    y[i] = ((tr.target[w.start + W] as number) - targetStats.mean) / targetStats.std;
    lines[i] = tr.lines[w.start + W] as number;
    groupIds[i] = w.trace;
  });
  const encoding: TableEncoding = {
    version: 1,
    target,
    task: 'regression',
    columns,
    numFeatures: W * F,
    classes: [],
    targetMean: targetStats.mean,
    targetStd: targetStats.std,
  };
  const data: StudyData = {
    file: path,
    encoding,
    table: {
      features: x,
      targets: y,
      count: N,
      numFeatures: W * F,
      droppedMissingTarget: 0,
      droppedUnknownClass: 0,
    },
    train: Int32Array.from({ length: train.length }, (_, i) => i),
    test: Int32Array.from({ length: test.length }, (_, i) => train.length + i),
    lines,
    groups: traces.length,
    groupIds,
  };
  return { data, traces, windows, totalWindows };
}
