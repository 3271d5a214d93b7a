/** tensorScope: reuse of a step's memory, and what it must never touch. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as s from '../src/index.js';
import { AdamW } from '../src/optim/index.js';
import { Generator, randn } from '../src/tensor/random.js';
import { describeEachBackend } from './helpers.js';

/** A small GPT-like step: embedding, causal attention, MLP, tied head; returns the loss value. */
function makeModel(rng: Generator) {
  const [V, C, H, T] = [11, 16, 2, 8];
  const p = {
    wte: randn([V, C], rng, { std: 0.3, requiresGrad: true }),
    qkv: randn([3 * C, C], rng, { std: 0.3, requiresGrad: true }),
    fc: randn([4 * C, C], rng, { std: 0.3, requiresGrad: true }),
    proj: randn([C, 4 * C], rng, { std: 0.3, requiresGrad: true }),
    lnW: s.ones([C], { requiresGrad: true }),
    lnB: s.zeros([C], { requiresGrad: true }),
  };
  const idx = s.randint([3, T], 0, V, rng);
  const targets = s.randint([3, T], 0, V, rng);
  const loss = (): s.Tensor => {
    let x = s.embedding(p.wte, idx); // [3, T, C]
    const a = s.packedSelfAttention(s.linear(x, p.qkv), H, H, { causal: true }); // [3, T, C]
    x = s.add(x, a);
    const h = s.gelu(s.linear(s.layerNorm(x, p.lnW, p.lnB), p.fc), 'tanh'); // [3, T, 4C]
    x = s.add(x, s.linear(h, p.proj)); // [3, T, C]
    return s.crossEntropy(s.linear(x, p.wte), targets); // []
  };
  return { params: Object.values(p), loss };
}

function train(steps: number, scoped: boolean): { losses: number[]; params: Float32Array[] } {
  const { params, loss } = makeModel(new Generator(5));
  const opt = new AdamW(params, { lr: 0.01 });
  const losses: number[] = [];
  const step = (): number => {
    opt.zeroGrad();
    const l = loss();
    l.backward();
    opt.step();
    return l.item();
  };
  for (let i = 0; i < steps; i++) losses.push(scoped ? s.tensorScope(step) : step());
  return { losses, params: params.map((q) => Float32Array.from(q.data)) };
}

describeEachBackend('tensorScope', () => {
  test('training in scopes gives bit-identical losses and weights, and reuses memory', () => {
    s.clearPool();
    const plain = train(6, false);
    const scoped = train(6, true);
    assert.deepEqual(scoped.losses, plain.losses);
    for (const [i, p] of scoped.params.entries()) {
      assert.deepEqual(p, plain.params[i], `parameter ${i}`);
    }
    assert.ok(s.pooledMemoryBytes() > 0, 'the last step gave its memory back to the pool');
  });

  test('returned and kept tensors survive; the rest are disposed with a clear error', () => {
    const rng = new Generator(1);
    const outside = randn([4, 4], rng);
    let inner: s.Tensor | null = null;
    let view: s.Tensor | null = null;
    let kept: s.Tensor | null = null;
    const returned = s.tensorScope(() => {
      inner = s.mul(outside, 2);
      kept = s.keep(s.add(outside, 1));
      view = s.reshape(s.exp(outside), [16]);
      // A view of a tensor made before the scope shares its storage: never reused.
      const outsideView = s.reshape(outside, [16]);
      return { result: s.sub(outside, 1), list: [outsideView] };
    });
    const before = Float32Array.from(returned.result.data);
    const keptValues = Float32Array.from((kept as unknown as s.Tensor).data);
    assert.throws(() => (inner as unknown as s.Tensor).data, /disposed when the tensorScope/);
    assert.throws(() => (view as unknown as s.Tensor).item(), /keep\(\) it/);
    assert.equal((inner as unknown as s.Tensor).isDisposed, true);
    // New tensors of the same sizes take the pooled memory; the survivors must not change.
    s.tensorScope(() => {
      for (let i = 0; i < 8; i++) s.mul(s.add(outside, 3), 5);
    });
    assert.deepEqual(Float32Array.from(returned.result.data), before);
    assert.deepEqual(Float32Array.from((kept as unknown as s.Tensor).data), keptValues);
    assert.equal(returned.list[0].isDisposed, false);
    assert.equal(outside.isDisposed, false);
  });

  test('parameters and optimiser state made inside, and gradients, outlive the scope', () => {
    const rng = new Generator(2);
    const made = s.tensorScope(() => {
      const w = randn([3, 5], rng, { requiresGrad: true });
      return { w, opt: new AdamW([w], { lr: 0.1 }) };
    });
    const { w, opt } = made;
    s.tensorScope(() => {
      // Two backward passes: the second accumulates into .grad with memory of this scope.
      s.sum(s.mul(w, w)).backward();
      s.sum(s.mul(w, 3)).backward();
      opt.step();
    });
    const grad = Float32Array.from(w.grad?.data ?? []);
    assert.equal(grad.length, 15);
    s.tensorScope(() => {
      for (let i = 0; i < 4; i++) s.mul(s.add(w, 1), 2); // takes pooled [3, 5] arrays
    });
    assert.deepEqual(Float32Array.from(w.grad?.data ?? []), grad, 'gradient kept its values');
    s.tensorScope(() => {
      opt.zeroGrad();
      s.sum(s.mul(w, s.mul(w, w))).backward(); // allocations of every size in the step above
      opt.step();
    });
    const state = opt.stateDict().state[0] as { expAvg: s.Tensor };
    assert.ok(
      state.expAvg.data.some((v) => v !== 0),
      'AdamW state survived and moved',
    );
    assert.ok(w.grad !== null && !w.grad.isDisposed);
  });

  test('nested scopes: what the inner returns, the outer still disposes', () => {
    const x = s.ones([6]);
    let fromInner: s.Tensor | null = null;
    const outerResult = s.tensorScope(() => {
      fromInner = s.tensorScope(() => s.mul(x, 3));
      assert.equal(fromInner.data[0], 3);
      return s.add(fromInner, 1);
    });
    assert.equal(outerResult.data[0], 4);
    assert.throws(() => (fromInner as unknown as s.Tensor).data, /disposed/);
  });

  test('an async function is refused with a message, not left with freed tensors', () => {
    const x = s.ones([5]);
    assert.throws(
      () => s.tensorScope(async () => s.mul(x, 2)),
      /returned a Promise; it takes a synchronous function/,
    );
    assert.equal(s.tensorScope(() => s.mul(x, 3)).data[0], 3);
  });

  test('a scope that throws leaves the pool and the scopes as they were', () => {
    const x = s.ones([5]);
    assert.throws(() =>
      s.tensorScope(() => {
        s.mul(x, 2);
        throw new Error('boom');
      }),
    );
    const y = s.tensorScope(() => s.mul(x, 2));
    assert.equal(y.data[4], 2);
  });
});

