/**
 * Turning a CSV table into numbers a network can learn from, and the same again on new data.
 *
 * `fitTableEncoding` looks at the columns and decides, recording every decision in a JSON-able
 * `TableEncoding` (saved with the model, so `eval` encodes new files the same way):
 *
 * - the target column: classification when it is not numeric, or holds at most
 *   `maxClassValues` (10) distinct integers; regression otherwise (overridable). Rows whose target
 *   is missing are left out. Regression targets are standardised for training.
 * - numeric columns (every present value a number): standardised with the mean and standard
 *   deviation of the rows the encoding is fitted on; a missing value becomes the mean (0).
 * - categorical columns with at most `maxCategories` (20) distinct values: one-hot (or ordinal
 *   when asked); a missing or unseen value is all zeros. More values: ordinal codes (the
 *   categories in sorted order, standardised). A column whose every value differs (an
 *   identifier, like `customerID`), a constant column and an empty column are dropped.
 *
 * Missing values are empty cells and the usual markers: NA, N/A, NaN, null, None, ? (any case).
 */
import type { CsvTable } from './csv.js';
import { DataError } from './errors.js';

export type TableTask = 'classification' | 'regression';

/** How one input column becomes features. */
export type ColumnEncoding =
  | { name: string; kind: 'numeric'; mean: number; std: number }
  | { name: string; kind: 'onehot'; categories: string[] }
  | { name: string; kind: 'ordinal'; categories: string[]; mean: number; std: number }
  | { name: string; kind: 'dropped'; reason: string };

/** Everything needed to encode a table the same way again. Plain JSON. */
export interface TableEncoding {
  version: 1;
  target: string;
  task: TableTask;
  /** Every column but the target, in the file's order. */
  columns: ColumnEncoding[];
  /** Features per row. */
  numFeatures: number;
  /** Classification: the class names; class id = index. */
  classes: string[];
  /** Regression: the target's mean and standard deviation on the fitted rows. */
  targetMean: number;
  targetStd: number;
}

export interface FitOptions {
  /** The column to predict. */
  target: string;
  /** Force the task; default inferred from the target. */
  task?: TableTask;
  /** Columns to leave out. */
  ignore?: readonly string[];
  /** Categorical columns with more distinct values get ordinal codes; default 20. */
  maxCategories?: number;
  /** 'onehot' (default) or 'ordinal' for categorical columns within `maxCategories`. */
  categorical?: 'onehot' | 'ordinal';
  /** A numeric target with at most this many distinct integers is a classification; default 10. */
  maxClassValues?: number;
  /** Fit statistics on these rows only (the training rows); default all. */
  rows?: readonly number[];
  /** Fewest rows with a target; default 10. */
  minRows?: number;
}

const MISSING = new Set(['', 'na', 'n/a', 'nan', 'null', 'none', '?']);
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Whether a cell is a missing value. */
export function isMissing(cell: string): boolean {
  return MISSING.has(cell.trim().toLowerCase());
}

function asNumber(cell: string): number | null {
  const t = cell.trim();
  return NUMBER.test(t) ? Number(t) : null;
}

function columnIndex(table: CsvTable, name: string, what: string): number {
  const c = table.header.indexOf(name);
  if (c < 0) {
    const near = table.header.find((h) => h.toLowerCase() === name.toLowerCase());
    throw new DataError(
      table.source,
      `no ${what} column '${name}'` +
        (near !== undefined ? ` (did you mean '${near}'?)` : '') +
        `; the columns are: ${table.header.join(', ')}`,
    );
  }
  return c;
}

function meanStd(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: 0, std: 1 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  const std = Math.sqrt(variance);
  // A constant column would divide by zero; it is left centred instead.
  return { mean, std: std > 0 ? std : 1 };
}

