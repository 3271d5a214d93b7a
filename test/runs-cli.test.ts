/**
 * `sextant runs ...`: the commands run in-process against a store made here (starting the whole
 * CLI for each takes a second), and twice as a user runs them, through bin/sextant.js.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerRunsCommands } from '../src/cli/runs.js';
import { RunStore } from '../src/runs/index.js';

// This file runs as dist/test/runs-cli.test.js; the repository root is two levels up.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'sextant.js');

let tmp: string;
let storeDir: string;
const ids: { done: string; other: string; running: string } = { done: '', other: '', running: '' };

/** Runs `bin/sextant.js <args>` in a child process, with SEXTANT_RUNS set to the test store. */
function spawnSextant(args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: tmp,
    encoding: 'utf8',
    env: { ...process.env, SEXTANT_RUNS: storeDir },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `sextant <args>` (args start with 'runs') in this process, capturing what it prints. */
async function sextant(args: string[]) {
  const result = { status: 0, stdout: '', stderr: '' };
  const program = new Command('sextant').exitOverride();
  registerRunsCommands(program, {
    out: (t) => {
      result.stdout += t;
    },
    err: (t) => {
      result.stderr += t;
    },
    exitCode: (c) => {
      result.status = c;
    },
  });
  const [group, ...rest] = args;
  // --runs stands in for SEXTANT_RUNS, which a child process would get.
  const store = rest.includes('--runs') ? [] : ['--runs', storeDir];
  await program.parseAsync([group as string, ...rest, ...store], { from: 'user' });
  return result;
}

before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'sextant-runs-cli-'));
  storeDir = join(tmp, 'store');
  const store = RunStore.open(storeDir);
  const a = store.create({
    name: 'lr 3e-4',
    kind: 'train lm',
    config: { model: { n_layer: 2 }, optim: { lr: 3e-4 }, seed: 1 },
  });
  a.logMetrics(1, { 'train/loss': 3.5, 'note,with "quotes"': 1 });
  a.logMetrics(2, { 'train/loss': 3.1, 'val/loss': 3.3 });
  a.finish({ 'val/loss': 3.3 });
  const b = store.create({
    name: 'lr 1e-3',
    kind: 'train lm',
    config: { model: { n_layer: 2 }, optim: { lr: 1e-3 }, seed: 1 },
  });
  b.logMetrics(1, { 'train/loss': 3.4 });
  b.fail(new Error('loss is NaN at step 2'));
  // Left running by this (live) test process.
  const c = store.create({ name: 'live', kind: 'scaling', config: { seed: 2 } });
  ids.done = a.id;
  ids.other = b.id;
  ids.running = c.id;
  store.close();
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('sextant runs', () => {
  test('through bin/sextant.js: ls --json parses, and a bad id exits with status 1', () => {
    const ls = spawnSextant(['runs', 'ls', '--json']);
    assert.equal(ls.status, 0, ls.stderr);
    const listed = JSON.parse(ls.stdout) as { id: string }[];
    assert.deepEqual(
      listed.map((r) => r.id),
      [ids.running, ids.other, ids.done],
    );
    const missing = spawnSextant(['runs', 'show', 'nope']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^sextant runs show: no run 'nope' in /m);
    assert.equal(missing.stdout, '');
  });

  test('ls --json prints one JSON array of runs, newest first', async () => {
    const { status, stdout, stderr } = await sextant(['runs', 'ls', '--json']);
    assert.equal(status, 0, stderr);
    const runs = JSON.parse(stdout) as { id: string; status: string; config: unknown }[];
    assert.deepEqual(
      runs.map((r) => r.id),
      [ids.running, ids.other, ids.done],
    );
    assert.deepEqual(
      runs.map((r) => r.status),
      ['running', 'failed', 'done'],
    );
    assert.deepEqual(runs[2]?.config, { model: { n_layer: 2 }, optim: { lr: 3e-4 }, seed: 1 });
    const done = await sextant(['runs', 'ls', '--json', '--status', 'done']);
    assert.deepEqual(
      (JSON.parse(done.stdout) as { id: string }[]).map((r) => r.id),
      [ids.done],
    );
  });

  test('ls prints a table; a folder without a store says so and is left alone', async () => {
    const { status, stdout } = await sextant(['runs', 'ls']);
    assert.equal(status, 0);
    assert.match(stdout, /^ID +STATUS +KIND +NAME +CREATED +STEP +DURATION +LOSS$/m);
    assert.match(
      stdout,
      new RegExp(`^${ids.done} +done +train lm +lr 3e-4 .* 2 +\\S+ +3\\.3$`, 'm'),
    );
    // The failed run shows its last logged loss, marked as not final.
    assert.match(stdout, new RegExp(`^${ids.other} +failed .* 3\\.4\\*$`, 'm'));
    assert.match(stdout, /^\* last logged value: the run did not finish$/m);
    const empty = await sextant(['runs', 'ls', '--runs', join(tmp, 'none')]);
    assert.equal(empty.status, 0);
    assert.match(empty.stdout, /^no runs yet: no run store at .*none$/m);
    assert.equal(
      (await sextant(['runs', 'ls', '--json', '--runs', join(tmp, 'none')])).stdout,
      '[]\n',
    );
    assert.equal(existsSync(join(tmp, 'none')), false, 'listing creates nothing');
    const bad = await sextant(['runs', 'ls', '--status', 'finished']);
    assert.equal(bad.status, 1);
    assert.match(
      bad.stderr,
      /sextant runs ls: --status must be one of running, done, failed, interrupted, got 'finished'/,
    );
  });

  test('show takes a prefix; --json has the record and the last metrics', async () => {
    const { status, stdout, stderr } = await sextant([
      'runs',
      'show',
      ids.done.slice(0, -1),
      '--json',
    ]);
    assert.equal(status, 0, stderr);
    const shown = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(shown.id, ids.done);
    assert.deepEqual(shown.finalMetrics, { 'val/loss': 3.3 });
    assert.deepEqual(shown.lastMetrics, {
      'note,with "quotes"': 1,
      'train/loss': 3.1,
      'val/loss': 3.3,
    });
    const text = await sextant(['runs', 'show', ids.other]);
    assert.match(text.stdout, /^status +failed$/m);
    assert.match(text.stdout, /^error +Error: loss is NaN at step 2$/m);
    assert.match(text.stdout, /^ {2}optim\.lr +0\.001$/m);
    const missing = await sextant(['runs', 'show', 'nope']);
    assert.equal(missing.status, 1);
    assert.match(
      missing.stderr,
      /^sextant runs show: no run 'nope' in .*`sextant runs ls` lists them\)$/m,
    );
  });

  test('compare shows the config fields that differ and the final metrics', async () => {
    const { status, stdout, stderr } = await sextant([
      'runs',
      'compare',
      ids.done,
      ids.other,
      '--json',
    ]);
    assert.equal(status, 0, stderr);
    const cmp = JSON.parse(stdout) as {
      config: { field: string; values: unknown[] }[];
      metrics: { name: string; values: unknown[] }[];
      finished: boolean[];
    };
    assert.deepEqual(cmp.config, [{ field: 'optim.lr', values: ['0.0003', '0.001'] }]);
    assert.deepEqual(cmp.finished, [true, false]);
    assert.deepEqual(cmp.metrics, [
      { name: 'train/loss', values: [null, 3.4] },
      { name: 'val/loss', values: [3.3, null] },
    ]);
    const text = await sextant(['runs', 'compare', ids.done, ids.other]);
    assert.match(text.stdout, /^ {2}optim\.lr +0\.0003 +0\.001$/m);
    assert.match(text.stdout, /^\* last logged value: the run did not finish$/m);
    const one = await sextant(['runs', 'compare', ids.done]);
    assert.equal(one.status, 1);
    assert.match(one.stderr, /expected two or more run ids, got 1/);
  });

  test('export writes the metrics as CSV, to stdout or a file', async () => {
    const out = await sextant(['runs', 'export', ids.done]);
    assert.equal(out.status, 0, out.stderr);
    const lines = out.stdout.trim().split('\n');
    assert.equal(lines[0], 'step,time,"note,with ""quotes""",train/loss,val/loss');
    assert.match(lines[1] ?? '', /^1,[\d.]+,1,3\.5,$/);
    assert.match(lines[2] ?? '', /^2,[\d.]+,,3\.1,3\.3$/);
    const file = join(tmp, 'm.csv');
    const toFile = await sextant(['runs', 'export', ids.done, '--csv', file]);
    assert.equal(toFile.status, 0);
    assert.equal(readFileSync(file, 'utf8'), out.stdout);
  });

  test('report writes report.html and report.md into the run folder', async () => {
    const { status, stdout, stderr } = await sextant(['runs', 'report', ids.done]);
    assert.equal(status, 0, stderr);
    const [html, md] = stdout.trim().split('\n');
    assert.equal(html, join(storeDir, ids.done, 'report.html'));
    assert.equal(md, join(storeDir, ids.done, 'report.md'));
    assert.match(readFileSync(html as string, 'utf8'), /<svg/);
    const json = await sextant(['runs', 'report', ids.done, '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { html, markdown: md });
  });

  test('rm removes a run; a live running one needs --force', async () => {
    const refused = await sextant(['runs', 'rm', ids.running]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /it is running \(process \d+ on .*\); stop it first, or force/);
    const { status, stdout } = await sextant(['runs', 'rm', ids.other]);
    assert.equal(status, 0);
    assert.equal(stdout, `removed ${ids.other}\n`);
    assert.equal(existsSync(join(storeDir, ids.other)), false);
    const forced = await sextant(['runs', 'rm', '--force', ids.running]);
    assert.equal(forced.status, 0, forced.stderr);
    const left = JSON.parse((await sextant(['runs', 'ls', '--json'])).stdout) as { id: string }[];
    assert.deepEqual(
      left.map((r) => r.id),
      [ids.done],
    );
  });
});
