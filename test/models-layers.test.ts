/**
 * The shared layers that GPT-2, LLaMA, ViT and the configurable transformer are built from:
 * Linear in both weight layouts, sinusoidal positions by hand, dropout's generator, hook points,
 * and multi-head attention (fused against unfused, grouped-query heads, masks, rotary positions
 * shared or per row, the KV cache) with gradients checked against finite differences.
 *
 * Dimension legend: B batch, T time, S keys, C channels, H heads, Hkv key/value heads, D head size.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Generator,
  NotSupportedError,
  noGrad,
  randn,
  ropeTables,
  slice,
  type Tensor,
  tensor,
} from '../src/index.js';
import {
  type AttentionConfig,
  LayerKVCache,
  MultiHeadAttention,
  RotaryEmbedding,
  splitHeads,
} from '../src/nn/attention.js';
import { HookPoint, hookPoints } from '../src/nn/hook-point.js';
import { Dropout, Linear, SinusoidalEmbedding } from '../src/nn/layers.js';
import { assertClose, describeEachBackend, gradcheck } from './helpers.js';

const F64 = { atol: 1e-12, rtol: 1e-10 };

function int32(values: number[][]): Tensor {
  return tensor(values, { dtype: 'int32' });
}

function gradOf(x: Tensor): Tensor {
  assert.ok(x.grad, `${x.describe()} has no gradient`);
  return x.grad;
}

function attention(config: Partial<AttentionConfig>, seed = 1): MultiHeadAttention {
  return new MultiHeadAttention(
    { dModel: 8, nHeads: 4, ...config },
    { rng: new Generator(seed), std: 0.5, dtype: 'float64' },
  );
}

describe('Linear', () => {
  test("layout 'in_out' (HF Conv1D) computes x W + b, the transpose of 'out_in'", () => {
    const rng = new Generator(3);
    const a = new Linear(3, 5, { rng, dtype: 'float64' });
    const b = new Linear(3, 5, { layout: 'in_out', dtype: 'float64' });
    assert.deepEqual(b.weight.shape, [3, 5]);
    for (let o = 0; o < 5; o++) {
      for (let i = 0; i < 3; i++) b.weight.data[i * 5 + o] = a.weight.data[o * 3 + i];
    }
    a.bias?.data.set([1, 2, 3, 4, 5]);
    b.bias?.data.set([1, 2, 3, 4, 5]);
    const x = randn([2, 4, 3], rng, { dtype: 'float64' }); // [2, 4, 3]
    assertClose(b.call(x).data, a.call(x).data, F64, 'in_out vs out_in');
    assert.throws(() => b.call(randn([2, 4], rng)), /needs last dimension 3/);
  });

  test('without rng the weights are zeros (for loading), with rng they are drawn', () => {
    assert.ok(new Linear(4, 4).weight.data.every((v) => v === 0));
    assert.ok(new Linear(4, 4, { rng: new Generator(0) }).weight.data.some((v) => v !== 0));
  });
});

describe('SinusoidalEmbedding', () => {
  test('channel 2i is sin(p / 10000^(2i/C)), 2i+1 the cosine; the table grows on demand', () => {
    const pe = new SinusoidalEmbedding(4, 'float64');
    const out = pe.call(tensor([1, 200], { dtype: 'int32' })); // [2, 4]
    const expected = [1, 200].flatMap((p) => [
      Math.sin(p),
      Math.cos(p),
      Math.sin(p / 100),
      Math.cos(p / 100),
    ]);
    assertClose(out.data, expected, F64, 'sinusoidal');
  });
});

describe('Dropout', () => {
  test('needs a generator in training mode; is the identity in eval mode', () => {
    const x = tensor([1, 2, 3]);
    const d = new Dropout(0.5, null);
    assert.throws(
      () => d.call(x),
      (e: unknown) => e instanceof NotSupportedError && /Generator/.test(String(e)),
    );
    assert.equal(d.eval().call(x), x);
    const seeded = new Dropout(0.5, new Generator(1));
    const y = seeded.call(tensor(new Array(100).fill(1)));
    assert.ok(y.data.every((v) => v === 0 || v === 2));
  });
});

describe('HookPoint', () => {
  test('is active while a hook is registered; a remover runs once', () => {
    const h = new HookPoint();
    assert.equal(h.active, false);
    const r1 = h.registerForwardHook(() => undefined);
    const r2 = h.registerBackwardHook(() => undefined);
    assert.equal(h.active, true);
    r1();
    r1();
    assert.equal(h.active, true);
    r2();
    assert.equal(h.active, false);
  });

  test('hook points are found by module path', () => {
    const names = [...hookPoints(attention({})).keys()];
    assert.deepEqual(names, [
      'hook_q',
      'hook_k',
      'hook_v',
      'hook_rot_q',
      'hook_rot_k',
      'hook_pattern',
      'hook_z',
    ]);
  });
});

describeEachBackend('attention layers', () => {
  test('splitHeads: values and gradient of the strided copy', () => {
    const rng = new Generator(5);
    const x = randn([2, 3, 10], rng, { dtype: 'float64', requiresGrad: true }); // [B, T, W]
    const heads = splitHeads(x, 4, 3, 2); // [2, 3, 3, 2]
    // heads[b, h, t, d] = x[b, t, 4 + 2h + d]
    assert.equal(heads.data[((1 * 3 + 2) * 3 + 1) * 2 + 1], x.data[(1 * 3 + 1) * 10 + 4 + 4 + 1]);
    gradcheck((t) => splitHeads(t, 4, 3, 2), [x]);
    assert.throws(() => splitHeads(x, 6, 3, 2), /columns \[6, 12\)/);
  });

  test('with a pattern hook (unfused) equals the fused op: causal, padded, grouped heads', () => {
    const rng = new Generator(7);
    for (const config of [
      { nKvHeads: 4 },
      { nKvHeads: 2, rotary: { theta: 100 } },
      { nKvHeads: 1, qkv: 'separate' as const, causal: false },
    ]) {
      const attn = attention(config);
      const x = randn([2, 5, 8], rng, { dtype: 'float64', requiresGrad: true }); // [B, T, C]
      // Row 1 has two padded keys; with causality its first two queries see no key at all.
      const keyMask = int32([
        [1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1],
      ]);
      const fused = attn.call(x, { keyMask }); // [B, T, C]
      fused.sum().backward();
      const dxFused = [...gradOf(x).data];
      x.grad = null;
      const seen: { pattern?: Tensor } = {};
      const remove = attn.hook_pattern.registerForwardHook((_m, _i, p) => {
        seen.pattern = p;
        return undefined;
      });
      const unfused = attn.call(x, { keyMask }); // [B, T, C]
      unfused.sum().backward();
      remove();
      assertClose(unfused.data, fused.data, F64, `output ${JSON.stringify(config)}`);
      assertClose(gradOf(x).data, dxFused, F64, `dx ${JSON.stringify(config)}`);
      const pattern = seen.pattern as Tensor;
      assert.deepEqual(pattern.shape, [2, 4, 5, 5]);
      // Padded keys get no weight; a row that sees no key is all zeros.
      for (let h = 0; h < 4; h++) {
        for (let t = 0; t < 5; t++) {
          const row = [...pattern.data.subarray(((4 + h) * 5 + t) * 5, ((4 + h) * 5 + t + 1) * 5)];
          assert.equal(row[0] + row[1], 0);
          const total = row.reduce((a, b) => a + b, 0);
          const blind = config.causal !== false && t < 2;
          assert.ok(Math.abs(total - (blind ? 0 : 1)) < 1e-12, `row sum ${total}`);
        }
      }
    }
  });

  test('gradients of rotary, grouped-query attention match finite differences', () => {
    const attn = attention({ nKvHeads: 2, rotary: { theta: 50 } }, 11);
    const x = randn([2, 3, 8], new Generator(2), { dtype: 'float64', requiresGrad: true });
    const params = attn.parameters();
    gradcheck((input) => attn.call(input), [x, ...params], { atol: 1e-8, rtol: 1e-6 });
  });

  test('a KV cache gives the same outputs as attending over the whole sequence', () => {
    for (const config of [{ nKvHeads: 2, rotary: { theta: 10000 } }, {}]) {
      const attn = attention(config, 4);
      const x = randn([2, 6, 8], new Generator(9), { dtype: 'float64' }); // [B, T, C]
      const whole = noGrad(() => attn.call(x)); // [B, 6, C]
      const cache = new LayerKVCache();
      const first = noGrad(() => attn.call(slice(x, 1, 0, 4), { cache })); // [B, 4, C]
      assert.equal(cache.length, 4);
      const second = noGrad(() => attn.call(slice(x, 1, 4, 5), { cache })); // [B, 1, C]
      const third = noGrad(() => attn.call(slice(x, 1, 5, 6), { cache })); // [B, 1, C]
      assert.equal(cache.length, 6);
      assertClose(first.data, slice(whole, 1, 0, 4).data, F64, 'prefix');
      assertClose(second.data, slice(whole, 1, 4, 5).data, F64, 'step 5');
      assertClose(third.data, slice(whole, 1, 5, 6).data, F64, 'step 6');
    }
  });

  test('rotary tables: shared positions match the rope op; per-row positions shift rows', () => {
    const rotary = new RotaryEmbedding(6, { theta: 500 });
    const shared = rotary.tables(4, 'float64', 3); // [4, 3]
    const reference = ropeTables(4, 6, 500, 3, 'float64');
    assertClose(shared.cos.data, reference.cos.data, F64, 'cos');
    assertClose(shared.sin.data, reference.sin.data, F64, 'sin');
    const perRow = rotary.tables(
      int32([
        [3, 4, 5, 6],
        [0, 0, 3, 4],
      ]),
      'float64',
    ); // [2, 4, 3]
    assert.deepEqual(perRow.cos.shape, [2, 4, 3]);
    assertClose(perRow.cos.data.subarray(0, 12), reference.cos.data, F64, 'row 0');
    assertClose(perRow.sin.data.subarray(18, 24), reference.sin.data.subarray(0, 6), F64, 'row 1');
    const scaled = new RotaryEmbedding(6, { theta: 500, scaling: { type: 'linear', factor: 2 } });
    const half = scaled.tables(int32([[6]]), 'float64'); // position 6 / 2 = 3
    assertClose(half.cos.data, reference.cos.data.subarray(0, 3), F64, 'linear scaling');
  });

  test('LLaMA 3 rope scaling keeps high frequencies, divides low ones, blends between', () => {
    const scaling = {
      type: 'llama3' as const,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositions: 1000,
    };
    // Base frequencies 1, 0.1, 0.01, 0.001: wavelengths 6.3 and 63 (below 1000 / 4: kept),
    // 628 (between 250 and 1000: blended), 6283 (above 1000: divided by 8).
    const { invFreq } = new RotaryEmbedding(8, { theta: 10000, scaling });
    const smooth = (1000 / (2 * Math.PI * 100) - 1) / (4 - 1);
    const blended = (1 - smooth) * (0.01 / 8) + smooth * 0.01;
    assertClose(invFreq, [1, 0.1, blended, 0.001 / 8], F64, 'frequencies');
    assert.throws(
      () => new RotaryEmbedding(8, { theta: 1e4, scaling: { type: 'yarn' } as never }),
      /scaling type 'yarn' is not supported/,
    );
  });

  test('hooks on q, k, v and z see [B, T, H, D]; replacing v changes the output', () => {
    const attn = attention({ nKvHeads: 2 });
    const x = randn([2, 3, 8], new Generator(1), { dtype: 'float64' });
    const shapes: Record<string, number[]> = {};
    const removers = (['hook_q', 'hook_k', 'hook_v', 'hook_z'] as const).map((name) =>
      attn[name].registerForwardHook((_m, _i, out) => {
        shapes[name] = [...out.shape];
        return undefined;
      }),
    );
    const base = noGrad(() => attn.call(x));
    assert.deepEqual(shapes, {
      hook_q: [2, 3, 4, 2],
      hook_k: [2, 3, 2, 2],
      hook_v: [2, 3, 2, 2],
      hook_z: [2, 3, 4, 2],
    });
    for (const r of removers) r();
    // v = 0 makes every head's output 0, so the output is the output projection's bias.
    const remove = attn.hook_v.registerForwardHook((_m, _i, v) => v.mul(0));
    const zeroed = noGrad(() => attn.call(x));
    remove();
    const bias = attn.out.bias as Tensor;
    for (let i = 0; i < zeroed.size; i++) assert.equal(zeroed.data[i], bias.data[i % 8]);
    assert.notDeepEqual([...zeroed.data], [...base.data]);
  });
});
