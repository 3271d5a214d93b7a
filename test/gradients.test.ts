/**
 * Every differentiable op's gradient against central finite differences in float64, on odd shapes
 * and broadcasting cases, on each backend.
 */
import { test } from 'node:test';
import * as s from '../src/index.js';
import {
  assertClose,
  describeEachBackend,
  gradcheck,
  leaf,
  randomTensor,
  testRng,
} from './helpers.js';

describeEachBackend('gradients', () => {
  const rng = testRng(42);

  test('binary ops with broadcasting', () => {
    const cases: [number[], number[]][] = [
      [
        [3, 1, 5],
        [4, 1],
      ],
      [[2, 3], [3]],
      [[1], [2, 3]],
      [[], [3, 2]],
    ];
    for (const [sa, sb] of cases) {
      for (const op of [s.add, s.sub, s.mul, s.maximum, s.minimum] as const) {
        gradcheck((a, b) => op(a, b), [leaf(sa, rng), leaf(sb, rng)]);
      }
      gradcheck((a, b) => s.div(a, b), [leaf(sa, rng), leaf(sb, rng, 0.5, 2)]);
      gradcheck((a, b) => s.pow(a, b), [leaf(sa, rng, 0.5, 2), leaf(sb, rng, -1.5, 1.5)]);
    }
  });

  test('maximum splits the gradient on ties', () => {
    const a = s.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = s.tensor([1, 0, 4], { dtype: 'float64', requiresGrad: true });
    s.maximum(a, b).sum().backward();
    const expectA = [0.5, 1, 0];
    const expectB = [0.5, 0, 1];
    for (let i = 0; i < 3; i++) {
      if (a.grad?.data[i] !== expectA[i] || b.grad?.data[i] !== expectB[i]) {
        throw new Error(`tie gradients: ${a.grad?.data} / ${b.grad?.data}`);
      }
    }
  });

  test('unary ops', () => {
    for (const op of [s.log, s.sqrt, s.rsqrt]) gradcheck(op, [leaf([3, 5], rng, 0.3, 3)]);
    for (const op of [s.neg, s.exp, s.tanh, s.sigmoid, s.silu, s.square]) {
      gradcheck(op, [leaf([17], rng, -3, 3)]);
    }
    gradcheck((x) => s.gelu(x), [leaf([4, 3], rng, -3, 3)]);
    gradcheck((x) => s.gelu(x, 'tanh'), [leaf([4, 3], rng, -3, 3)]);
    // Away from the kinks at 0.
    const away = s.tensor([-2, -0.7, 0.4, 1.3, 2.2], { dtype: 'float64', requiresGrad: true });
    gradcheck((x) => s.relu(x), [away]);
    gradcheck((x) => s.abs(x), [away]);
    gradcheck((x) => s.affine(x, -1.5, 0.25), [leaf([2, 3], rng)]);
  });

  test('where and maskedFill', () => {
    const cond = s.tensor([1, 0, 1, 0, 0, 1], { dtype: 'int32', shape: [2, 3] });
    gradcheck((a, b) => s.where(cond, a, b), [leaf([2, 3], rng), leaf([3], rng)]);
    const mask = s.tensor([0, 1, 0], { dtype: 'int32' });
    gradcheck((x) => s.maskedFill(x, mask, -5), [leaf([4, 3], rng)]);
  });

  test('reductions over axes with keepdim', () => {
    const x = () => leaf([3, 4, 5], rng);
    for (const axes of [undefined, 0, 1, -1, [0, 2], [0, 1]] as (number | number[] | undefined)[]) {
      for (const keep of [false, true]) {
        gradcheck((t) => s.sum(t, axes, keep), [x()]);
        gradcheck((t) => s.mean(t, axes, keep), [x()]);
        gradcheck((t) => s.max(t, axes, keep), [x()]);
        gradcheck((t) => s.min(t, axes, keep), [x()]);
        gradcheck((t) => s.variance(t, axes, keep), [x()]);
      }
    }
    gradcheck((t) => s.variance(t, 1, false, 0), [leaf([2, 7], rng)]);
  });

  test('shape ops', () => {
    gradcheck((t) => s.reshape(t, [6, -1]), [leaf([2, 3, 4], rng)]);
    gradcheck((t) => s.permute(t, [2, 0, 1]), [leaf([2, 3, 4], rng)]);
    gradcheck((t) => s.transpose(t, 0, 2), [leaf([2, 3, 4], rng)]);
    gradcheck((t) => s.slice(t, 1, 1, 3), [leaf([2, 4, 3], rng)]);
    gradcheck((t) => s.slice(t, -1, -2), [leaf([2, 5], rng)]);
    gradcheck((a, b) => s.concat([a, b, a], 1), [leaf([2, 3, 2], rng), leaf([2, 1, 2], rng)]);
    gradcheck((a, b) => s.stack([a, b], 1), [leaf([3, 2], rng), leaf([3, 2], rng)]);
    gradcheck((t) => s.split(t, [1, 3], 1)[1], [leaf([2, 4], rng)]);
    gradcheck((t) => s.expand(t, [2, 3, 4]), [leaf([3, 1], rng)]);
  });

  test('index ops', () => {
    const ids = s.tensor([2, 0, 2, 1, 4], { dtype: 'int32', shape: [5] });
    gradcheck((w) => s.embedding(w, s.reshape(ids, [1, 5])), [leaf([5, 3], rng)]);
    gradcheck((w) => s.indexSelect(w, 1, ids), [leaf([2, 5, 3], rng)]);
    const index = s.tensor([0, 2, 2, 1, 1, 0], { dtype: 'int32', shape: [2, 3] });
    gradcheck((t) => s.gather(t, 1, index), [leaf([2, 4], rng)]);
    const index0 = s.tensor([1, 0, 1], { dtype: 'int32', shape: [1, 3] });
    gradcheck((t) => s.gather(t, 0, index0), [leaf([2, 3], rng)]);
  });

  test('matmul: plain, transposed, batched and broadcast', () => {
    gradcheck((a, b) => s.matmul(a, b), [leaf([3, 5], rng), leaf([5, 2], rng)]);
    gradcheck((a, b) => s.matmul(a, b, { transA: true }), [leaf([5, 3], rng), leaf([5, 2], rng)]);
    gradcheck((a, b) => s.matmul(a, b, { transB: true }), [leaf([3, 5], rng), leaf([2, 5], rng)]);
    gradcheck(
      (a, b) => s.matmul(a, b, { transA: true, transB: true }),
      [leaf([2, 5, 3], rng), leaf([2, 2, 5], rng)],
    );
    gradcheck((a, b) => s.matmul(a, b), [leaf([2, 1, 3, 4], rng), leaf([3, 4, 2], rng)]);
    gradcheck((a, b) => s.matmul(a, b), [leaf([4], rng), leaf([2, 4, 3], rng)]);
    gradcheck((a, b) => s.matmul(a, b), [leaf([2, 3, 4], rng), leaf([4], rng)]);
    gradcheck(
      (x, w, b) => s.linear(x, w, b),
      [leaf([2, 3, 4], rng), leaf([5, 4], rng), leaf([5], rng)],
    );
  });

  test('softmax and log-softmax on every axis', () => {
    for (const axis of [-1, 0, 1]) {
      gradcheck((t) => s.softmax(t, axis), [leaf([3, 4, 5], rng, -3, 3)]);
      gradcheck((t) => s.logSoftmax(t, axis), [leaf([3, 4, 5], rng, -3, 3)]);
    }
  });

  test('cross-entropy with ignore index, smoothing and reductions', () => {
    const targets = s.tensor([3, -100, 0, 4, 1, 2], { dtype: 'int32', shape: [2, 3] });
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      for (const labelSmoothing of [0, 0.1]) {
        gradcheck(
          (l) => s.crossEntropy(l, targets, { reduction, labelSmoothing }),
          [leaf([2, 3, 5], rng, -2, 2)],
        );
      }
    }
  });

  test('layer norm and RMS norm, with and without affine parameters', () => {
    const x = () => leaf([4, 7], rng, -2, 2);
    gradcheck((t, w, b) => s.layerNorm(t, w, b), [x(), leaf([7], rng), leaf([7], rng)]);
    gradcheck((t) => s.layerNorm(t), [x()]);
    gradcheck((t, w) => s.rmsNorm(t, w, 1e-5), [x(), leaf([7], rng)]);
    gradcheck((t) => s.rmsNorm(t), [leaf([2, 3, 5], rng)]);
  });

  test('attention: causal, padding mask, grouped-query heads', () => {
    const B = 2;
    const T = 3;
    const S = 4;
    const D = 3;
    const mask = s.tensor([1, 1, 1, 0, 0, 1, 1, 1], { dtype: 'int32', shape: [B, S] });
    const attend = (opts: s.AttentionOptions) => (q: s.Tensor, k: s.Tensor, v: s.Tensor) =>
      s.scaledDotProductAttention(q, k, v, opts).out;
    gradcheck(attend({}), [
      leaf([B, 2, T, D], rng),
      leaf([B, 2, S, D], rng),
      leaf([B, 2, S, D], rng),
    ]);
    gradcheck(attend({ causal: true, keyMask: mask }), [
      leaf([B, 4, T, D], rng),
      leaf([B, 2, S, D], rng),
      leaf([B, 2, S, D], rng),
    ]);
  });

  test('rotary embedding, shared and per-sequence positions', () => {
    const { cos, sin } = s.ropeTables(3, 4, 10000, 2, 'float64');
    gradcheck((x) => s.rope(x, cos, sin), [leaf([2, 2, 3, 4], rng)]);
    const c = randomTensor([2, 3, 2], rng);
    const sn = randomTensor([2, 3, 2], rng);
    gradcheck((x) => s.rope(x, c, sn), [leaf([2, 1, 3, 4], rng)]);
  });

  test('LSTM cell and layer', () => {
    gradcheck((g, c) => s.lstmCell(g, c), [leaf([3, 8], rng, -2, 2), leaf([3, 2], rng)]);
    const H = 3;
    gradcheck(
      (x, wi, wh, bi, bh, h0) =>
        s.lstm(x, { weightIh: wi, weightHh: wh, biasIh: bi, biasHh: bh }, h0).output,
      [
        leaf([2, 4, 2], rng),
        leaf([4 * H, 2], rng),
        leaf([4 * H, H], rng),
        leaf([4 * H], rng),
        leaf([4 * H], rng),
        leaf([2, H], rng),
      ],
    );
  });

  test('cast between float types passes gradients', () => {
    gradcheck((x) => s.cast(s.cast(x, 'float32'), 'float64').mul(1), [leaf([3], rng)], {
      atol: 1e-4,
      rtol: 1e-4,
      eps: 1e-3,
    });
  });
});

