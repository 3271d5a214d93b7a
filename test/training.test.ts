/** Invariants of training: parameters move, loss falls, accumulation equals a bigger batch. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as s from '../src/index.js';
import { AdamW, SGD } from '../src/optim/index.js';
import { Generator, randn } from '../src/tensor/random.js';
import { assertClose, describeEachBackend } from './helpers.js';

/** A two-layer MLP classifier, `x` `[N, 4]` to logits `[N, 3]`. */
function mlp(params: s.Tensor[], x: s.Tensor): s.Tensor {
  const [w1, b1, w2, b2] = params;
  const h = s.gelu(s.linear(x, w1, b1)); // [N, 16]
  return s.linear(h, w2, b2); // [N, 3]
}

function makeParams(rng: Generator, dtype: s.FloatDType): s.Tensor[] {
  return [
    randn([16, 4], rng, { dtype, std: 0.5, requiresGrad: true }),
    s.zeros([16], { dtype, requiresGrad: true }),
    randn([3, 16], rng, { dtype, std: 0.5, requiresGrad: true }),
    s.zeros([3], { dtype, requiresGrad: true }),
  ];
}

/** Points labelled by which of three directions they lean towards: learnable, not trivial. */
function makeData(rng: Generator, n: number, dtype: s.FloatDType): [s.Tensor, s.Tensor] {
  const x = randn([n, 4], rng, { dtype });
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const row = Array.from(x.data.subarray(i * 4, i * 4 + 4));
    const scores = [row[0] + row[1], row[2] - row[0], -row[1] - row[3]];
    labels[i] = scores.indexOf(Math.max(...scores));
  }
  return [x, s.tensor(labels, { dtype: 'int32' })];
}

describeEachBackend('training invariants', () => {
  test('every parameter moves after one AdamW step, and the loss falls over 40', () => {
    const rng = new Generator(3);
    const params = makeParams(rng, 'float32');
    const [x, y] = makeData(rng, 64, 'float32');
    const before = params.map((p) => p.clone());
    const opt = new AdamW(params, { lr: 0.05 });
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) {
      opt.zeroGrad();
      const loss = s.crossEntropy(mlp(params, x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
      if (step === 0) {
        params.forEach((p, i) => {
          const moved = p.data.some((v, j) => v !== before[i].data[j]);
          assert.ok(moved, `parameter ${i} did not move after the first step`);
        });
      }
    }
    assert.ok(losses[39] < 0.5 * losses[0], `loss went ${losses[0]} -> ${losses[39]}`);
  });

  test('gradient accumulation over 4 micro-batches equals one batch 4 times larger', () => {
    const rng = new Generator(11);
    const params = makeParams(rng, 'float64');
    const [x, y] = makeData(rng, 24, 'float64');
    s.crossEntropy(mlp(params, x), y).backward();
    const full = params.map((p) => Float64Array.from(p.grad?.data ?? []));
    for (const p of params) p.grad = null;
    for (let k = 0; k < 4; k++) {
      const xs = s.slice(x, 0, 6 * k, 6 * k + 6);
      const ys = s.slice(y, 0, 6 * k, 6 * k + 6);
      s.mul(s.crossEntropy(mlp(params, xs), ys), 0.25).backward();
    }
    params.forEach((p, i) => {
      assertClose(p.grad?.data ?? [], full[i], { atol: 1e-14, rtol: 1e-12 }, `grad of param ${i}`);
    });
  });

  test('the same seed gives the same run; another seed another', () => {
    const run = (seed: number) => {
      const rng = new Generator(seed);
      const params = makeParams(rng, 'float32');
      const [x, y] = makeData(rng, 32, 'float32');
      const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
      let loss = 0;
      for (let i = 0; i < 5; i++) {
        opt.zeroGrad();
        const l = s.crossEntropy(mlp(params, x), y);
        l.backward();
        opt.step();
        loss = l.item();
      }
      return loss;
    };
    assert.equal(run(5), run(5));
    assert.notEqual(run(5), run(6));
  });
});
