/**
 * Hook points on the GPT-2 fixture: `runWithCache` returns exactly the activations asked for, in
 * the shapes TransformerLens gives them, and a typo is an error that suggests the right name;
 * forward hooks read and replace activations (replacing `blocks.0.hook_resid_post` with zeros
 * gives the logits computed by hand from zeros through the rest of the model); backward hooks
 * see and replace gradients.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary, H heads, D head size.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { add, crossEntropy, linear, noGrad, type Tensor, tensor, zeros } from '../src/index.js';
import { type Gpt2Config, readHfConfig, SafetensorsFile } from '../src/io/index.js';
import { GPT2, HookNameError, runWithCache, summariseHookNames } from '../src/models/index.js';
import { hookPoints } from '../src/nn/hook-point.js';
import { assertClose } from './helpers.js';

const dir = new URL('../../fixtures/models/gpt2-tiny/', import.meta.url).pathname;

function gpt2(): GPT2 {
  const config = readHfConfig(dir);
  assert.equal(config.modelType, 'gpt2');
  const model = new GPT2(config as Gpt2Config, { dtype: 'float64' });
  const st = SafetensorsFile.open(join(dir, 'model.safetensors'));
  model.loadStateDict(new Map(st.names().map((n) => [n, st.read(n, { dtype: 'float64' })])));
  st.close();
  return model.eval();
}

const ids = tensor(
  [
    [1, 7, 33, 2, 59],
    [4, 4, 18, 0, 12],
  ],
  { dtype: 'int32' },
); // [B, T]
const [B, T] = ids.shape;
const C = 24;
const H = 4;
const D = 6;
const V = 61;

/** Every hook name of the issue, for block 1, with the shape each must have. */
const SHAPES: Record<string, number[]> = {
  hook_embed: [B, T, C],
  hook_pos_embed: [B, T, C],
  'blocks.1.hook_resid_pre': [B, T, C],
  'blocks.1.ln1.hook_normalized': [B, T, C],
  'blocks.1.attn.hook_q': [B, T, H, D],
  'blocks.1.attn.hook_k': [B, T, H, D],
  'blocks.1.attn.hook_v': [B, T, H, D],
  'blocks.1.attn.hook_pattern': [B, H, T, T],
  'blocks.1.attn.hook_z': [B, T, H, D],
  'blocks.1.hook_attn_out': [B, T, C],
  'blocks.1.hook_resid_mid': [B, T, C],
  'blocks.1.ln2.hook_normalized': [B, T, C],
  'blocks.1.mlp.hook_pre': [B, T, 4 * C],
  'blocks.1.mlp.hook_post': [B, T, 4 * C],
  'blocks.1.hook_mlp_out': [B, T, C],
  'blocks.1.hook_resid_post': [B, T, C],
  'ln_final.hook_normalized': [B, T, C],
};

const EXACT = { atol: 0, rtol: 0 };
const F64 = { atol: 1e-12, rtol: 1e-10 };

