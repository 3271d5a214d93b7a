/**
 * `sextant importance` end to end on small CSV files written here (a few seconds), the real
 * Telco and 5Gophers layouts through their presets (loading and splitting only), and bad input:
 * each error names the file and the column or line.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importanceCommand } from '../src/cli/importance.js';
import { loadStudyData } from '../src/studies/importance/data.js';
import { SHARED_DATA } from './helpers.js';

const SHARED = SHARED_DATA;

/** Collects what a command writes. */
function sink(): { stream: { write(s: string): boolean }; text: () => string } {
  let text = '';
  return {
    stream: {
      write(s: string) {
        text += s;
        return true;
      },
    },
    text: () => text,
  };
}

/** A small classification CSV: label = x1 + x2 > 0, with one categorical column. */
function writeToyCsv(dir: string, rows = 120): string {
  const lines = ['x1,x2,colour,label'];
  let a = 7;
  const rand = () => {
    a = (a * 16807) % 2147483647;
    return a / 2147483647 - 0.5;
  };
  for (let i = 0; i < rows; i++) {
    const x1 = rand();
    const x2 = rand();
    lines.push(`${x1},${x2},${i % 3 === 0 ? 'red' : 'blue'},${x1 + x2 > 0 ? 'yes' : 'no'}`);
  }
  const file = join(dir, 'toy.csv');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function run(args: Record<string, unknown>) {
  const out = sink();
  const err = sink();
  const code = await importanceCommand(args, { stdout: out.stream, stderr: err.stream } as never);
  return { code, stdout: out.text(), stderr: err.text() };
}

const SMALL_STUDY =
  'a small study runs end to end: JSON per selector, score matrices, ' + 'keep-lists, report';

test(SMALL_STUDY, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'importance-'));
  const data = writeToyCsv(dir);
  const r = await run({
    data,
    target: 'label',
    epochs: '3',
    seeds: '2',
    keep: '0.5',
    selectors: 'gradnorm,el2n,forgetting',
    knee: true,
    runs: join(dir, 'runs'),
    json: true,
  });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.primary, 'auc');
  assert.equal(json.energySource === 'rapl' || json.energySource === 'power-model', true);
  const rules = json.selectors.map(
    (s: { selector: string; rule: string }) => `${s.selector} ${s.rule}`,
  );
  for (const want of ['gradnorm keep 0.5', 'el2n mass 0.9', 'forgetting knee']) {
    assert.ok(rules.includes(want), `missing ${want} in ${rules.join(', ')}`);
  }
  const g = json.selectors.find((s: { rule: string }) => s.rule === 'keep 0.5');
  // 96 training rows (stratified 80 %), half kept: sample-gradient evaluations halve exactly.
  assert.equal(g.kept, 48);
  assert.ok(Math.abs(g.savings.sampleGradsPct - 50) < 1e-9);
  assert.ok(Number.isFinite(g.interval95));
  const runDir = join(dir, 'runs', json.run);
  const matrix = readFileSync(join(runDir, 'scores', 'gradnorm.csv'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(matrix[0], 'line,epoch_1,epoch_2,epoch_3');
  assert.equal(matrix.length, 1 + 96);
  assert.equal(
    readFileSync(join(runDir, 'keep', 'gradnorm_keep-0.5.txt'), 'utf8')
      .trim()
      .split('\n').length,
    48,
  );
  assert.ok(existsSync(join(runDir, 'report.html')));
  const md = readFileSync(join(runDir, 'report.md'), 'utf8');
  assert.match(md, /## Finding/);
  assert.match(md, /power model|RAPL/);
});

test('regression with a grouped split, pruning the highest, rank-mean aggregation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'importance-reg-'));
  const lines = ['run,t,x,y'];
  for (let run = 0; run < 12; run++) {
    for (let t = 0; t < 10; t++) lines.push(`${run},${t},${(run * 7 + t) % 5},${run + 0.5 * t}`);
  }
  const data = join(dir, 'reg.csv');
  writeFileSync(data, `${lines.join('\n')}\n`);
  const r = await run({
    data,
    target: 'y',
    group: 'run',
    prune: 'highest',
    stratify: true,
    aggregation: 'rank-mean',
    selectors: 'loss',
    epochs: '2',
    seeds: '2',
    keep: '0.7',
    mass: 'none',
    runs: join(dir, 'runs'),
    json: true,
  });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.primary, 'rmse');
  assert.equal(json.rows.groups, 12);
  // Whole runs of 10 rows are held out: test rows are a multiple of 10.
  assert.equal(json.rows.test % 10, 0);
  const rules = json.selectors.map(
    (s: { selector: string; rule: string }) => `${s.selector} ${s.rule}`,
  );
  assert.deepEqual(rules.sort(), [
    'loss keep 0.7',
    `random size ${Math.round(json.rows.train * 0.7)}`,
  ]);
});

