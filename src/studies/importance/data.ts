/**
 * The study's data: a CSV table, its column layout (a named preset or `--target`), a seeded
 * train/test split (stratified by class, or by whole groups such as measurement runs), and the
 * encoding fitted on the training rows only (src/data/table.ts).
 *
 * Presets (spec E.4), read from a path the user gives:
 * - `telco`: IBM Telco customer churn, `Telco-Customer-Churn.csv` (7,043 rows; Apache-2.0; from
 *   the GitHub repository IBM/telco-customer-churn-on-icp4d, `data/`). Target `Churn`,
 *   classification, `customerID` ignored, split stratified by class.
 * - `5gophers`: 5Gophers 1.0 throughput, `All-Carriers/01-Throughput/data.csv` (7,257 rows; CC BY
 *   4.0; Narayanan et al., WWW 2020, University of Minnesota). Target `throughput_mbps`,
 *   regression, split by whole measurement runs (carrier, connections, server, run number).
 * - `ucc-5g`: the UCC 5G production traces (Raca et al., MMSys 2020; GitHub uccmisl/5Gdataset,
 *   `5G-production-dataset.zip`, `Download/{Driving,Static}/*.csv`; GPL-3.0), read from a folder
 *   of trace CSVs (or one trace). Target `DL_bitrate`, regression, forecast from sliding windows
 *   of the previous W rows within each trace, split chronologically within each trace
 *   (windows.ts).
 *
 * Dimension legend: N rows (with a target), F features.
 */
import { type CsvTable, readCsv } from '../../data/csv.js';
import { DataError } from '../../data/errors.js';
import {
  type EncodedTable,
  encodeTable,
  fitTableEncoding,
  isMissing,
  type TableEncoding,
  type TableTask,
} from '../../data/table.js';
import { Generator } from '../../tensor/random.js';

/** A named column layout of a public data set. */
export interface Preset {
  name: string;
  target: string;
  task: TableTask;
  ignore: readonly string[];
  /** Columns whose joint value names a group kept whole on one side of the split. */
  group: readonly string[];
  /** Where the public data set comes from (for help and the report). */
  source: string;
  /** Not yet supported: the message to give. */
  unsupported?: string;
  /** Sliding-window forecasting over a folder of traces (windows.ts) instead of a plain table. */
  windowed?: boolean;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  telco: {
    name: 'telco',
    target: 'Churn',
    task: 'classification',
    ignore: ['customerID'],
    group: [],
    source:
      'IBM Telco customer churn, Telco-Customer-Churn.csv (Apache-2.0), GitHub ' +
      'IBM/telco-customer-churn-on-icp4d, data/',
  },
  '5gophers': {
    name: '5gophers',
    target: 'throughput_mbps',
    task: 'regression',
    ignore: ['run_num'],
    group: ['carrier', 'num_tcp_conn', 'server_location', 'run_num'],
    source:
      '5Gophers 1.0 (CC BY 4.0), All-Carriers/01-Throughput/data.csv; Narayanan et al., ' +
      'WWW 2020, University of Minnesota',
  },
  'ucc-5g': {
    name: 'ucc-5g',
    target: 'DL_bitrate',
    task: 'regression',
    ignore: [],
    group: [],
    source:
      'UCC 5G production traces, Download/{Driving,Static}/*.csv of 5G-production-dataset.zip ' +
      '(GPL-3.0), GitHub uccmisl/5Gdataset; Raca et al., MMSys 2020. --data is the folder of ' +
      'trace CSVs; windows of --window steps, chronological split within each trace',
    windowed: true,
  },
};

/** What the study reads: the file and its layout. */
export interface DataSpec {
  file: string;
  target: string;
  task?: TableTask;
  ignore: readonly string[];
  group: readonly string[];
  /** Fraction of rows (or groups) held out for testing. */
  testFraction: number;
  /** Seed of the split. */
  seed: number;
}

/** The encoded table with its split. */
export interface StudyData {
  file: string;
  encoding: TableEncoding;
  table: EncodedTable;
  train: Int32Array;
  test: Int32Array;
  /** The file line of each encoded row (for score files). */
  lines: Int32Array;
  /** Number of groups when split by groups, else 0. */
  groups: number;
  /** The group index of each encoded row when split by groups, else null. */
  groupIds: Int32Array | null;
}