describe('runWithCache', () => {
  test('returns exactly the names asked for, with the right shapes; output unchanged', () => {
    const model = gpt2();
    const plain = noGrad(() => model.call(ids));
    const { output, cache } = noGrad(() => runWithCache(model, ids, Object.keys(SHAPES)));
    assert.deepEqual([...cache.keys()].sort(), Object.keys(SHAPES).sort());
    for (const [name, shape] of Object.entries(SHAPES)) {
      assert.deepEqual(cache.get(name)?.shape, shape, name);
    }
    // Caching the attention pattern runs attention unfused (separate products and softmax),
    // which rounds differently from the fused kernel: equal to float64 precision, not bitwise.
    assertClose(output.data, plain.data, F64, 'logits with hooks');
    assert.deepEqual(output.shape, [B, T, V]);
    // The hooks are gone afterwards.
    assert.ok([...hookPoints(model).values()].every((h) => !h.active));
  });

  test('the cached activations agree with each other', () => {
    const model = gpt2();
    const names = [
      'hook_embed',
      'hook_pos_embed',
      'blocks.0.hook_resid_pre',
      'blocks.0.hook_resid_mid',
      'blocks.0.hook_attn_out',
      'blocks.0.hook_mlp_out',
      'blocks.0.hook_resid_post',
      'blocks.1.hook_resid_pre',
      'blocks.0.attn.hook_pattern',
    ];
    const { cache } = noGrad(() => runWithCache(model, [ids], names));
    const get = (n: string) => cache.get(n) as Tensor;
    const embedded = add(get('hook_embed'), get('hook_pos_embed'));
    assertClose(get('blocks.0.hook_resid_pre').data, embedded.data, EXACT, 'embed + pos');
    const mid = add(get('blocks.0.hook_resid_pre'), get('blocks.0.hook_attn_out'));
    assertClose(get('blocks.0.hook_resid_mid').data, mid.data, EXACT, 'resid_mid');
    const post = add(get('blocks.0.hook_resid_mid'), get('blocks.0.hook_mlp_out'));
    assertClose(get('blocks.0.hook_resid_post').data, post.data, EXACT, 'resid_post');
    assert.equal(get('blocks.1.hook_resid_pre'), get('blocks.0.hook_resid_post'));
    // The pattern is causal and each row sums to one.
    const p = get('blocks.0.attn.hook_pattern');
    for (let row = 0; row < B * H * T; row++) {
      const t = row % T;
      const values = [...p.data.subarray(row * T, (row + 1) * T)];
      assert.ok(
        values.slice(t + 1).every((v) => v === 0),
        `row ${row} sees the future`,
      );
      assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    }
  });

  test('a typo is an error that suggests the nearest names and lists the valid ones', () => {
    const model = gpt2();
    assert.throws(
      () => runWithCache(model, ids, ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_psot']),
      (e: unknown) => {
        assert.ok(e instanceof HookNameError);
        assert.match(e.message, /'blocks\.1\.hook_resid_psot' is not a hook point/);
        assert.match(e.message, /Nearest: 'blocks\.1\.hook_resid_post'/);
        assert.match(e.message, /blocks\.\{0\.\.2\}\.attn\.hook_pattern/);
        return true;
      },
    );
    assert.ok([...hookPoints(model).values()].every((h) => !h.active));
    assert.deepEqual(summariseHookNames(['a', 'x.0.b', 'x.1.b', 'x.3.b']), ['a', 'x.{0..3}.b']);
  });
});

describe('forward and backward hooks', () => {
  test('zeros as blocks.0.hook_resid_post give the logits computed by hand from zeros', () => {
    const model = gpt2();
    const plain = noGrad(() => model.call(ids));
    const remove = model.blocks
      .at(0)
      .hook_resid_post.registerForwardHook((_m, _i, out) => zeros(out.shape, { dtype: out.dtype }));
    const patched = noGrad(() => model.call(ids));
    remove();
    // By hand: zeros through blocks 1 and 2, the final norm and the tied head.
    const byHand = noGrad(() => {
      let x = zeros([B, T, C], { dtype: 'float64' }); // [B, T, C]
      for (let i = 1; i < model.numLayers; i++) x = model.blocks.at(i).call(x); // [B, T, C]
      const ln = model.ln_final;
      assert.ok(ln);
      return linear(ln.call(x), model.embed.weight); // [B, T, V]
    });
    assertClose(patched.data, byHand.data, F64, 'patched logits');
    assert.notDeepEqual([...patched.data], [...plain.data]);
    // Every row then sees the same zeros, so the logits no longer depend on the tokens.
    assertClose(
      patched.data.subarray(0, V),
      patched.data.subarray((T - 1) * V, T * V),
      F64,
      'rows',
    );
    // The hook is gone: the model is back to normal.
    assertClose(noGrad(() => model.call(ids)).data, plain.data, EXACT, 'after removal');
  });

  test('a read-only hook on q changes nothing', () => {
    const model = gpt2();
    const plain = noGrad(() => model.call(ids));
    const remove = model.blocks.at(2).attn.hook_q.registerForwardHook(() => undefined);
    const hooked = noGrad(() => model.call(ids));
    remove();
    assertClose(hooked.data, plain.data, EXACT, 'logits');
  });

  test('a backward hook sees the gradient at resid_mid; zeroing it cuts off block 0 attn', () => {
    const model = gpt2();
    const targets = tensor(
      [
        [7, 33, 2, 59, 1],
        [4, 18, 0, 12, 3],
      ],
      { dtype: 'int32' },
    );
    const seen: number[][] = [];
    const remove = model.blocks.at(0).hook_resid_mid.registerBackwardHook((_m, grad) => {
      seen.push([...grad.shape]);
      return zeros(grad.shape, { dtype: grad.dtype });
    });
    crossEntropy(model.call(ids), targets).backward();
    remove();
    assert.deepEqual(seen, [[B, T, C]]);
    const named = new Map(model.namedParameters());
    const zero = (name: string) => (named.get(name)?.grad?.data ?? []).every((v) => v === 0);
    assert.ok(zero('blocks.0.attn.qkv.weight'), 'block 0 attention');
    assert.ok(zero('pos_embed.weight'), 'position embedding');
    assert.ok(!zero('blocks.0.mlp.up.weight'), 'block 0 MLP still learns');
    assert.ok(!zero('blocks.1.attn.qkv.weight'), 'block 1 still learns');
  });

  test('replacing the attention pattern: uniform attention over the visible keys', () => {
    const model = gpt2();
    const uniform = (p: Tensor): Tensor => {
      const out = zeros(p.shape, { dtype: p.dtype });
      const [, , Tq, S] = p.shape;
      for (let row = 0; row < p.size / S; row++) {
        const t = row % Tq;
        for (let s = 0; s <= t; s++) out.data[row * S + s] = 1 / (t + 1);
      }
      return out;
    };
    const remove = model.blocks
      .at(0)
      .attn.hook_pattern.registerForwardHook((_m, _i, p) => uniform(p));
    const { cache } = noGrad(() =>
      runWithCache(model, ids, ['blocks.0.attn.hook_v', 'blocks.0.attn.hook_z']),
    );
    remove();
    // z at position t is the mean of v over positions 0..t.
    const v = cache.get('blocks.0.attn.hook_v') as Tensor; // [B, T, H, D]
    const z = cache.get('blocks.0.attn.hook_z') as Tensor; // [B, T, H, D]
    const row = H * D;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < row; i++) {
          let mean = 0;
          for (let s = 0; s <= t; s++) mean += v.data[(b * T + s) * row + i] / (t + 1);
          assert.ok(Math.abs(z.data[(b * T + t) * row + i] - mean) < 1e-12);
        }
      }
    }
  });
});