test('presets read the real Telco and 5Gophers files (split only)', () => {
  const telco = loadStudyData({
    file: join(SHARED, 'telco-churn', 'Telco-Customer-Churn.csv'),
    target: 'Churn',
    ignore: ['customerID'],
    group: [],
    testFraction: 0.2,
    seed: 0,
  });
  assert.equal(telco.train.length + telco.test.length, 7043);
  assert.deepEqual(telco.encoding.classes, ['No', 'Yes']);
  const gophers = loadStudyData({
    file: join(SHARED, '5gophers', 'all-carriers_01-throughput.csv'),
    target: 'throughput_mbps',
    ignore: ['run_num'],
    group: ['carrier', 'num_tcp_conn', 'server_location', 'run_num'],
    testFraction: 0.2,
    seed: 0,
  });
  assert.equal(gophers.encoding.task, 'regression');
  assert.ok(gophers.groups > 10);
  // No measurement run is on both sides of the split.
  const csv = readFileSync(join(SHARED, '5gophers', 'all-carriers_01-throughput.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  const key = (r: string[]) => [r[1], r[2], r[3], r[4]].join('|');
  const trainRuns = new Set(Array.from(gophers.train, (k) => key(csv[k] as string[])));
  for (const k of gophers.test) assert.ok(!trainRuns.has(key(csv[k] as string[])));
});

test('bad input: each error names the file and the column or line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'importance-bad-'));
  const data = writeToyCsv(dir);
  const missing = await run({ data, target: 'Label', runs: join(dir, 'runs') });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /toy\.csv: no target column 'Label'; the columns are: x1, x2/);

  const ragged = join(dir, 'ragged.csv');
  writeFileSync(ragged, 'a,b,y\n1,2,3\n4,5\n');
  const r2 = await run({ data: ragged, target: 'y', runs: join(dir, 'runs') });
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /ragged\.csv: line 3: 2 fields, but the header has 3/);

  const constant = join(dir, 'constant.csv');
  writeFileSync(constant, `a,y\n${Array.from({ length: 50 }, (_, i) => `${i},1`).join('\n')}\n`);
  const r3 = await run({ data: constant, target: 'y', runs: join(dir, 'runs') });
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /constant\.csv: target column 'y' is constant/);

  const few = join(dir, 'few.csv');
  writeFileSync(few, `a,y\n${Array.from({ length: 12 }, (_, i) => `${i},${i % 2}`).join('\n')}\n`);
  const r4 = await run({ data: few, target: 'y', runs: join(dir, 'runs') });
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /few\.csv: too few rows: 12 have a value in target column 'y'/);

  const ucc = await run({ data, preset: 'ucc-5g', runs: join(dir, 'runs') });
  assert.equal(ucc.code, 2);
  assert.match(ucc.stderr, /toy\.csv: no column 'DL_bitrate' \(ucc-5g windows need /);

  const noTarget = await run({ data, runs: join(dir, 'runs') });
  assert.match(noTarget.stderr, /no target column: give --target <column> or a --preset/);
});
