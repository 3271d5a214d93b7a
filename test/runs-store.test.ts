/**
 * Run store tests in one process: create, log, finish, list, get, remove; the metrics file and
 * its torn lines; config hashes; ids and prefixes; how dead owners are found. The tests with
 * several processes (concurrent writers, SIGKILL) are in runs-processes.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import {
  canonicalJson,
  configHash,
  csvField,
  mergeByStep,
  metricsCsv,
  newRunId,
  parseMetricsText,
  RunNotFoundError,
  RunStore,
  RunStoreError,
} from '../src/runs/index.js';

const config = {
  model: { name: 'gpt2', n_layer: 2, n_embd: 32 },
  optim: { lr: 3e-4, schedule: 'cosine' },
  seed: 7,
};

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'sextant-runs-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh store in its own folder under the test's temporary directory. */
function freshStore(name: string, options: Parameters<typeof RunStore.open>[1] = {}): RunStore {
  return RunStore.open(join(tmp, name), options);
}

describe('canonical JSON and config hash', () => {
  test('key order and undefined fields do not change the hash; values do', () => {
    const a = { b: 1, a: { y: [1, 2, { q: 'x', p: true }], x: null } };
    const b = { a: { x: null, y: [1, 2, { p: true, q: 'x' }] }, b: 1, c: undefined };
    assert.equal(canonicalJson(a), '{"a":{"x":null,"y":[1,2,{"p":true,"q":"x"}]},"b":1}');
    assert.equal(configHash(a), configHash(b));
    assert.match(configHash(a), /^[0-9a-f]{64}$/);
    assert.notEqual(configHash(a), configHash({ ...a, b: 2 }));
    // An array's order is part of the value.
    assert.notEqual(configHash([1, 2]), configHash([2, 1]));
  });

  test('values JSON cannot hold exactly are refused, naming the path', () => {
    assert.throws(
      () => canonicalJson({ optim: { lr: Number.NaN } }),
      /config\.optim\.lr: expected a finite number, got NaN/,
    );
    assert.throws(
      () => canonicalJson({ layers: [1, undefined] }),
      /config\.layers\[1\]: expected a JSON value, got undefined/,
    );
    assert.throws(
      () => canonicalJson({ f: () => 1 }),
      /config\.f: expected a JSON value, got a function/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), /config\.self: the config refers to itself/);
  });
});

describe('run ids', () => {
  test('are a UTC timestamp and a random suffix, sortable by time', () => {
    const t = Date.UTC(2025, 5, 12, 14, 15, 2, 123);
    const id = newRunId(t);
    assert.match(id, /^20250612-141502-[0-9a-hjkmnp-tv-z]{4}$/);
    assert.ok(newRunId(t) < newRunId(t + 1000), 'a later second sorts later');
  });
});

