/**
 * The run store across processes: two writers at once lose nothing, and a process killed with
 * SIGKILL (mid-run, mid-append) leaves its run readable and marked interrupted. The children are
 * plain `node -e` scripts that import the built store.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RunStore } from '../src/runs/index.js';

// This file runs as dist/test/runs-processes.test.js; the store is dist/src/runs/index.js.
const storeModule = pathToFileURL(
  join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'runs', 'index.js'),
).href;

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'sextant-runs-proc-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Starts `node -e <body>` with `RunStore` imported and `root` defined. */
function child(root: string, body: string): ChildProcess {
  const code = `import { RunStore } from ${JSON.stringify(storeModule)};
const root = ${JSON.stringify(root)};
${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves with the exit code (or signal) and the output once `p` has exited. */
function exited(
  p: ChildProcess,
): Promise<{ code: number | null; signal: string | null; err: string }> {
  let err = '';
  p.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => {
    p.on('exit', (code, signal) => resolve({ code, signal, err }));
  });
}

/** Resolves with the first line `p` prints (the run id), once `minLines` lines were logged. */
function firstLine(p: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    p.on('exit', () => reject(new Error(`child exited before printing: ${out}`)));
  });
}

describe('run store across processes', () => {
  test('two processes writing 200 runs each to one store lose nothing', async () => {
    const root = join(tmp, 'concurrent');
    // No store yet: both writers create it at once, which must be safe too.
    const writer = (tag: string) =>
      child(
        root,
        `const store = RunStore.open(root);
for (let i = 0; i < 200; i++) {
  const config = { tag: '${tag}', i };
  const run = store.create({ name: '${tag}-' + i, kind: 'concurrency', config });
  for (let s = 1; s <= 3; s++) run.logMetrics(s, { 'train/loss': i + s / 10 });
  run.finish({ 'train/loss': i + 0.3 });
}
store.close();`,
      );
    const results = await Promise.all([exited(writer('a')), exited(writer('b'))]);
    for (const r of results) assert.equal(r.code, 0, r.err);

    const store = RunStore.open(root);
    const runs = store.list({ kind: 'concurrency' });
    assert.equal(runs.length, 400);
    assert.equal(new Set(runs.map((r) => r.id)).size, 400, 'ids are unique');
    for (const tag of ['a', 'b']) {
      const names = new Set(runs.filter((r) => r.name.startsWith(`${tag}-`)).map((r) => r.name));
      assert.equal(names.size, 200, `all 200 runs of writer ${tag}`);
    }
    for (const r of runs) {
      assert.equal(r.status, 'done', r.id);
      const i = (r.config as { i: number }).i;
      assert.deepEqual(r.finalMetrics, { 'train/loss': i + 0.3 });
      const { records, warnings } = store.readMetrics(r.id);
      assert.deepEqual(warnings, []);
      assert.deepEqual(
        records.map((m) => [m.step, m['train/loss']]),
        [
          [1, i + 0.1],
          [2, i + 0.2],
          [3, i + 0.3],
        ],
      );
    }
    store.close();
  });

  test('a run whose process is SIGKILLed shows as interrupted, its metrics intact', async () => {
    const root = join(tmp, 'sigkill');
    // The child logs steps with lines of ~4 KB (so a kill can land during an append), and never
    // finishes: it is killed once it has logged some.
    const p = child(
      root,
      `const store = RunStore.open(root);
const run = store.create({ name: 'doomed', kind: 'train lm', config: { seed: 1 } });
const wide = {};
for (let k = 0; k < 200; k++) wide['train/m' + k] = Math.PI * k;
process.stdout.write(run.id + '\\n');
for (let s = 1; ; s++) run.logMetrics(s, { 'train/loss': 1 / s, ...wide });`,
    );
    const done = exited(p);
    const id = await firstLine(p);
    const file = join(root, id, 'metrics.jsonl');
    // Wait until a few hundred lines are there, then kill it mid-loop.
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 10));
      let size = 0;
      try {
        size = readFileSync(file).length;
      } catch {
        // not created yet
      }
      if (size > 400_000) break;
    }
    p.kill('SIGKILL');
    const { signal } = await done;
    assert.equal(signal, 'SIGKILL');

    const store = RunStore.open(root);
    const run = store.get(id);
    assert.equal(run.status, 'interrupted');
    assert.match(run.error ?? '', /process \d+ on .* is gone \(killed or crashed\)/);
    const { records, warnings } = store.readMetrics(id);
    assert.ok(records.length >= 50, `${records.length} steps logged before the kill`);
    // Every line before the last is whole: steps 1..n in order, each with all its metrics.
    records.forEach((r, i) => {
      assert.equal(r.step, i + 1);
      assert.equal(r['train/loss'], 1 / (i + 1));
      assert.equal(Object.keys(r).length, 203);
    });
    // At most the line being written when the kill came is lost, with a warning naming it.
    assert.ok(warnings.length <= 1, warnings.join('\n'));
    for (const w of warnings) assert.match(w, /metrics\.jsonl:\d+: torn last line/);
    assert.equal(run.lastStep, records.length);
    // `runs ls` sees the same.
    assert.deepEqual(
      store.list({ status: 'interrupted' }).map((r) => r.id),
      [id],
    );
    store.close();
  });
});
