/**
 * The `ucc-5g` preset of `sextant importance`: sliding windows within each trace (never across
 * traces), a chronological split within each trace, window contents equal to the CSV rows (a small
 * hand-made case), and tiny end-to-end runs on the real UCC 5G download traces: the LSTM (the
 * preset's default model) and the MLP on flattened windows.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importanceCommand } from '../src/cli/importance.js';
import { loadWindowedData, type Window } from '../src/studies/importance/windows.js';
import { SHARED_DATA } from './helpers.js';

const UCC = join(SHARED_DATA, 'ucc-5g', 'Download');

/** Two tiny traces with the UCC columns that matter; `-` marks missing values. */
function writeTraces(dir: string): { a: string[][]; b: string[][] } {
  const header = 'Timestamp,Speed,RSRP,RSRQ,SNR,CQI,DL_bitrate,State';
  const a: string[][] = [];
  for (let i = 0; i < 40; i++) {
    a.push([`t${i}`, `${i % 7}`, `${-90 - i}`, `${-10 - (i % 3)}`, i === 5 ? '-' : `${i / 2}`]);
    (a[i] as string[]).push(i === 3 ? '' : `${i % 15}`, i === 30 ? '-' : `${1000 + 10 * i}`, 'D');
  }
  const b: string[][] = [];
  for (let i = 0; i < 30; i++) {
    b.push([`u${i}`, '0', `${-100 + i}`, '-12', '3.5', '9', `${5000 - 7 * i}`, 'I']);
  }
  mkdirSync(join(dir, 'Driving'));
  mkdirSync(join(dir, 'Static'));
  const text = (rows: string[][]) => `${header}\n${rows.map((r) => r.join(',')).join('\n')}\n`;
  writeFileSync(join(dir, 'Driving', 'a.csv'), text(a));
  writeFileSync(join(dir, 'Static', 'b.csv'), text(b));
  return { a, b };
}

const FEATURES = ['Speed', 'RSRP', 'RSRQ', 'SNR', 'CQI', 'DL_bitrate'];

test('ucc-5g windows stay within a trace and split chronologically within each trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucc-'));
  const { a, b } = writeTraces(dir);
  const W = 4;
  const w = loadWindowedData(dir, {
    window: W,
    testFraction: 0.25,
    maxWindows: 0,
    seed: 0,
    features: FEATURES,
  });
  // Trace a: 36 windows, one with a missing target (row 30) left out; trace b: 26.
  assert.equal(w.traces.length, 2);
  assert.equal(w.totalWindows, 35 + 26);
  const lengths = [a.length, b.length];
  for (const win of w.windows) {
    assert.ok(win.start >= 0 && win.start + W < (lengths[win.trace] as number), 'crosses a trace');
  }
  const windowsOf = (rows: Int32Array, trace: number) =>
    Array.from(rows, (i) => w.windows[i] as Window).filter((x) => x.trace === trace);
  for (const trace of [0, 1]) {
    const train = windowsOf(w.data.train, trace);
    const test = windowsOf(w.data.test, trace);
    assert.ok(train.length > 0 && test.length > 0);
    const lastTrain = Math.max(...train.map((x) => x.start));
    for (const x of test) assert.ok(x.start > lastTrain, `trace ${trace}: test before train`);
    assert.equal(train.length, Math.round((train.length + test.length) * 0.75));
    for (const i of [...w.data.train, ...w.data.test]) {
      assert.equal(w.data.groupIds?.[i], (w.windows[i] as Window).trace);
    }
  }
  assert.equal(w.data.encoding.numFeatures, W * FEATURES.length);
  assert.equal(w.data.encoding.task, 'regression');
});

