/**
 * The trainer: a resumed run equals an uninterrupted one bitwise, gradient accumulation over k
 * micro-batches equals one batch k times larger, a NaN loss stops the run naming the step and the
 * last checkpoint, and a requested stop checkpoints first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { UNKNOWN_CHAR } from '../src/data/text.js';
import { CharTokenizer } from '../src/io/tokenizers/char.js';
import { MLP } from '../src/models/mlp.js';
import { AdamW } from '../src/optim/adam.js';
import { SGD } from '../src/optim/sgd.js';
import { tensor } from '../src/tensor/create.js';
import { affine } from '../src/tensor/ops/elementwise.js';
import { crossEntropy } from '../src/tensor/ops/nn.js';
import { Generator } from '../src/tensor/random.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { latestCheckpoint, readCheckpoint } from '../src/train/checkpoint.js';
import type { TrainLmConfig } from '../src/train/config.js';
import { NonFiniteLossError, ResumeError } from '../src/train/errors.js';
import { type RandomState, RandomStreams } from '../src/train/random-streams.js';
import { makeSchedule } from '../src/train/schedule.js';
import type { Metrics, TrainTask } from '../src/train/task.js';
import { setupLanguageModel } from '../src/train/tasks/lm.js';
import { Trainer } from '../src/train/trainer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-trainer-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A few thousand characters of seeded pseudo-English: enough for a tiny language model. */
function syntheticText(): string {
  const words = ['the', 'whale', 'sea', 'ship', 'captain', 'white', 'deep', 'sails', 'and', 'of'];
  const rng = new Generator(7);
  const out: string[] = [];
  for (let i = 0; i < 1500; i++) out.push(words[rng.randint(0, words.length)] as string);
  return out.join(' ');
}

const TEXT = syntheticText();
const STEPS = 12;

/**
 * A tiny GPT with dropout (so the dropout stream matters), AdamW, cosine schedule, two
 * micro-batches per step and clipping: every piece of state a resume must restore.
 */
function lmRun(
  random: RandomStreams,
  checkpointDir: string,
  onStep?: (t: Trainer<unknown>, step: number, m: Metrics) => void,
) {
  const config = {
    model: 'gpt2',
    layers: 1,
    width: 16,
    heads: 2,
    context: 8,
    dropout: 0.1,
    batchSize: 4,
    evalBatches: 2,
    valFraction: 0.1,
  } as TrainLmConfig;
  const tokenizer = CharTokenizer.fromText(TEXT, { unk: UNKNOWN_CHAR });
  const { task } = setupLanguageModel(
    config,
    { source: 'synthetic', text: TEXT },
    tokenizer,
    random,
  );
  const optimizer = new AdamW(task.model.parameters(), { lr: 1e-2, weightDecay: 0.1 });
  const metrics: [number, Metrics][] = [];
  const trainer: Trainer<unknown> = new Trainer(task as TrainTask<unknown>, optimizer, {
    totalSteps: STEPS,
    schedule: makeSchedule('cosine', { lr: 1e-2, warmupSteps: 3, totalSteps: STEPS }),
    random,
    gradAccumSteps: 2,
    gradClip: 0.5,
    evalEvery: 4,
    checkpointEvery: 5,
    checkpointDir,
    callbacks: {
      onStep(step, m) {
        metrics.push([step, m]);
        onStep?.(trainer, step, m);
      },
    },
  });
  return { trainer, metrics, task };
}

/** Metrics without the wall-clock ones (throughput differs between any two runs). */
function deterministic(m: Metrics): Metrics {
  return Object.fromEntries(Object.entries(m).filter(([k]) => !k.endsWith('_per_s')));
}