/** Sorted distinct values: numerically when all are numbers, else as strings. */
function sortedDistinct(values: Iterable<string>): string[] {
  const distinct = [...new Set(values)];
  if (distinct.every((v) => asNumber(v) !== null)) {
    return distinct.sort((a, b) => (asNumber(a) as number) - (asNumber(b) as number));
  }
  return distinct.sort();
}

/** Decides how to encode `table` to predict `options.target`; see the file comment. */
export function fitTableEncoding(table: CsvTable, options: FitOptions): TableEncoding {
  const file = table.source;
  const t = columnIndex(table, options.target, 'target');
  for (const name of options.ignore ?? []) columnIndex(table, name, 'ignored');
  const withTarget = table.rows
    .map((_, r) => r)
    .filter((r) => !isMissing((table.rows[r] as string[])[t] as string));
  const minRows = options.minRows ?? 10;
  if (withTarget.length < minRows) {
    throw new DataError(
      file,
      `too few rows: ${withTarget.length} have a value in target column '${options.target}' ` +
        `(of ${table.rows.length}); at least ${minRows} are needed`,
    );
  }
  const targetCells = withTarget.map((r) => ((table.rows[r] as string[])[t] as string).trim());
  const numericTarget = targetCells.every((v) => asNumber(v) !== null);
  const distinctTargets = new Set(targetCells);
  if (distinctTargets.size < 2) {
    throw new DataError(
      file,
      `target column '${options.target}' is constant (every row is ` +
        `${JSON.stringify(targetCells[0])}); there is nothing to learn`,
    );
  }
  const fewIntegers =
    numericTarget &&
    targetCells.every((v) => Number.isInteger(asNumber(v))) &&
    distinctTargets.size <= (options.maxClassValues ?? 10);
  const task: TableTask =
    options.task ?? (!numericTarget || fewIntegers ? 'classification' : 'regression');
  if (task === 'regression' && !numericTarget) {
    const bad = targetCells.find((v) => asNumber(v) === null);
    throw new DataError(
      file,
      `target column '${options.target}' has the non-numeric value ${JSON.stringify(bad)}; ` +
        'regression needs numbers (use classification)',
    );
  }
  const fitRows = (options.rows ?? withTarget).filter(
    (r) => !isMissing((table.rows[r] as string[])[t] as string),
  );
  let targetMean = 0;
  let targetStd = 1;
  if (task === 'regression') {
    ({ mean: targetMean, std: targetStd } = meanStd(
      fitRows.map((r) => asNumber((table.rows[r] as string[])[t] as string) as number),
    ));
  }
  const ignore = new Set(options.ignore ?? []);
  const columns: ColumnEncoding[] = [];
  table.header.forEach((name, c) => {
    if (c === t) return;
    if (ignore.has(name)) {
      columns.push({ name, kind: 'dropped', reason: 'ignored as asked' });
      return;
    }
    columns.push(fitColumn(table, c, fitRows, options));
  });
  const numFeatures = columns.reduce((n, col) => n + featureWidth(col), 0);
  if (numFeatures === 0) {
    throw new DataError(file, `no usable input columns besides target '${options.target}'`);
  }
  return {
    version: 1,
    target: options.target,
    task,
    columns,
    numFeatures,
    classes: task === 'classification' ? sortedDistinct(targetCells) : [],
    targetMean,
    targetStd,
  };
}

function fitColumn(
  table: CsvTable,
  c: number,
  rows: readonly number[],
  options: FitOptions,
): ColumnEncoding {
  const name = table.header[c] as string;
  const present = rows
    .map((r) => ((table.rows[r] as string[])[c] as string).trim())
    .filter((v) => !isMissing(v));
  if (present.length === 0) return { name, kind: 'dropped', reason: 'no values' };
  const distinct = sortedDistinct(present);
  if (distinct.length === 1) return { name, kind: 'dropped', reason: 'constant' };
  if (present.every((v) => asNumber(v) !== null)) {
    return { name, kind: 'numeric', ...meanStd(present.map((v) => asNumber(v) as number)) };
  }
  const maxCategories = options.maxCategories ?? 20;
  if (distinct.length === present.length && distinct.length > maxCategories) {
    return { name, kind: 'dropped', reason: 'every value differs (an identifier)' };
  }
  if (distinct.length <= maxCategories && options.categorical !== 'ordinal') {
    return { name, kind: 'onehot', categories: distinct };
  }
  const code = new Map(distinct.map((v, i) => [v, i]));
  const stats = meanStd(present.map((v) => code.get(v) as number));
  return { name, kind: 'ordinal', categories: distinct, ...stats };
}

