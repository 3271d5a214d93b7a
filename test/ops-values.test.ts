/** Forward values of the ops on small cases computed by hand, on each backend. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as s from '../src/index.js';
import { assertClose, describeEachBackend } from './helpers.js';

const exact = { atol: 0, rtol: 0 };
const f32 = { atol: 1e-6, rtol: 1e-6 };

describeEachBackend('op values', () => {
  test('broadcasting arithmetic', () => {
    const a = s.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = s.tensor([10, 20, 30]);
    assert.deepEqual(s.add(a, b).toArray(), [
      [11, 22, 33],
      [14, 25, 36],
    ]);
    assert.deepEqual(s.sub(s.tensor([[1], [2]]), b).toArray(), [
      [-9, -19, -29],
      [-8, -18, -28],
    ]);
    assert.deepEqual(s.mul(a, 2).toArray(), [
      [2, 4, 6],
      [8, 10, 12],
    ]);
    assert.deepEqual(s.div(a, s.tensor([[2], [4]])).toArray(), [
      [0.5, 1, 1.5],
      [1, 1.25, 1.5],
    ]);
    assert.deepEqual(s.pow(s.tensor([2, 3]), 2).toArray(), [4, 9]);
    assert.deepEqual(s.maximum(a, 3.5).toArray(), [
      [3.5, 3.5, 3.5],
      [4, 5, 6],
    ]);
  });

  test('integer arithmetic stays integer', () => {
    const a = s.tensor([7, -7, 9], { dtype: 'int32' });
    assert.deepEqual(Array.from(s.div(a, 2).data), [3, -3, 4]);
    assert.equal(s.add(a, 1).dtype, 'int32');
  });

  test('unary functions at known points', () => {
    const x = s.tensor([-1, 0, 1, 2], { dtype: 'float64' });
    const tol = { atol: 1e-12, rtol: 1e-12 };
    assertClose(s.relu(x).data, [0, 0, 1, 2], exact);
    assertClose(
      s.sigmoid(x).data,
      [1 / (1 + Math.E), 0.5, 1 / (1 + 1 / Math.E), 1 / (1 + Math.exp(-2))],
      tol,
    );
    assertClose(
      s.silu(x).data,
      [-1 / (1 + Math.E), 0, 1 / (1 + 1 / Math.E), 2 / (1 + Math.exp(-2))],
      tol,
    );
    // Exact GELU: x * Phi(x); Phi(1) = 0.8413447460685429.
    assertClose(
      s.gelu(x).data,
      [-(1 - 0.8413447460685429), 0, 0.8413447460685429, 2 * 0.9772498680518208],
      tol,
    );
    const t = (v: number) =>
      0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    assertClose(s.gelu(x, 'tanh').data, [t(-1), 0, t(1), t(2)], tol);
    assertClose(s.rsqrt(s.tensor([4, 0.25], { dtype: 'float64' })).data, [0.5, 2], tol);
  });

  test('comparisons, where and masked fill', () => {
    const a = s.tensor([1, 2, 3]);
    assert.deepEqual(Array.from(s.gt(a, 2).data), [0, 0, 1]);
    assert.deepEqual(Array.from(s.le(a, s.tensor([2, 2, 2])).data), [1, 1, 0]);
    assert.equal(s.eq(a, 2).dtype, 'int32');
    const m = s.tensor([1, 0, 1], { dtype: 'int32' });
    assert.deepEqual(s.where(m, a, s.tensor([-1])).toArray(), [1, -1, 3]);
    assert.deepEqual(
      s
        .maskedFill(
          s.tensor([
            [1, 2, 3],
            [4, 5, 6],
          ]),
          m,
          0,
        )
        .toArray(),
      [
        [0, 2, 0],
        [0, 5, 0],
      ],
    );
  });

  test('reductions', () => {
    const x = s.tensor([
      [1, 5, 3],
      [4, 2, 6],
    ]);
    assert.deepEqual(s.sum(x).toArray(), 21);
    assert.deepEqual(s.sum(x, 0).toArray(), [5, 7, 9]);
    assert.deepEqual(s.sum(x, 1, true).toArray(), [[9], [12]]);
    assert.deepEqual(s.mean(x, -1).toArray(), [3, 4]);
    assert.deepEqual(s.max(x, 1).toArray(), [5, 6]);
    assert.deepEqual(s.min(x, 0).toArray(), [1, 2, 3]);
    assert.deepEqual(s.argmax(x, 1).toArray(), [1, 2]);
    assert.deepEqual(s.argmin(x, 0).toArray(), [0, 1, 0]);
    // Unbiased by default: var([1,5,3]) = 4; population: 8/3.
    assertClose(s.variance(x, 1).data, [4, 4], f32);
    assertClose(s.variance(x, 1, false, 0).data, [8 / 3, 8 / 3], f32);
    const cube = s.arange(24).reshape([2, 3, 4]);
    assert.deepEqual(s.sum(cube, [0, 2]).toArray(), [60, 92, 124]);
  });

  test('argmax takes the first of ties and treats NaN as largest', () => {
    assert.deepEqual(s.argmax(s.tensor([3, 7, 7, 1])).toArray(), 1);
    assert.deepEqual(s.argmax(s.tensor([3, Number.NaN, 9])).toArray(), 1);
    assert.ok(Number.isNaN(s.max(s.tensor([3, Number.NaN, 9])).item()));
  });

  test('shape ops move the right elements', () => {
    const x = s.arange(6).reshape([2, 3]);
    assert.deepEqual(s.transpose(x).toArray(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.deepEqual(s.slice(x, 1, 1).toArray(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(s.concat([x, x], 0).shape, [4, 3]);
    assert.deepEqual(s.concat([x, s.tensor([[9], [9]])], 1).toArray(), [
      [0, 1, 2, 9],
      [3, 4, 5, 9],
    ]);
    assert.deepEqual(s.stack([s.tensor([1, 2]), s.tensor([3, 4])], 1).toArray(), [
      [1, 3],
      [2, 4],
    ]);
    const [p, q] = s.split(x, [1, 2], 1);
    assert.deepEqual(p.toArray(), [[0], [3]]);
    assert.deepEqual(q.toArray(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(s.expand(s.tensor([[1], [2]]), [2, 2]).toArray(), [
      [1, 1],
      [2, 2],
    ]);
    const cube = s.arange(24).reshape([2, 3, 4]);
    assert.deepEqual(s.permute(cube, [2, 0, 1]).shape, [4, 2, 3]);
    assert.equal((s.permute(cube, [2, 0, 1]).toArray() as number[][][])[3][1][2], 23);
  });

  test('gather, index-select, embedding and one-hot', () => {
    const w = s.tensor([
      [0, 1],
      [10, 11],
      [20, 21],
    ]);
    const ids = s.tensor(
      [
        [2, 0],
        [1, 1],
      ],
      { dtype: 'int32' },
    );
    assert.deepEqual(s.embedding(w, ids).toArray(), [
      [
        [20, 21],
        [0, 1],
      ],
      [
        [10, 11],
        [10, 11],
      ],
    ]);
    const x = s.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const idx = s.tensor(
      [
        [2, 0],
        [1, 1],
      ],
      { dtype: 'int32' },
    );
    assert.deepEqual(s.gather(x, 1, idx).toArray(), [
      [3, 1],
      [5, 5],
    ]);
    assert.deepEqual(s.oneHot(s.tensor([2, 0], { dtype: 'int32' }), 3).toArray(), [
      [0, 0, 1],
      [1, 0, 0],
    ]);
  });

  test('matmul with transposed and broadcast operands', () => {
    const a = s.tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = s.tensor([
      [5, 6],
      [7, 8],
    ]);
    assert.deepEqual(s.matmul(a, b).toArray(), [
      [19, 22],
      [43, 50],
    ]);
    assert.deepEqual(s.matmul(a, b, { transA: true }).toArray(), [
      [26, 30],
      [38, 44],
    ]);
    assert.deepEqual(s.matmul(a, b, { transB: true }).toArray(), [
      [17, 23],
      [39, 53],
    ]);
    const batch = s.stack([a, b]);
    assert.deepEqual(s.matmul(batch, a).toArray(), [
      [
        [7, 10],
        [15, 22],
      ],
      [
        [23, 34],
        [31, 46],
      ],
    ]);
    assert.deepEqual(s.matmul(s.tensor([1, 1]), a).toArray(), [4, 6]);
  });

  test('softmax and cross-entropy by hand', () => {
    const logits = s.tensor(
      [
        [0, Math.log(3)],
        [1, 1],
      ],
      { dtype: 'float64' },
    );
    assertClose(s.softmax(logits).data, [0.25, 0.75, 0.5, 0.5], { atol: 1e-12, rtol: 0 });
    const targets = s.tensor([1, 0], { dtype: 'int32' });
    // Row losses: -log(0.75) and -log(0.5).
    const loss = s.crossEntropy(logits, targets);
    assertClose([loss.item()], [(-Math.log(0.75) - Math.log(0.5)) / 2], { atol: 1e-12, rtol: 0 });
    const ignored = s.crossEntropy(logits, s.tensor([1, -100], { dtype: 'int32' }));
    assertClose([ignored.item()], [-Math.log(0.75)], { atol: 1e-12, rtol: 0 });
    // Smoothing 0.2 over 2 classes: target distribution (0.1, 0.9) for row 0.
    const smooth = s.crossEntropy(logits, targets, { labelSmoothing: 0.2, reduction: 'none' });
    assertClose(smooth.data, [-(0.1 * Math.log(0.25) + 0.9 * Math.log(0.75)), -Math.log(0.5)], {
      atol: 1e-12,
      rtol: 0,
    });
  });

  test('layer norm and RMS norm by hand', () => {
    const x = s.tensor([[1, 2, 3, 6]], { dtype: 'float64' });
    // mean 3, biased variance 3.5
    const sd = Math.sqrt(3.5 + 1e-5);
    assertClose(s.layerNorm(x).data, [-2 / sd, -1 / sd, 0, 3 / sd], { atol: 1e-12, rtol: 0 });
    const rms = Math.sqrt((1 + 4 + 9 + 36) / 4 + 1e-6);
    const w = s.tensor([1, 2, 1, 1], { dtype: 'float64' });
    assertClose(s.rmsNorm(x, w).data, [1 / rms, 4 / rms, 3 / rms, 6 / rms], {
      atol: 1e-12,
      rtol: 0,
    });
  });

  test('attention with one key reproduces the value; padding hides keys', () => {
    const q = s.tensor([1, 0, 0, 1], { shape: [1, 1, 2, 2] });
    const k = s.tensor([1, 0, 0, 1], { shape: [1, 1, 2, 2] });
    const v = s.tensor([10, 20, 30, 40], { shape: [1, 1, 2, 2] });
    const causal = s.scaledDotProductAttention(q, k, v, { causal: true });
    // Query 0 sees only key 0.
    assertClose(causal.out.data.subarray(0, 2), [10, 20], f32);
    const mask = s.tensor([[0, 1]], { dtype: 'int32' });
    const padded = s.scaledDotProductAttention(q, k, v, { keyMask: mask });
    assertClose(padded.out.data, [30, 40, 30, 40], f32);
    assertClose(padded.probs.data, [0, 1, 0, 1], f32);
  });

  test('rotary embedding rotates pairs by position times frequency', () => {
    const { cos, sin } = s.ropeTables(2, 2, 10000);
    // D = 2: one pair, frequency 1; position 1 rotates (1, 0) by 1 radian.
    const x = s.tensor([1, 0, 1, 0], { shape: [1, 1, 2, 2] });
    assertClose(s.rope(x, cos, sin).data, [1, 0, Math.cos(1), Math.sin(1)], f32);
  });

  test('dropout drops about p and rescales the rest; off in eval', () => {
    const rng = new s.Generator(1);
    const x = s.ones([10000]);
    const y = s.dropout(x, 0.3, rng);
    let kept = 0;
    for (const v of y.data) {
      if (v !== 0) {
        kept++;
        assert.ok(Math.abs(v - 1 / 0.7) < 1e-6);
      }
    }
    assert.ok(kept > 6800 && kept < 7200, `kept ${kept} of 10000 at p = 0.3`);
    assert.equal(s.dropout(x, 0.3, rng, false), x);
  });
});