describe('Trainer', () => {
  test('a run stopped and resumed from its checkpoint ends bitwise as a whole run', async () => {
    const whole = lmRun(new RandomStreams(3), path.join(tmp, 'whole'));
    const wholeResult = await whole.trainer.run();
    assert.equal(wholeResult.status, 'done');

    // Stop after step 7: not a multiple of checkpointEvery, so the stop's own checkpoint is used.
    const dir = path.join(tmp, 'resumed');
    const first = lmRun(new RandomStreams(3), dir, (t, step) => {
      if (step === 7) t.requestStop('test');
    });
    const stopped = await first.trainer.run();
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.step, 7);
    assert.equal(stopped.checkpoint?.step, 7);

    // A fresh process would do this: streams from the checkpoint, then task, model, optimiser.
    const latest = latestCheckpoint(dir);
    assert.equal(latest?.step, 7);
    const checkpoint = readCheckpoint((latest as { dir: string }).dir);
    const second = lmRun(new RandomStreams(3, checkpoint.trainer.random as RandomState), dir);
    second.trainer.restore(checkpoint);
    const resumed = await second.trainer.run();
    assert.equal(resumed.status, 'done');

    const expected = whole.metrics.filter(([s]) => s > 7).map(([s, m]) => [s, deterministic(m)]);
    const actual = second.metrics.map(([s, m]) => [s, deterministic(m)]);
    assert.deepEqual(actual, expected, 'metrics of steps 8..12, bitwise');
    assert.equal(resumed.finalMetrics['train/loss'], wholeResult.finalMetrics['train/loss']);
    assert.equal(resumed.finalMetrics['val/loss'], wholeResult.finalMetrics['val/loss']);
    assert.equal(resumed.finalMetrics['train/flops'], wholeResult.finalMetrics['train/flops']);
    const a = whole.task.model.parameters();
    const b = second.task.model.parameters();
    a.forEach((p, i) => {
      assert.deepEqual(b[i]?.data, p.data, `parameter ${p.name} bitwise`);
    });
    // The test means something: the loss moved, and dropout was on.
    const losses = whole.metrics.map(([, m]) => m['train/loss'] as number);
    assert.ok((losses[0] as number) - (losses[STEPS - 1] as number) > 0.2, `losses ${losses}`);
  });

  test('resuming with another seed, or streams not from the checkpoint, is refused', async () => {
    const dir = path.join(tmp, 'refuse');
    const run = lmRun(new RandomStreams(5), dir, (t, step) => {
      if (step === 2) t.requestStop();
    });
    await run.trainer.run();
    const checkpoint = readCheckpoint((latestCheckpoint(dir) as { dir: string }).dir);
    const otherSeed = lmRun(new RandomStreams(6, checkpoint.trainer.random as RandomState), dir);
    assert.throws(
      () => otherSeed.trainer.restore(checkpoint),
      (e: Error) => {
        assert.ok(e instanceof ResumeError);
        assert.match(e.message, /the checkpoint's seed is 5, this run's 6/);
        return true;
      },
    );
    const freshStreams = lmRun(new RandomStreams(5), dir);
    assert.throws(
      () => freshStreams.trainer.restore(checkpoint),
      /random stream '\w+' does not continue/,
    );
  });
});

/** Eight fixed rows, float64, served in order `batchSize` at a time (wrapping around). */
class RowsTask implements TrainTask<{ x: Tensor; y: Tensor }> {
  readonly model: MLP;
  private position = 0;
  private readonly x = Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.3));
  private readonly y = [0, 1, 1, 0, 1, 0, 0, 1];

  constructor(
    private readonly batchSize: number,
    /** The loss of this (1-based) batch is multiplied by NaN. */
    private readonly poisonBatch = -1,
  ) {
    this.model = new MLP({ sizes: [3, 8, 2], dtype: 'float64' }, { rng: new Generator(11) });
  }

  nextBatch() {
    const rows = Array.from(
      { length: this.batchSize },
      (_, i) => (this.position * this.batchSize + i) % 8,
    );
    this.position += 1;
    return {
      x: tensor(
        rows.flatMap((r) => this.x.slice(3 * r, 3 * r + 3)),
        { shape: [rows.length, 3], dtype: 'float64' },
      ),
      y: tensor(Int32Array.from(rows, (r) => this.y[r] as number)),
      poisoned: this.position === this.poisonBatch,
    };
  }

  lossOnBatch(batch: { x: Tensor; y: Tensor; poisoned?: boolean }): Tensor {
    const loss = crossEntropy(this.model.call(batch.x), batch.y);
    return batch.poisoned === true ? affine(loss, Number.NaN) : loss;
  }

  batchItems(batch: { y: Tensor }): number {
    return batch.y.size;
  }

  evalBatches() {
    return [];
  }

  evaluate(): Metrics {
    return {};
  }

  dataPosition() {
    return { position: this.position };
  }

  restoreDataPosition(p: unknown): void {
    this.position = (p as { position: number }).position;
  }
}

