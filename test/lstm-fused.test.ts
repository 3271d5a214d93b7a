/**
 * The fused LSTM op (one autograd node with its own backward through time): finite-difference
 * gradients through `output`, the final `h` and the final `c`, with and without initial states and
 * biases; values and gradients against the per-step composite it replaced (kept here as the
 * reference); and the same FLOP count, forward and backward, as that composite.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LstmResult, LstmWeights, Tensor } from '../src/index.js';
import * as s from '../src/index.js';
import {
  assertClose,
  describeEachBackend,
  gradcheck,
  leaf,
  randomTensor,
  testRng,
} from './helpers.js';

/** The per-step composite: the input GEMM through `linear`, then per step matmul, add, cell. */
function referenceLstm(
  x: Tensor,
  weights: LstmWeights,
  h0?: Tensor | null,
  c0?: Tensor | null,
): LstmResult {
  const { weightIh, weightHh, biasIh, biasHh } = weights;
  const H = weightHh.shape[1];
  const [B, T] = x.shape;
  const bias = biasIh && biasHh ? s.add(biasIh, biasHh) : (biasIh ?? biasHh ?? null);
  const projected = s.reshape(s.linear(x, weightIh, bias), [B, T, 4 * H]);
  let h = h0 ?? s.zeros([B, H], { dtype: x.dtype });
  let c = c0 ?? s.zeros([B, H], { dtype: x.dtype });
  const outputs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const inputGates = s.reshape(s.slice(projected, 1, t, t + 1), [B, 4 * H]);
    const gates = s.add(inputGates, s.matmul(h, weightHh, { transB: true }));
    const state = s.lstmCell(gates, c);
    h = s.reshape(s.slice(state, 0, 0, 1), [B, H]);
    c = s.reshape(s.slice(state, 0, 1, 2), [B, H]);
    outputs.push(h);
  }
  return { output: s.stack(outputs, 1), h, c };
}

interface Case {
  B: number;
  T: number;
  I: number;
  H: number;
  biasIh: boolean;
  biasHh: boolean;
  h0: boolean;
  c0: boolean;
}

/** Leaves for one case, in the order `[x, weightIh, weightHh, biasIh?, biasHh?, h0?, c0?]`. */
function makeInputs(cs: Case, rng: () => number): Tensor[] {
  const { B, T, I, H } = cs;
  const xs = [leaf([B, T, I], rng), leaf([4 * H, I], rng), leaf([4 * H, H], rng)];
  if (cs.biasIh) xs.push(leaf([4 * H], rng));
  if (cs.biasHh) xs.push(leaf([4 * H], rng));
  if (cs.h0) xs.push(leaf([B, H], rng));
  if (cs.c0) xs.push(leaf([B, H], rng));
  return xs;
}

type Lstm = typeof s.lstm;

/** Calls `impl` on the inputs laid out by `makeInputs`. */
function run(impl: Lstm, cs: Case, xs: Tensor[]): LstmResult {
  let i = 3;
  const weights: LstmWeights = {
    weightIh: xs[1],
    weightHh: xs[2],
    biasIh: cs.biasIh ? xs[i++] : null,
    biasHh: cs.biasHh ? xs[i++] : null,
  };
  const h0 = cs.h0 ? xs[i++] : null;
  const c0 = cs.c0 ? xs[i++] : null;
  return impl(xs[0], weights, h0, c0);
}

const CASES: Case[] = [
  { B: 2, T: 3, I: 2, H: 2, biasIh: true, biasHh: true, h0: true, c0: true },
  { B: 3, T: 4, I: 3, H: 2, biasIh: false, biasHh: false, h0: false, c0: false },
  { B: 1, T: 2, I: 2, H: 3, biasIh: true, biasHh: false, h0: false, c0: true },
  { B: 2, T: 1, I: 1, H: 2, biasIh: false, biasHh: true, h0: true, c0: false },
];

const OUTPUTS = ['output', 'h', 'c'] as const;