describeEachBackend('backward inside a tensorScope', () => {
  test('reuses finished gradients, yet a gradient a hook kept stays intact', () => {
    const run = (scoped: boolean) => {
      const rng = new Generator(9);
      const w = randn([32, 32], rng, { requiresGrad: true });
      const x = randn([16, 32], rng);
      let seenByHook: s.Tensor | null = null;
      const body = () => {
        let h = x;
        for (let layer = 0; layer < 4; layer++) {
          h = s.tanh(s.linear(h, w)); // [16, 32], w shared by every layer
          if (layer === 1) {
            h.registerHook((g) => {
              seenByHook = g;
              return undefined;
            });
          }
        }
        s.sum(s.mul(h, h)).backward();
        return Float32Array.from((seenByHook as unknown as s.Tensor).data);
      };
      const hooked = scoped ? s.tensorScope(body) : body();
      return { hooked, grad: Float32Array.from(w.grad?.data ?? []) };
    };
    const plain = run(false);
    const pooledBefore = s.pooledMemoryBytes();
    const scoped = run(true);
    assert.deepEqual(scoped.hooked, plain.hooked);
    assert.deepEqual(scoped.grad, plain.grad);
    assert.ok(s.pooledMemoryBytes() >= pooledBefore);
  });
});

describeEachBackend('tensorScope and kernels with scratch memory', () => {
  test('a two-layer LSTM trains bit-identically in scopes, scoped run first', () => {
    // The fused LSTM keeps scratch arrays across calls; a scope must never reuse them. The
    // scoped run goes first so that it is the one that grows the scratch.
    const train = (scoped: boolean): number[] => {
      const rng = new Generator(21);
      const [B, T, E, H] = [3, 7, 5, 6];
      const layer = (inF: number) => ({
        weightIh: randn([4 * H, inF], rng, { std: 0.4, requiresGrad: true }),
        weightHh: randn([4 * H, H], rng, { std: 0.4, requiresGrad: true }),
        biasIh: randn([4 * H], rng, { std: 0.4, requiresGrad: true }),
        biasHh: randn([4 * H], rng, { std: 0.4, requiresGrad: true }),
      });
      const layers = [layer(E), layer(H)];
      const x = randn([B, T, E], rng);
      const params = layers.flatMap((l) => Object.values(l));
      const opt = new AdamW(params, { lr: 0.05 });
      const losses: number[] = [];
      const step = (): number => {
        opt.zeroGrad();
        let h = x;
        for (const l of layers) h = s.lstm(h, l).output; // [B, T, H]
        const loss = s.mean(s.mul(h, h));
        loss.backward();
        opt.step();
        return loss.item();
      };
      for (let i = 0; i < 5; i++) losses.push(scoped ? s.tensorScope(step) : step());
      return losses;
    };
    const scoped = train(true);
    assert.deepEqual(scoped, train(false));
  });
});