function rowsRun(
  batchSize: number,
  accum: number,
  options: { poison?: number; dir?: string } = {},
) {
  const task = new RowsTask(batchSize, options.poison);
  const trainer = new Trainer(task, new SGD(task.model.parameters(), { lr: 0.5, momentum: 0.9 }), {
    totalSteps: 6,
    schedule: makeSchedule('constant', { lr: 0.5 }),
    random: new RandomStreams(1),
    gradAccumSteps: accum,
    checkpointEvery: 2,
    checkpointDir: options.dir ?? null,
  });
  return { task, trainer };
}

describe('Trainer: accumulation and failures', () => {
  test('4 micro-batches of 2 rows update as one batch of 8 (float64, 1e-12)', async () => {
    const big = rowsRun(8, 1);
    const small = rowsRun(2, 4);
    const rb = await big.trainer.run();
    const rs = await small.trainer.run();
    const pb = big.task.model.parameters();
    const ps = small.task.model.parameters();
    pb.forEach((p, i) => {
      const q = ps[i] as Tensor;
      for (let j = 0; j < p.size; j++) {
        const d = Math.abs((p.data[j] as number) - (q.data[j] as number));
        assert.ok(d <= 1e-12, `parameter ${i}[${j}] differs by ${d}`);
      }
    });
    const lb = rb.finalMetrics['train/loss'] as number;
    const ls = rs.finalMetrics['train/loss'] as number;
    assert.ok(Math.abs(lb - ls) <= 1e-12, `train/loss ${lb} vs ${ls}`);
    // The parameters moved: the comparison is not of two untouched models.
    const fresh = new RowsTask(8).model.parameters()[0] as Tensor;
    assert.notDeepEqual(Array.from((pb[0] as Tensor).data), Array.from(fresh.data));
  });

  test('a NaN loss stops the run, naming the step and the last good checkpoint', async () => {
    const dir = path.join(tmp, 'nan');
    // Batch 5 is the first micro-batch of step 5 (one micro-batch per step).
    const { trainer, task } = rowsRun(2, 1, { poison: 5, dir });
    await assert.rejects(trainer.run(), (e: Error) => {
      assert.ok(e instanceof NonFiniteLossError);
      assert.equal(e.step, 5);
      assert.match(
        e.message,
        /^training stopped at step 5: the loss is NaN; the last good checkpoint is .*step-00000004/,
      );
      return true;
    });
    // The failed step changed nothing: the weights are those of checkpoint 4.
    const saved = readCheckpoint(path.join(dir, 'step-00000004'));
    for (const [name, t] of task.model.stateDict()) {
      assert.deepEqual(
        Array.from(t.data),
        Array.from((saved.model.get(name) as Tensor).data),
        name,
      );
    }
  });

  test('without checkpoints the NaN message says none was written', async () => {
    const { trainer } = rowsRun(2, 2, { poison: 2 });
    await assert.rejects(
      trainer.run(),
      /at step 1: the loss is NaN \(micro-batch 2 of 2\); no checkpoint was written before it/,
    );
  });
});