describe('RunStore', () => {
  test('create, log, finish, get, list: folder, row and metrics agree', () => {
    const store = freshStore('basic');
    const run = store.create({ name: 'tiny gpt', kind: 'train lm', config });
    const dir = join(store.root, run.id);
    assert.equal(run.dir, dir);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), config);
    assert.ok(existsSync(join(dir, 'checkpoints')));
    assert.ok(existsSync(join(store.root, 'sextant.db')));

    const started = store.get(run.id);
    assert.equal(started.status, 'running');
    assert.equal(started.pid, process.pid);
    assert.equal(started.configHash, configHash(config));
    assert.deepEqual(started.config, config);
    assert.equal(started.finishedAt, null);
    assert.equal(started.repro.nodeVersion, process.version);
    assert.equal(started.repro.hostname, os.hostname());
    assert.ok(started.repro.backend === 'js' || started.repro.backend === 'native');
    assert.match(started.repro.sextantVersion, /^\d+\.\d+\.\d+/);
    // In this checkout the commit is known; elsewhere it is null, never a wrong commit.
    assert.ok(started.repro.gitCommit === null || /^[0-9a-f]{40}$/.test(started.repro.gitCommit));

    run.logMetrics(1, { 'train/loss': 4.2, 'train/lr': 1e-4 });
    run.logMetrics(2, { 'train/loss': 3.9, 'train/lr': 2e-4 });
    run.logMetrics(2, { 'val/loss': 4.0 });
    const ckpt = join(run.checkpointDir(), 'step-2.safetensors');
    run.checkpointSaved(2, ckpt);
    run.finish({ 'val/loss': 4.0 });

    const done = store.get(run.id);
    assert.equal(done.status, 'done');
    assert.deepEqual(done.finalMetrics, { 'val/loss': 4.0 });
    assert.equal(done.lastStep, 2);
    assert.deepEqual(done.lastCheckpoint, { step: 2, path: ckpt });
    assert.ok(done.finishedAt !== null && done.finishedAt >= done.createdAt);

    const { records, warnings } = store.readMetrics(run.id);
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      records.map(({ time: _t, ...rest }) => rest),
      [
        { step: 1, 'train/loss': 4.2, 'train/lr': 1e-4 },
        { step: 2, 'train/loss': 3.9, 'train/lr': 2e-4 },
        { step: 2, 'val/loss': 4.0 },
      ],
    );
    for (const r of records) assert.ok(typeof r.time === 'number' && r.time > 1.6e9);

    const second = store.create({ name: 'other', kind: 'scaling', config: { seed: 1 } });
    second.fail(new Error('loss is NaN at step 3'));
    assert.deepEqual(
      store.list().map((r) => r.id),
      [second.id, run.id],
      'newest first',
    );
    assert.deepEqual(
      store.list({ status: 'done' }).map((r) => r.id),
      [run.id],
    );
    assert.deepEqual(
      store.list({ kind: 'scaling' }).map((r) => r.id),
      [second.id],
    );
    assert.equal(store.list({ limit: 1 }).length, 1);
    assert.throws(
      () => store.list({ status: 'finished' as never }),
      /status must be one of running, done, failed, interrupted, got 'finished'/,
    );
    store.close();
  });

  test('fail and interrupt record why; a run ends once', () => {
    const store = freshStore('ends');
    const failed = store.create({ name: 'f', kind: 'train lm', config });
    failed.fail(new RangeError('loss is NaN at step 12; last good checkpoint step-10'));
    const f = store.get(failed.id);
    assert.equal(f.status, 'failed');
    assert.equal(f.error, 'RangeError: loss is NaN at step 12; last good checkpoint step-10');
    assert.match(readFileSync(join(f.dir, 'error.txt'), 'utf8'), /RangeError: loss is NaN/);
    assert.throws(
      () => failed.logMetrics(13, { 'train/loss': 1 }),
      new RegExp(
        `run ${failed.id}: logMetrics\\(step 13\\): the run has already ended \\(status failed\\)`,
      ),
    );
    assert.throws(() => failed.finish(), /already ended \(status failed\)/);

    const stopped = store.create({ name: 'i', kind: 'train lm', config });
    stopped.interrupt('SIGINT at step 5; checkpoint step 5 written');
    const i = store.get(stopped.id);
    assert.equal(i.status, 'interrupted');
    assert.equal(i.error, 'SIGINT at step 5; checkpoint step 5 written');
    store.close();
  });

  test('bad metrics and steps are refused with the run, step and metric named', () => {
    const store = freshStore('bad-input');
    const run = store.create({ name: 'x', kind: 'train lm', config });
    assert.throws(
      () => run.logMetrics(3, { 'train/loss': '2.3' as unknown as number }),
      new RegExp(
        `run ${run.id}: logMetrics\\(step 3\\): ` +
          `metric 'train/loss' must be a number, got string "2.3"`,
      ),
    );
    assert.throws(
      () => run.logMetrics(-1, { a: 1 }),
      /step must be a non-negative integer, got number -1/,
    );
    assert.throws(
      () => run.logMetrics(1.5, { a: 1 }),
      /step must be a non-negative integer, got number 1.5/,
    );
    assert.throws(() => run.logMetrics(1, { step: 1 }), /metric name "step" is reserved or empty/);
    assert.throws(
      () => store.create({ name: '', kind: 'train lm', config }),
      /RunStore.create: name must be a non-empty string, got ""/,
    );
    assert.throws(
      () => store.create({ name: 'n', kind: 'k', config: { lr: Number.POSITIVE_INFINITY } }),
      /config\.lr: expected a finite number, got Infinity/,
    );
    // A refused config leaves no folder behind.
    assert.equal(store.list().length, 1);
    run.finish();
    store.close();
  });

  test('NaN and infinite metrics survive the round trip', () => {
    const store = freshStore('nan');
    const run = store.create({ name: 'x', kind: 'train lm', config });
    run.logMetrics(1, { 'train/loss': Number.NaN, 'train/grad_norm': Number.POSITIVE_INFINITY });
    run.finish({ 'train/loss': Number.NEGATIVE_INFINITY });
    const [r] = store.readMetrics(run.id).records;
    assert.ok(r !== undefined && Number.isNaN(r['train/loss']));
    assert.equal(r['train/grad_norm'], Number.POSITIVE_INFINITY);
    assert.equal(store.get(run.id).finalMetrics?.['train/loss'], Number.NEGATIVE_INFINITY);
    store.close();
  });

  test('findByConfigHash finds runs of the same config, filtered by status', () => {
    const store = freshStore('hash');
    const a = store.create({ name: 'a', kind: 'sweep', config: { lr: 1, width: 8 } });
    a.finish({ loss: 1 });
    const b = store.create({ name: 'b', kind: 'sweep', config: { width: 8, lr: 1 } }); // same
    b.fail('diverged');
    const c = store.create({ name: 'c', kind: 'sweep', config: { lr: 2, width: 8 } });
    c.finish();
    const h = configHash({ lr: 1, width: 8 });
    assert.deepEqual(
      store.findByConfigHash(h).map((r) => r.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      store.findByConfigHash(h, { status: 'done' }).map((r) => r.name),
      ['a'],
    );
    assert.deepEqual(store.findByConfigHash(configHash({ lr: 3 }), { status: 'done' }), []);
    store.close();
  });

  test('ids resolve from unique prefixes; unknown and ambiguous ones say so', () => {
    const store = freshStore('prefix');
    const a = store.create({ name: 'a', kind: 'k', config: {} });
    const b = store.create({ name: 'b', kind: 'k', config: {} });
    a.finish();
    b.finish();
    assert.equal(store.resolve(a.id), a.id);
    const prefix = a.id.slice(0, -1);
    if (!b.id.startsWith(prefix)) assert.equal(store.resolve(prefix), a.id);
    const common = a.id.slice(0, 9); // the date: both share it
    assert.throws(
      () => store.resolve(common),
      /is ambiguous in .*: it starts 2 ids .*give more characters/,
    );
    assert.throws(() => store.get('nope'), RunNotFoundError);
    assert.throws(() => store.resolve('nope'), /no run 'nope' in .*`sextant runs ls` lists them/);
    // LIKE wildcards in a prefix are taken literally.
    assert.throws(() => store.resolve('%'), RunNotFoundError);
    store.close();
  });

  test('remove deletes the row and the folder; a live running run needs force', () => {
    const store = freshStore('remove');
    const run = store.create({ name: 'x', kind: 'k', config });
    run.logMetrics(1, { 'train/loss': 1 });
    assert.throws(
      () => store.remove(run.id),
      new RegExp(
        `remove run ${run.id}: it is running \\(process ${process.pid} on .*\\); stop it first`,
      ),
    );
    run.finish();
    store.remove(run.id);
    assert.equal(existsSync(run.dir), false);
    assert.throws(() => store.get(run.id), RunNotFoundError);
    const live = store.create({ name: 'y', kind: 'k', config });
    store.remove(live.id, { force: true });
    assert.equal(existsSync(live.dir), false);
    store.close();
  });

  test('open with create: false refuses a folder without a store', () => {
    assert.throws(
      () => RunStore.open(join(tmp, 'nothing-here'), { create: false }),
      /no run store at .*nothing-here \(no sextant\.db there\); set SEXTANT_RUNS/,
    );
    assert.equal(RunStore.exists(join(tmp, 'nothing-here')), false);
  });

  test('SEXTANT_RUNS sets the default root', () => {
    const saved = process.env.SEXTANT_RUNS;
    process.env.SEXTANT_RUNS = join(tmp, 'from-env');
    try {
      const store = RunStore.open();
      assert.equal(store.root, join(tmp, 'from-env'));
      store.close();
    } finally {
      if (saved === undefined) delete process.env.SEXTANT_RUNS;
      else process.env.SEXTANT_RUNS = saved;
    }
  });
});

