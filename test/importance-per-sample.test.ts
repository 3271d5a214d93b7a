/**
 * The per-sample scores of the importance study: the batched gradient norm equals one backward per
 * sample (float64, 1e-10 relative), for classification and regression, with and without biases;
 * EL2N and forgetting events on hand-made cases.
 *
 * Dimension legend: B samples, F features, K classes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, randint, randn, tensor } from '../src/index.js';
import { MLP } from '../src/models/index.js';
import {
  batchedGradNorms,
  bruteForceGradNorms,
  errorScores,
  forgettingEvents,
} from '../src/studies/importance/per-sample.js';
import { describeEachBackend } from './helpers.js';

function assertRelClose(a: Float64Array, b: Float64Array, rtol: number): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs((a[i] as number) - (b[i] as number));
    assert.ok(
      diff <= rtol * Math.abs(b[i] as number) + 1e-14,
      `sample ${i}: batched ${a[i]} vs per-sample ${b[i]}`,
    );
  }
}

describeEachBackend('per-sample gradient norms', () => {
  test('classification: batched equals one backward per sample (float64)', () => {
    const rng = new Generator(3);
    const model = new MLP({ sizes: [5, 7, 6, 3], dtype: 'float64', activation: 'tanh' }, { rng });
    const x = randn([9, 5], rng, { dtype: 'float64' }); // [B, F]
    const y = randint([9], 0, 3, rng); // [B]
    const batched = batchedGradNorms(model, { x, y });
    const reference = bruteForceGradNorms(model, { x, y });
    assertRelClose(batched, reference, 1e-10);
    assert.ok(batched.every((v) => v > 0));
    // The model's own gradients are left as they were (none).
    assert.ok(model.parameters().every((p) => p.grad === null));
  });

  test('regression without biases: batched equals per-sample (float64)', () => {
    const rng = new Generator(4);
    const model = new MLP({ sizes: [4, 8, 1], dtype: 'float64', bias: false }, { rng });
    const x = randn([6, 4], rng, { dtype: 'float64' }); // [B, F]
    const y = randn([6], rng, { dtype: 'float64' }); // [B]
    assertRelClose(batchedGradNorms(model, { x, y }), bruteForceGradNorms(model, { x, y }), 1e-10);
  });

  test('a linear regressor by hand: norm = 2|e|·sqrt(|x|² + 1)', () => {
    const model = new MLP({ sizes: [2, 1], dtype: 'float64' });
    model.layers.items[0]?.weight.data.set([1, -2]);
    const x = tensor(
      [
        [3, 1],
        [0, 2],
      ],
      { dtype: 'float64' },
    ); // [2, 2]
    const y = tensor([0, -1], { dtype: 'float64' }); // predictions 1 and -4: errors 1, -3
    const norms = batchedGradNorms(model, { x, y });
    assert.ok(Math.abs((norms[0] as number) - 2 * 1 * Math.sqrt(10 + 1)) < 1e-12);
    assert.ok(Math.abs((norms[1] as number) - 2 * 3 * Math.sqrt(4 + 1)) < 1e-12);
  });
});

test('EL2N of a classifier is |softmax − onehot|; of a regressor |ŷ − y|', () => {
  const model = new MLP({ sizes: [1, 2], dtype: 'float64' });
  model.layers.items[0]?.weight.data.set([1, -1]); // logits [x, -x]
  const x = tensor([[0], [Math.log(3) / 2]], { dtype: 'float64' }); // p = [0.5,0.5], [0.75,0.25]
  const y = tensor(new Int32Array([0, 1]));
  const s = errorScores(model, { x, y });
  assert.ok(Math.abs((s.el2n[0] as number) - Math.sqrt(0.5)) < 1e-12);
  assert.ok(Math.abs((s.el2n[1] as number) - Math.sqrt(2 * 0.75 ** 2)) < 1e-12);
  // A tie goes to the first class (the target of sample 0); sample 1 is predicted class 0.
  assert.deepEqual([...s.correct], [1, 0]);
});

test('forgetting events count correct-to-wrong transitions; never correct is +Infinity', () => {
  const epochs = [
    Uint8Array.from([1, 0, 1]),
    Uint8Array.from([0, 0, 1]),
    Uint8Array.from([1, 0, 0]),
    Uint8Array.from([0, 0, 1]),
  ];
  assert.deepEqual([...forgettingEvents(epochs, 3)], [2, Number.POSITIVE_INFINITY, 1]);
});
