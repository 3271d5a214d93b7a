/**
 * Checkpoints on disk: a round trip keeps every tensor and number, old checkpoints are pruned,
 * and a process killed with SIGKILL while writing checkpoints in a loop leaves the previous ones
 * whole (every `step-*` folder reads back, with the values of its own step).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { full } from '../src/tensor/create.js';
import type { Tensor } from '../src/tensor/tensor.js';
import {
  CheckpointError,
  latestCheckpoint,
  listCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from '../src/train/checkpoint.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-ckpt-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A checkpoint whose every value is `step`, so a torn or mixed one is seen at once. */
function checkpointOf(step: number, dir: string, size = 1000, keep = 2) {
  return writeCheckpoint({
    dir,
    trainer: {
      step,
      totalSteps: 1000,
      seed: 9,
      random: {},
      data: { batches: step },
      counters: { flops: step * 10, items: step * 4, trainSeconds: step / 10 },
    },
    model: new Map([
      ['a.weight', full([size], step)],
      ['b.weight', full([size, 2], step)],
    ]),
    optimizer: {
      state: {
        0: { step, expAvg: full([size], step), expAvgSq: full([size], step) },
        1: { step, expAvg: full([size, 2], step), expAvgSq: full([size, 2], step) },
      },
      paramGroups: [
        { params: [0, 1], lr: 0.001, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8 },
      ],
    },
    extraFiles: { 'task.json': `{"step": ${step}}\n` },
    keep,
  });
}

/** Checks that the checkpoint in `dir` is whole: every value equals its step. */
function assertWhole(dir: string): number {
  const c = readCheckpoint(dir);
  const step = c.trainer.step;
  for (const [name, t] of c.model) {
    assert.ok(
      t.data.every((v) => v === step),
      `${dir}: model tensor ${name} is not all ${step}`,
    );
  }
  for (const [i, state] of Object.entries(c.optimizer.state)) {
    assert.equal(state.step, step, `${dir}: optimiser state ${i} step`);
    for (const field of ['expAvg', 'expAvgSq']) {
      const t = state[field] as Tensor;
      assert.ok(
        t.data.every((v) => v === step),
        `${dir}: optim.state.${i}.${field}`,
      );
    }
  }
  assert.equal(fs.readFileSync(path.join(dir, 'task.json'), 'utf8'), `{"step": ${step}}\n`);
  assert.deepEqual(c.trainer.data, { batches: step });
  return step;
}

describe('checkpoints', () => {
  test('round trip, replacement of the same step, and pruning to the newest', () => {
    const dir = path.join(tmp, 'roundtrip');
    for (const step of [1, 2, 3]) checkpointOf(step, dir, 10);
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.step),
      [2, 3],
      'keep 2',
    );
    assert.equal(assertWhole(path.join(dir, 'step-00000003')), 3);
    const c = readCheckpoint(path.join(dir, 'step-00000003'));
    assert.deepEqual(c.optimizer.paramGroups[0]?.betas, [0.9, 0.999]);
    assert.equal(c.trainer.counters.flops, 30);
    checkpointOf(3, dir, 10); // the same step again replaces it whole
    assert.equal(assertWhole(path.join(dir, 'step-00000003')), 3);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['step-00000002', 'step-00000003']);
  });

  test('a folder that is not a checkpoint is named in the error', () => {
    const dir = path.join(tmp, 'not-a-checkpoint');
    fs.mkdirSync(dir);
    assert.throws(
      () => readCheckpoint(dir),
      (e: Error) =>
        e instanceof CheckpointError && e.message.startsWith(`${dir}: not a checkpoint folder`),
    );
  });

  test('SIGKILL during checkpoint writes leaves the previous checkpoints readable', async () => {
    const module = pathToFileURL(
      path.join(
        path.dirname(new URL(import.meta.url).pathname),
        '..',
        'src',
        'train',
        'checkpoint.js',
      ),
    ).href;
    const create = pathToFileURL(
      path.join(
        path.dirname(new URL(import.meta.url).pathname),
        '..',
        'src',
        'tensor',
        'create.js',
      ),
    ).href;
    // The child writes checkpoints of ~20 MB each in a loop (about 100 ms each), announcing when it
    // begins each write.
    const child = `
      import { writeCheckpoint } from ${JSON.stringify(module)};
      import { full } from ${JSON.stringify(create)};
      const dir = process.argv[1];
      const n = 1000000;
      for (let step = 1; ; step++) {
        const model = new Map([['a.weight', full([n], step)], ['b.weight', full([n, 2], step)]]);
        process.stdout.write('begin ' + step + '\\n');
        writeCheckpoint({
          dir,
          trainer: { step, totalSteps: 1e6, seed: 9, random: {}, data: { batches: step },
            counters: { flops: step * 10, items: step * 4, trainSeconds: step / 10 } },
          model,
          optimizer: {
            state: {
              0: { step, expAvg: full([n], step), expAvgSq: full([n], step) },
              1: { step, expAvg: full([n, 2], step), expAvgSq: full([n, 2], step) },
            },
            paramGroups: [
              { params: [0, 1], lr: 0.001, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8 },
            ],
          },
          extraFiles: { 'task.json': '{"step": ' + step + '}\\n' },
          keep: 2,
        });
        process.stdout.write('done ' + step + '\\n');
      }`;
    let tornWrites = 0;
    // Three kills at different moments; more (up to six) while none has landed inside a write,
    // since on a busy machine a write may finish sooner or start later than expected.
    const delays = [5, 20, 45, 10, 30, 60];
    for (const [trial, delayMs] of delays.entries()) {
      if (trial >= 3 && tornWrites > 0) break;
      const dir = path.join(tmp, `kill-${trial}`);
      const proc = spawn(process.execPath, ['--input-type=module', '-e', child, dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      let killing = false;
      await new Promise<void>((resolve, reject) => {
        proc.on('error', reject);
        proc.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          // Two complete checkpoints, then a kill a few ms into the write of the third.
          if (!killing && output.includes('begin 3\n')) {
            killing = true;
            setTimeout(() => proc.kill('SIGKILL'), delayMs);
          }
        });
        proc.on('exit', () => resolve());
      });
      if (fs.readdirSync(dir).some((name) => name.startsWith('.tmp-'))) tornWrites += 1;
      const all = listCheckpoints(dir);
      assert.ok(all.length >= 1, `trial ${trial}: no checkpoint left in ${dir}`);
      for (const c of all) assert.equal(assertWhole(c.dir), c.step, `trial ${trial}`);
      const latest = latestCheckpoint(dir);
      assert.ok((latest?.step ?? 0) >= 2, `trial ${trial}: latest step ${latest?.step}`);
    }
    // At least one kill landed inside a write (its temporary folder is left): the test tested.
    assert.ok(tornWrites >= 1, 'no kill interrupted a write; the delays need retuning');
  });
});