describe('owners that are gone', () => {
  test('a run whose process exited without ending it reads as interrupted', () => {
    const store = freshStore('dead-pid');
    const run = store.create({ name: 'x', kind: 'k', config });
    run.logMetrics(41, { 'train/loss': 1 });
    run.logMetrics(42, { 'train/loss': 1 });
    // Give the row the pid of a process that has exited.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const deadPid = Number(child.stdout);
    const db = new Database(store.dbPath);
    db.prepare('UPDATE runs SET pid = ?, pid_start = NULL WHERE id = ?').run(deadPid, run.id);
    db.close();
    const r = store.get(run.id);
    assert.equal(r.status, 'interrupted');
    assert.match(
      r.error ?? '',
      new RegExp(`process ${deadPid} on .* is gone \\(killed or crashed\\)`),
    );
    assert.equal(r.lastStep, 42, 'the last step is read from the metrics file');
    assert.ok(r.finishedAt !== null);
    store.close();
  });

  test('a live pid that started at another time is another process', () => {
    const store = freshStore('pid-reuse');
    const run = store.create({ name: 'x', kind: 'k', config });
    const db = new Database(store.dbPath);
    const row = db.prepare('SELECT pid_start FROM runs WHERE id = ?').get(run.id) as {
      pid_start: string | null;
    };
    if (row.pid_start === null) {
      db.close();
      store.close();
      return; // not Linux: no start times to compare
    }
    db.prepare('UPDATE runs SET pid_start = ? WHERE id = ?').run('other-boot:1', run.id);
    db.close();
    const r = store.get(run.id);
    assert.equal(r.status, 'interrupted');
    assert.match(r.error ?? '', /its pid now belongs to another process/);
    store.close();
  });

  test('a run on another host is interrupted once its heartbeat is stale', () => {
    let now = Date.UTC(2025, 0, 1, 12, 0, 0);
    const store = freshStore('remote', { now: () => now, staleAfterMs: 60_000 });
    const run = store.create({ name: 'x', kind: 'k', config });
    const db = new Database(store.dbPath);
    db.prepare("UPDATE runs SET hostname = 'elsewhere', pid = 1 WHERE id = ?").run(run.id);
    db.close();
    now += 59_000;
    assert.equal(store.get(run.id).status, 'running', 'fresh heartbeat: still running');
    now += 2_000;
    const r = store.get(run.id);
    assert.equal(r.status, 'interrupted');
    assert.match(
      r.error ?? '',
      /no heartbeat from process 1 on elsewhere since .* \(more than 60 s\)/,
    );
    store.close();
  });

  test('logging beats the heartbeat at most every heartbeatMs', () => {
    let now = Date.UTC(2025, 0, 1);
    const store = freshStore('beat', { now: () => now, heartbeatMs: 1000 });
    const run = store.create({ name: 'x', kind: 'k', config });
    const t0 = store.get(run.id).heartbeatAt;
    now += 500;
    run.logMetrics(1, { a: 1 });
    assert.equal(store.get(run.id).heartbeatAt, t0);
    now += 600;
    run.logMetrics(2, { a: 1 });
    const r = store.get(run.id);
    assert.equal(r.heartbeatAt, new Date(now).toISOString());
    assert.equal(r.lastStep, 2);
    run.finish();
    store.close();
  });
});