test('ucc-5g window contents equal the CSV rows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucc-'));
  const { a, b } = writeTraces(dir);
  const W = 3;
  const w = loadWindowedData(dir, {
    window: W,
    testFraction: 0.2,
    maxWindows: 0,
    seed: 0,
    features: FEATURES,
  });
  const F = FEATURES.length;
  const { encoding, table } = w.data;
  // CSV column of each feature in the hand-made rows above.
  const csvColumn = [1, 2, 3, 4, 5, 6];
  const check = (i: number) => {
    const win = w.windows[i] as Window;
    const rows = win.trace === 0 ? a : b;
    for (let s = 0; s < W; s++) {
      for (let f = 0; f < F; f++) {
        const col = encoding.columns[s * F + f] as { name: string; mean: number; std: number };
        assert.equal(col.name, `${FEATURES[f]}[t-${W - s}]`);
        const cell = (rows[win.start + s] as string[])[csvColumn[f] as number] as string;
        const want = cell === '-' || cell === '' ? 0 : (Number(cell) - col.mean) / col.std;
        const got = table.features[i * W * F + s * F + f] as number;
        assert.ok(Math.abs(got - want) < 1e-5, `window ${i} step ${s} ${FEATURES[f]}`);
      }
    }
    const target = Number((rows[win.start + W] as string[])[6]);
    const y = (table.targets[i] as number) * encoding.targetStd + encoding.targetMean;
    assert.ok(Math.abs(y - target) < 1e-2, `window ${i} target ${y} != ${target}`);
    assert.equal(w.data.lines[i], win.start + W + 2); // header is line 1
  };
  // The windows around the missing SNR (row 5) and CQI (row 3) of trace a, and one of trace b.
  const at = (trace: number, start: number) =>
    w.windows.findIndex((x) => x.trace === trace && x.start === start);
  for (const [trace, start] of [
    [0, 0],
    [0, 3],
    [0, 5],
    [1, 7],
    [1, 26],
  ] as const) {
    const i = at(trace, start);
    assert.ok(i >= 0, `window ${trace}/${start} missing`);
    check(i);
  }
  // Row 30 of trace a has no target: the window ending there is left out.
  assert.equal(at(0, 30 - W), -1);
});

/** Runs `sextant importance` with `args`; resolves to its exit code and what it wrote. */
async function runCommand(args: Record<string, unknown>) {
  let stdout = '';
  let stderr = '';
  const code = await importanceCommand(args, {
    stdout: {
      write: (s: string) => {
        stdout += s;
        return true;
      },
    },
    stderr: {
      write: (s: string) => {
        stderr += s;
        return true;
      },
    },
  } as never);
  return { code, stdout, stderr };
}

test('ucc-5g with --model mlp flattens each window into one row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucc-mlp-'));
  const r = await runCommand({
    preset: 'ucc-5g',
    data: UCC,
    model: 'mlp',
    window: '3',
    maxWindows: '300',
    epochs: '1',
    seeds: '1',
    keep: '0.5',
    width: '8',
    layers: '1',
    runs: join(dir, 'runs'),
    json: true,
  });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  // 3 steps of the 10 UCC features in one row.
  assert.deepEqual(json.model, {
    kind: 'mlp',
    description: 'MLP 30 → 8 → 1 (ReLU)',
    parameters: 30 * 8 + 8 + 8 + 1,
  });
  assert.match(json.finding, /^ucc-5g \(mlp\): /);
});

test('ucc-5g: a tiny end-to-end LSTM run on the real traces', { timeout: 60_000 }, async () => {
  if (!existsSync(UCC)) {
    assert.fail(`the UCC 5G traces are missing: ${UCC}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ucc-run-'));
  const r = await runCommand({
    preset: 'ucc-5g',
    data: UCC,
    window: '5',
    maxWindows: '600',
    epochs: '2',
    seeds: '2',
    keep: '0.7',
    lstmHidden: '8',
    runs: join(dir, 'runs'),
    json: true,
  });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.primary, 'rmse');
  const H = 8;
  const I = 10;
  assert.deepEqual(json.model, {
    kind: 'lstm',
    description:
      'LSTM of 8 units over 5 steps of 10 features, dense head 8 → 1 on the last hidden state',
    parameters: 4 * H * (I + H + 2) + H + 1,
  });
  // The scoring run: one sample gradient per training row and epoch in training, one more per
  // scored row and epoch.
  assert.equal(json.scoringRun.sampleGrads, 2 * json.rows.train * 2);
  assert.ok(json.scoringRun.flops > 0);
  for (const s of json.selectors) assert.ok(Number.isFinite(s.mean), `${s.selector} ${s.rule}`);
  assert.match(json.finding, /^ucc-5g \(lstm\): /);
});