test('gradcheck itself fails on a wrong backward', () => {
  const x = s.tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
  // y = x^2 with a backward that forgets the factor 2.
  const wrong = (t: s.Tensor) => {
    const out = s.noGrad(() => s.square(t));
    return s.record(out, 'wrongSquare', [t], (dy) => [s.mul(dy, t)]);
  };
  let failed = false;
  try {
    gradcheck(wrong, [x]);
  } catch {
    failed = true;
  }
  if (!failed) throw new Error('gradcheck accepted a wrong gradient');
});

describeEachBackend('fused linear', () => {
  const rng = testRng(9);
  test('gradients with either weight layout, with and without bias', () => {
    gradcheck(
      (x, w, b) => s.linear(x, w, b),
      [leaf([2, 3, 4], rng), leaf([5, 4], rng), leaf([5], rng)],
    );
    gradcheck((x, w) => s.linear(x, w), [leaf([3, 4], rng), leaf([5, 4], rng)]);
    gradcheck(
      (x, w, b) => s.linear(x, w, b, { weightLayout: 'in_out' }),
      [leaf([2, 3, 4], rng), leaf([4, 5], rng), leaf([5], rng)],
    );
    gradcheck((x, w) => s.linear(x, w), [leaf([4], rng), leaf([2, 4], rng)]);
  });

  test('equals matmul plus bias', () => {
    const x = randomTensor([3, 4], rng);
    const w = randomTensor([5, 4], rng);
    const b = randomTensor([5], rng);
    const expected = s.add(s.matmul(x, w, { transB: true }), b);
    assertClose(s.linear(x, w, b).data, expected.data, { atol: 1e-14, rtol: 1e-14 });
    const wt = s.transpose(w);
    assertClose(s.linear(x, wt, b, { weightLayout: 'in_out' }).data, expected.data, {
      atol: 1e-14,
      rtol: 1e-14,
    });
  });
});