function columnOrThrow(csv: CsvTable, name: string, what: string): number {
  const c = csv.header.indexOf(name);
  if (c < 0) {
    throw new DataError(
      csv.source,
      `no ${what} column '${name}'; the columns are: ${csv.header.join(', ')}`,
    );
  }
  return c;
}

/** Stratified or grouped seeded split of encoded rows `0..N-1`. */
function splitRows(
  N: number,
  testFraction: number,
  rng: Generator,
  strata: Int32Array | null,
  groups: string[] | null,
): { train: Int32Array; test: Int32Array; groupCount: number } {
  const train: number[] = [];
  const test: number[] = [];
  if (groups !== null) {
    const names = [...new Set(groups)];
    rng.shuffle(names);
    const nTest = Math.max(1, Math.round(names.length * testFraction));
    const held = new Set(names.slice(0, nTest));
    groups.forEach((g, i) => {
      (held.has(g) ? test : train).push(i);
    });
    return { train: Int32Array.from(train), test: Int32Array.from(test), groupCount: names.length };
  }
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < N; i++) {
    const k = strata === null ? 0 : (strata[i] as number);
    const list = buckets.get(k) ?? [];
    list.push(i);
    buckets.set(k, list);
  }
  for (const members of buckets.values()) {
    rng.shuffle(members);
    const nTest = Math.round(members.length * testFraction);
    test.push(...members.slice(0, nTest));
    train.push(...members.slice(nTest));
  }
  return {
    train: Int32Array.from(train).sort(),
    test: Int32Array.from(test).sort(),
    groupCount: 0,
  };
}

/** Each name's index among the distinct names, in order of first appearance. */
function groupIndex(names: readonly string[]): Int32Array {
  const ids = new Map<string, number>();
  return Int32Array.from(names, (n) => {
    if (!ids.has(n)) ids.set(n, ids.size);
    return ids.get(n) as number;
  });
}

/** Minimum rows on each side of the split. */
const MIN_TRAIN = 20;
const MIN_TEST = 10;

/** Reads, splits and encodes `spec.file`; errors name the file and the column or line. */
export function loadStudyData(spec: DataSpec): StudyData {
  const csv = readCsv(spec.file);
  const t = columnOrThrow(csv, spec.target, 'target');
  for (const g of spec.group) columnOrThrow(csv, g, 'group');
  const fitOptions = {
    target: spec.target,
    ignore: spec.ignore.filter((c) => csv.header.includes(c)),
    minRows: MIN_TRAIN + MIN_TEST,
    ...(spec.task !== undefined ? { task: spec.task } : {}),
  };
  const probe = fitTableEncoding(csv, fitOptions);
  const all = encodeTable(csv, probe);
  const fileRows = csv.rows.flatMap((row, r) => (isMissing(row[t] as string) ? [] : [r]));
  const groupCols = spec.group.map((g) => csv.header.indexOf(g));
  const groups =
    groupCols.length > 0
      ? fileRows.map((r) => groupCols.map((c) => (csv.rows[r] as string[])[c]).join('|'))
      : null;
  const strata = probe.task === 'classification' ? (all.targets as Int32Array) : null;
  const split = splitRows(all.count, spec.testFraction, new Generator(spec.seed), strata, groups);
  if (split.train.length < MIN_TRAIN || split.test.length < MIN_TEST) {
    throw new DataError(
      spec.file,
      `too few rows for the split: ${split.train.length} training and ${split.test.length} ` +
        `test rows (test fraction ${spec.testFraction}` +
        `${groups ? `, ${split.groupCount} groups` : ''}); ` +
        `at least ${MIN_TRAIN} and ${MIN_TEST} are needed`,
    );
  }
  const encoding = fitTableEncoding(csv, {
    ...fitOptions,
    task: probe.task,
    rows: Array.from(split.train, (k) => fileRows[k] as number),
  });
  const table = encodeTable(csv, encoding);
  return {
    file: spec.file,
    encoding,
    table,
    train: split.train,
    test: split.test,
    lines: Int32Array.from(fileRows, (r) => csv.lines[r] as number),
    groups: split.groupCount,
    groupIds: groups === null ? null : groupIndex(groups),
  };
}