describe('metrics.jsonl', () => {
  test('a torn last line is skipped with a warning; earlier lines are kept', () => {
    const store = freshStore('torn');
    const run = store.create({ name: 'x', kind: 'k', config });
    run.logMetrics(1, { 'train/loss': 3 });
    run.logMetrics(2, { 'train/loss': 2 });
    run.interrupt('test');
    const file = join(run.dir, 'metrics.jsonl');
    appendFileSync(file, '{"step":3,"time":17000000'); // a write cut by a crash
    const { records, warnings } = store.readMetrics(run.id);
    assert.deepEqual(
      records.map((r) => r.step),
      [1, 2],
    );
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      /metrics\.jsonl:3: torn last line \(no newline.*skipped: "\{\\"step\\":3/,
    );

    // A resumed writer closes the torn line first, so its own lines are not glued to it.
    const resumed = store.resume(run.id);
    resumed.logMetrics(3, { 'train/loss': 1 });
    resumed.finish();
    const again = store.readMetrics(run.id);
    assert.deepEqual(
      again.records.map((r) => r.step),
      [1, 2, 3],
    );
    assert.equal(again.warnings.length, 1);
    assert.match(again.warnings[0] ?? '', /metrics\.jsonl:3: line is not valid JSON/);
    assert.equal(store.get(run.id).resumes, 1);
    store.close();
  });

  test('bad lines in the middle are skipped and named; non-objects too', () => {
    const text =
      '{"step":1,"a":1}\nnot json\n[1,2]\n{"a":2}\n{"step":2,"a":"x"}\n{"step":3,"a":3}\n';
    const { records, warnings } = parseMetricsText(text, 'm.jsonl');
    assert.deepEqual(records, [
      { step: 1, a: 1 },
      { step: 3, a: 3 },
    ]);
    assert.deepEqual(
      warnings.map((w) => w.replace(/; skipped.*/, '')),
      [
        'm.jsonl:2: line is not valid JSON',
        'm.jsonl:3: expected a JSON object, got an array',
        'm.jsonl:4: expected a numeric "step", got undefined',
        'm.jsonl:5: metric "a" is not a number: string "x"',
      ],
    );
  });

  test('resume refuses done and running runs, and drops lines after the checkpoint step', () => {
    const store = freshStore('resume');
    const run = store.create({ name: 'x', kind: 'k', config });
    assert.throws(
      () => store.resume(run.id),
      new RegExp(
        `resume run ${run.id}: expected status interrupted or failed, got running \\(process`,
      ),
    );
    for (let s = 1; s <= 5; s++) run.logMetrics(s, { 'train/loss': 10 - s });
    run.interrupt('killed after step 5; checkpoint at step 3');
    const resumed = store.resume(run.id.slice(0, 12), { fromStep: 3 });
    assert.equal(store.get(run.id).status, 'running');
    assert.deepEqual(
      store.readMetrics(run.id).records.map((r) => r.step),
      [1, 2, 3],
    );
    resumed.logMetrics(4, { 'train/loss': 6 });
    resumed.finish({ 'train/loss': 6 });
    assert.deepEqual(
      store.readMetrics(run.id).records.map((r) => r.step),
      [1, 2, 3, 4],
    );
    assert.throws(() => store.resume(run.id), /expected status interrupted or failed, got done/);
    store.close();
  });

  test('mergeByStep joins train and validation lines of a step', () => {
    const merged = mergeByStep([
      { step: 2, 'train/loss': 2 },
      { step: 1, 'train/loss': 3 },
      { step: 2, 'val/loss': 2.5 },
    ]);
    assert.deepEqual(merged, [
      { step: 1, 'train/loss': 3 },
      { step: 2, 'train/loss': 2, 'val/loss': 2.5 },
    ]);
  });
});