describeEachBackend('packed self-attention', () => {
  const rng = testRng(21);
  const [B, T, H, Hkv, D] = [2, 3, 4, 2, 3];
  const W = (H + 2 * Hkv) * D;
  const mask = s.tensor([1, 1, 1, 0, 1, 1], { dtype: 'int32', shape: [B, T] });
  /** The same attention through explicit head splits: [B, T, W] -> [B, T, H D]. */
  const viaSplits = (qkv: s.Tensor, opts: s.AttentionOptions) => {
    const heads = (start: number, n: number) =>
      s.permute(s.reshape(s.slice(qkv, 2, start, start + n * D), [B, T, n, D]), [0, 2, 1, 3]);
    const q = heads(0, H);
    const k = heads(H * D, Hkv);
    const v = heads((H + Hkv) * D, Hkv);
    const z = s.scaledDotProductAttention(q, k, v, opts).out; // [B, H, T, D]
    return s.reshape(s.permute(z, [0, 2, 1, 3]), [B, T, H * D]);
  };

  test('gradients against finite differences', () => {
    gradcheck(
      (qkv) => s.packedSelfAttention(qkv, H, Hkv, { causal: true, keyMask: mask }),
      [leaf([B, T, W], rng)],
    );
  });

  test('equals attention on split heads, values and gradients', () => {
    for (const opts of [{}, { causal: true, keyMask: mask }]) {
      const a = leaf([B, T, W], rng);
      const b = s.tensor(Float64Array.from(a.data), { shape: [B, T, W], dtype: 'float64' });
      b.requireGrad();
      const weights = randomTensor([B, T, H * D], rng);
      s.mul(s.packedSelfAttention(a, H, Hkv, opts), weights)
        .sum()
        .backward();
      s.mul(viaSplits(b, opts), weights).sum().backward();
      const tol = { atol: 1e-13, rtol: 1e-12 };
      assertClose(s.packedSelfAttention(a, H, Hkv, opts).data, viaSplits(b, opts).data, tol);
      assertClose(a.grad?.data ?? [], b.grad?.data ?? [], tol, 'dqkv');
    }
  });
});