function featureWidth(col: ColumnEncoding): number {
  if (col.kind === 'dropped') return 0;
  return col.kind === 'onehot' ? col.categories.length : 1;
}

/** A table encoded: features `[N, F]` and targets `[N]` (class ids, or standardised values). */
export interface EncodedTable {
  features: Float32Array;
  /** Classification: class ids. Regression: standardised targets. */
  targets: Int32Array | Float32Array;
  count: number;
  numFeatures: number;
  /** Rows left out because their target was missing. */
  droppedMissingTarget: number;
  /** Classification rows whose class was not among the encoding's classes (left out). */
  droppedUnknownClass: number;
}

/**
 * Encodes `table` with `encoding` (from `fitTableEncoding`, maybe on another file). The table must
 * have the target column and every column the encoding uses.
 */
export function encodeTable(table: CsvTable, encoding: TableEncoding): EncodedTable {
  const t = columnIndex(table, encoding.target, 'target');
  const used = encoding.columns.filter((col) => col.kind !== 'dropped');
  const at = used.map((col) => columnIndex(table, col.name, 'input'));
  const classId = new Map(encoding.classes.map((name, i) => [name, i]));
  const F = encoding.numFeatures;
  const features: number[] = [];
  const targets: number[] = [];
  let droppedMissingTarget = 0;
  let droppedUnknownClass = 0;
  table.rows.forEach((row, r) => {
    const cell = (row[t] as string).trim();
    if (isMissing(cell)) {
      droppedMissingTarget += 1;
      return;
    }
    let y: number;
    if (encoding.task === 'classification') {
      const id = classId.get(cell);
      if (id === undefined) {
        droppedUnknownClass += 1;
        return;
      }
      y = id;
    } else {
      const v = asNumber(cell);
      if (v === null) {
        throw new DataError(
          table.source,
          `line ${table.lines[r]}: target '${encoding.target}' is ${JSON.stringify(cell)}, ` +
            'not a number',
        );
      }
      y = (v - encoding.targetMean) / encoding.targetStd;
    }
    used.forEach((col, k) => {
      encodeCell(col, (row[at[k] as number] as string).trim(), features, table, r);
    });
    targets.push(y);
  });
  const count = targets.length;
  return {
    features: Float32Array.from(features),
    targets:
      encoding.task === 'classification' ? Int32Array.from(targets) : Float32Array.from(targets),
    count,
    numFeatures: F,
    droppedMissingTarget,
    droppedUnknownClass,
  };
}

function encodeCell(
  col: Exclude<ColumnEncoding, { kind: 'dropped' }>,
  cell: string,
  out: number[],
  table: CsvTable,
  r: number,
): void {
  const missing = isMissing(cell);
  if (col.kind === 'numeric') {
    if (missing) {
      out.push(0);
      return;
    }
    const v = asNumber(cell);
    if (v === null) {
      throw new DataError(
        table.source,
        `line ${table.lines[r]}: column '${col.name}' is numeric but holds ` +
          `${JSON.stringify(cell)}`,
      );
    }
    out.push((v - col.mean) / col.std);
  } else if (col.kind === 'onehot') {
    for (const category of col.categories) out.push(!missing && cell === category ? 1 : 0);
  } else {
    const code = col.categories.indexOf(cell);
    out.push(missing || code < 0 ? 0 : (code - col.mean) / col.std);
  }
}
