/** The tape: accumulation, detach, no-grad, hooks, FLOP counting, and errors that teach. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as s from '../src/index.js';
import { assertClose, describeEachBackend } from './helpers.js';

describe('autograd', () => {
  test('gradients accumulate across backward calls and over shared uses', () => {
    const x = s.tensor([1, 2, 3], { requiresGrad: true });
    const y = s.mul(x, x).sum(); // dy/dx = 2x, x used twice
    y.backward();
    assert.deepEqual(Array.from(x.grad?.data ?? []), [2, 4, 6]);
    s.sum(s.mul(x, 3)).backward();
    assert.deepEqual(Array.from(x.grad?.data ?? []), [5, 7, 9]);
  });

  test('two leaves fed the same gradient do not share storage', () => {
    const a = s.tensor([1, 2], { requiresGrad: true });
    const b = s.tensor([3, 4], { requiresGrad: true });
    s.add(a, b).sum().backward();
    s.add(a, 0).sum().backward();
    assert.deepEqual(Array.from(a.grad?.data ?? []), [2, 2]);
    assert.deepEqual(Array.from(b.grad?.data ?? []), [1, 1]);
  });

  test('detach and noGrad cut the tape', () => {
    const x = s.tensor([2], { requiresGrad: true });
    const y = s.mul(x.detach(), x);
    y.sum().backward();
    assert.deepEqual(Array.from(x.grad?.data ?? []), [2]);
    const z = s.noGrad(() => s.mul(x, x));
    assert.equal(z.requiresGrad, false);
    assert.throws(() => z.sum().backward(), /does not require gradients/);
  });

  test('a tensor hook sees and can replace the gradient flowing through it', () => {
    const x = s.tensor([1, 2], { requiresGrad: true });
    const h = s.mul(x, 3); // dL/dh = 1 for L = sum(h)
    const seen: number[][] = [];
    h.registerHook((g) => {
      seen.push(Array.from(g.data));
      return s.mul(g, 10);
    });
    h.sum().backward();
    assert.deepEqual(seen, [[1, 1]]);
    assert.deepEqual(Array.from(x.grad?.data ?? []), [30, 30]);
  });

  test('retainGrad keeps the gradient of an intermediate', () => {
    const x = s.tensor([1, 2], { requiresGrad: true });
    const h = s.mul(x, 2).retainGrad();
    s.square(h).sum().backward();
    assert.deepEqual(Array.from(h.grad?.data ?? []), [4, 8]);
  });

  test('deep graphs backpropagate without overflowing the stack', () => {
    const x = s.tensor([1], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 20000; i++) y = s.add(y, 1);
    y.sum().backward();
    assert.deepEqual(Array.from(x.grad?.data ?? []), [1]);
  });

  test('FLOPs: matmul counts 2MNK forward and twice that backward', () => {
    const a = s.zeros([4, 5], { requiresGrad: true });
    const b = s.zeros([5, 3], { requiresGrad: true });
    s.resetFlops();
    const c = s.matmul(a, b);
    assert.equal(s.readFlops().forward, 2 * 4 * 5 * 3);
    s.resetFlops();
    c.backward(s.ones([4, 3]));
    assert.equal(s.readFlops().backward, 2 * 2 * 4 * 5 * 3);
    assert.equal(s.readFlops().forward, 0);
  });

  test('FLOPs: elementwise ops count one per output element', () => {
    s.resetFlops();
    s.add(s.zeros([3, 4]), s.zeros([4]));
    s.exp(s.zeros([7]));
    assert.equal(s.readFlops().forward, 12 + 7);
  });
});

describeEachBackend('errors name the op, the shapes and the fix', () => {
  test('broadcasting mismatch', () => {
    assert.throws(
      () => s.add(s.zeros([2, 3]), s.zeros([4])),
      (e: Error) =>
        e instanceof s.ShapeError &&
        /add: shapes \[2, 3\] and \[4\] do not broadcast/.test(e.message),
    );
  });

  test('matmul inner sizes', () => {
    assert.throws(
      () => s.matmul(s.zeros([2, 3]), s.zeros([4, 5])),
      /matmul: inner sizes differ: \[2, 3\] @ \[4, 5\]/,
    );
  });

  test('dtype mismatch and int tensors in float ops', () => {
    assert.throws(
      () => s.add(s.zeros([2]), s.zeros([2], { dtype: 'float64' })),
      (e: Error) => e instanceof s.DTypeError && /float32\[2\] and float64\[2\]/.test(e.message),
    );
    assert.throws(
      () => s.exp(s.zeros([2], { dtype: 'int32' })),
      /exp: expected a float32 or float64 tensor, got int32/,
    );
    assert.throws(
      () => s.embedding(s.zeros([3, 2]), s.zeros([2])),
      /expected an int32 tensor of indices, got float32/,
    );
  });

  test('out-of-range indices are errors, never reads outside memory', () => {
    const w = s.zeros([5, 2]);
    assert.throws(
      () => s.embedding(w, s.tensor([1, 5], { dtype: 'int32' })),
      (e: Error) =>
        e instanceof s.IndexError && /index 5 at position 1 .* axis 0 of size 5/.test(e.message),
    );
    assert.throws(() => s.embedding(w, s.tensor([-1], { dtype: 'int32' })), /index -1/);
    assert.throws(
      () => s.gather(s.zeros([2, 3]), 1, s.tensor([[0], [3]], { dtype: 'int32' })),
      /gather: index 3 at position 1/,
    );
    assert.throws(
      () => s.crossEntropy(s.zeros([2, 4]), s.tensor([1, 4], { dtype: 'int32' })),
      /target 4 at row 1 is outside the 4 classes/,
    );
  });

  test('shape errors in the fused ops', () => {
    assert.throws(
      () => s.layerNorm(s.zeros([2, 3]), s.zeros([4])),
      /layerNorm: parameter float32\[4\] must be \[3\]/,
    );
    assert.throws(
      () =>
        s.scaledDotProductAttention(
          s.zeros([1, 3, 2, 4]),
          s.zeros([1, 2, 2, 4]),
          s.zeros([1, 2, 2, 4]),
        ),
      /H divisible by Hkv/,
    );
    assert.throws(() => s.reshape(s.zeros([2, 3]), [4, 2]), /cannot be viewed as \[4, 2\]/);
  });

  test('backward on a non-scalar without a gradient says what to do', () => {
    const y = s.mul(s.ones([3], { requiresGrad: true }), 2);
    assert.throws(() => y.backward(), /pass a gradient of the same shape, or reduce it/);
  });
});

test('values round-trip through float64 within float32 precision', () => {
  const x = s.tensor([0.1, 1 / 3]);
  assertClose(s.cast(x, 'float64').data, [0.1, 1 / 3], { atol: 0, rtol: 1e-7 });
});

test('a graph is freed by backward unless retainGraph is asked for', () => {
  const x = s.tensor([1, 2], { requiresGrad: true });
  const y = s.mul(x, x).sum();
  y.backward(undefined, { retainGraph: true });
  y.backward();
  assert.deepEqual(Array.from(x.grad?.data ?? []), [4, 8]);
  assert.throws(() => y.backward(), /already walked by an earlier backward\(\).*retainGraph/);
});

test('an attention pattern too large for memory is refused with the shapes and a fix', () => {
  // T = 50000 keys and queries: the pattern would be 2.5e9 elements; the check runs first.
  assert.throws(
    () => s.packedSelfAttention(s.zeros([1, 50000, 3]), 1, 1, { causal: true }),
    /pattern \[B, H, T, S\] = \[1, 1, 50000, 50000\] would need 9 GiB .* shorter context/,
  );
});