describeEachBackend('fused LSTM', () => {
  const rng = testRng(314);

  test('gradients through output, h and c against finite differences', () => {
    for (const cs of CASES) {
      for (const which of OUTPUTS) {
        gradcheck((...xs) => run(s.lstm, cs, xs)[which], makeInputs(cs, rng));
      }
      // All three at once: the gradients meet in one backward pass.
      gradcheck(
        (...xs) => {
          const { output, h, c } = run(s.lstm, cs, xs);
          return s.add(s.sum(output, 1), s.mul(s.add(h, c), 0.5));
        },
        makeInputs(cs, rng),
      );
    }
  });

  test('values and gradients match the per-step composite', () => {
    for (const cs of CASES) {
      const xs = makeInputs(cs, rng);
      const ws = OUTPUTS.map((w) =>
        randomTensor(w === 'output' ? [cs.B, cs.T, cs.H] : [cs.B, cs.H], rng),
      );
      const grads = (impl: Lstm) => {
        for (const x of xs) x.grad = null;
        const r = run(impl, cs, xs);
        const loss = s.add(
          s.add(s.sum(s.mul(r.output, ws[0])), s.sum(s.mul(r.h, ws[1]))),
          s.sum(s.mul(r.c, ws[2])),
        );
        loss.backward();
        return { r, g: xs.map((x) => x.grad) };
      };
      const ref = grads(referenceLstm);
      const got = grads(s.lstm);
      const tol = { atol: 1e-12, rtol: 1e-10 };
      for (const [k, w] of OUTPUTS.entries()) {
        assert.deepEqual(got.r[w].shape, ref.r[w].shape);
        assertClose(got.r[w].data, ref.r[w].data, tol, `${w} (${k})`);
      }
      xs.forEach((_, k) => {
        const a = got.g[k];
        const e = ref.g[k];
        assert.ok(a && e, `input ${k} got no gradient`);
        assertClose(a.data, e.data, tol, `gradient of input ${k}`);
      });
    }
  });

  test('float32 agrees with float64', () => {
    const cs = CASES[0];
    const xs = makeInputs(cs, rng);
    const ref = run(s.lstm, cs, xs).output;
    const xs32 = xs.map((x) => s.cast(x, 'float32'));
    const got = run(s.lstm, cs, xs32).output;
    assert.equal(got.dtype, 'float32');
    assertClose(got.data, ref.data, { atol: 1e-5, rtol: 1e-5 }, 'float32 output');
  });

  test('counts the FLOPs of the per-step composite, forward and backward', () => {
    const variants: { cs: Case; grad: boolean[] }[] = [
      { cs: CASES[0], grad: [true, true, true, true, true, true, true] },
      { cs: CASES[0], grad: [false, true, false, false, true, false, true] },
      { cs: CASES[0], grad: [true, false, true, true, false, true, false] },
      { cs: CASES[1], grad: [true, true, true] },
      { cs: CASES[1], grad: [false, false, true] },
      { cs: CASES[2], grad: [true, true, true, true, true] },
      { cs: CASES[3], grad: [false, true, false, true, true] },
    ];
    for (const { cs, grad } of variants) {
      for (const which of OUTPUTS) {
        const count = (impl: Lstm) => {
          const xs = makeInputs(cs, testRng(5));
          xs.forEach((x, i) => {
            x.requiresGrad = grad[i];
          });
          s.resetFlops();
          const r = run(impl, cs, xs);
          const forward = s.readFlops().forward;
          s.resetFlops();
          s.sum(r[which]).backward();
          return [forward, s.readFlops().backward];
        };
        const label = `${JSON.stringify(cs)} grads ${grad} loss on ${which}`;
        assert.deepEqual(count(s.lstm), count(referenceLstm), label);
      }
    }
    // Without gradients the forward count is the same too.
    const cs = CASES[0];
    const xs = makeInputs(cs, testRng(5));
    const forward = (impl: Lstm) => {
      s.resetFlops();
      s.noGrad(() => run(impl, cs, xs));
      return s.readFlops().forward;
    };
    assert.equal(forward(s.lstm), forward(referenceLstm));
  });

  test('a second backward through a retained graph gives the same gradients', () => {
    const cs = CASES[0];
    const xs = makeInputs(cs, rng);
    const r = run(s.lstm, cs, xs);
    const loss = s.sum(s.mul(r.output, r.output));
    loss.backward(undefined, { retainGraph: true });
    const first = xs.map((x) => Array.from(x.grad?.data ?? []));
    for (const x of xs) x.grad = null;
    loss.backward();
    xs.forEach((x, k) => {
      assertClose(x.grad?.data ?? [], first[k], { atol: 1e-14, rtol: 1e-12 }, `input ${k}`);
    });
  });

  test('shape errors', () => {
    const x = randomTensor([2, 3, 4], rng);
    const wi = randomTensor([8, 4], rng);
    const wh = randomTensor([8, 2], rng);
    assert.throws(
      () => s.lstm(x, { weightIh: randomTensor([8, 3], rng), weightHh: wh }),
      s.ShapeError,
    );
    assert.throws(
      () => s.lstm(x, { weightIh: wi, weightHh: wh }, randomTensor([2, 3], rng)),
      s.ShapeError,
    );
    assert.throws(
      () => s.lstm(x, { weightIh: wi, weightHh: wh, biasIh: randomTensor([6], rng) }),
      s.ShapeError,
    );
  });
});