describe('CSV export', () => {
  test('fields are quoted when they must be, and only then', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField(' padded'), '" padded"');
    assert.equal(csvField(''), '');
  });

  test('one row per step, sorted columns, empty cells for absent metrics', () => {
    const csv = metricsCsv([
      { step: 1, time: 100.5, 'train/loss': 3, 'odd,"name"': 1 },
      { step: 2, time: 101, 'train/loss': 2.5, 'val/loss': Number.NaN },
      { step: 2, time: 101.25, 'train/lr': 0.0003 },
    ]);
    assert.equal(
      csv,
      [
        'step,time,"odd,""name""",train/loss,train/lr,val/loss',
        '1,100.5,1,3,,',
        '2,101.25,,2.5,0.0003,NaN',
        '',
      ].join('\n'),
    );
  });

  test('store.exportCsv reads the run back', () => {
    const store = freshStore('csv');
    const run = store.create({ name: 'x', kind: 'k', config });
    run.logMetrics(1, { 'train/loss': 0.1 + 0.2 });
    run.finish();
    const [header, row] = store.exportCsv(run.id).split('\n');
    assert.equal(header, 'step,time,train/loss');
    assert.equal(row?.split(',')[2], '0.30000000000000004', 'numbers round-trip exactly');
    store.close();
  });
});

test('RunStoreError is the class of store errors', () => {
  assert.ok(new RunNotFoundError('x') instanceof RunStoreError);
});
