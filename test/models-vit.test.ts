/**
 * The Vision Transformer loaded from Hugging Face folders against PyTorch.
 * `fixtures/models/vit-tiny` is a tiny random `ViTForImageClassification` (8x8 images, patch 4,
 * 3 channels, hidden 16, 2 layers, 4 heads, 5 labels) and `vit-tiny-pooler` the same backbone as
 * a `ViTModel` (no `vit.` prefix) with its pooler; expected.safetensors holds the pixels and what
 * `fixtures/models/make_llama_vit_fixture.py` computed in float64 with an independent PyTorch
 * implementation (the patch projection there is torch's conv2d): patch embeddings, the embedded
 * sequence, the residual stream around every block, the final LayerNorm, logits or pooled output.
 *
 * Then: hook points by name, checkpoint names, the patch embedding against a convolution written
 * out, and bad input.
 *
 * Dimension legend: B batch, Ch channels, S image side, P patch side, N patches, C hidden,
 * K labels.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type FloatDType, noGrad, type Tensor, zeros } from '../src/index.js';
import { loadViT, readHfConfig, SafetensorsFile, type VitConfig } from '../src/io/index.js';
import {
  ConfigError,
  PatchEmbedding,
  runWithCache,
  ViT,
  vitCheckpointName,
} from '../src/models/index.js';
import { hookPoints } from '../src/nn/hook-point.js';
import { StateDictError } from '../src/nn/module.js';
import { ShapeError } from '../src/tensor/errors.js';
import { Generator } from '../src/tensor/random.js';
import { assertClose, describeEachBackend, randomTensor, testRng } from './helpers.js';

// dist/test/ at run time, so the repository root is two levels up.
const root = new URL('../../fixtures/models/', import.meta.url).pathname;
const VARIANTS = ['vit-tiny', 'vit-tiny-pooler'] as const;

function readExpected(variant: string, dtype: FloatDType): Map<string, Tensor> {
  const st = SafetensorsFile.open(join(root, variant, 'expected.safetensors'));
  try {
    return new Map(st.names().map((n) => [n, st.read(n, { dtype })]));
  } finally {
    st.close();
  }
}

function get(values: Map<string, Tensor>, name: string): Tensor {
  const t = values.get(name);
  assert.ok(t, `${name} is missing`);
  return t;
}

/**
 * `|ours - torch| <= atol + rtol |torch|`, as for GPT-2 and LLaMA: the fixture's float32 run
 * drifts from its float64 run by 1.7e-6 in the logits (|logit| <= 2.5). float64: 1e-10.
 */
const TOL: Record<FloatDType, { atol: number; rtol: number }> = {
  float32: { atol: 1e-5, rtol: 1e-4 },
  float64: { atol: 1e-10, rtol: 1e-10 },
};

describeEachBackend('ViT from Hugging Face folders against PyTorch', () => {
  for (const variant of VARIANTS) {
    for (const dtype of ['float32', 'float64'] as const) {
      test(`${variant}, ${dtype}: patches, embeddings, every block, output`, (t) => {
        const values = readExpected(variant, 'float64');
        const pixels = readExpected(variant, dtype).get('pixels') as Tensor;
        const model = loadViT(join(root, variant), { dtype });
        const names = [...values.keys()].filter((n) => n.includes('hook'));
        const { output, cache } = noGrad(() => runWithCache(model, pixels, names));
        const [B] = pixels.shape;
        const { hiddenSize: C } = model.config;
        const N = model.numPatches;
        for (const name of names) {
          const got = cache.get(name);
          assert.ok(got, `${name} was not cached`);
          const want = get(values, name);
          assert.deepEqual(got.shape, want.shape, name);
          assert.equal(got.shape[1], name === 'hook_patch_embed' ? N : N + 1);
          assertClose(got.data, want.data, TOL[dtype], name);
        }
        let final: Tensor;
        let torch: Tensor;
        if (variant === 'vit-tiny') {
          assert.deepEqual(output.shape, [B, 5]);
          [final, torch] = [output, get(values, 'logits')];
        } else {
          assert.deepEqual(output.shape, [B, N + 1, C], 'ViTModel returns the sequence');
          const pooled = noGrad(() => model.encode(pixels)).pooled;
          assert.ok(pooled);
          [final, torch] = [pooled, get(values, 'pooled')];
        }
        assertClose(final.data, torch.data, TOL[dtype], 'output');
        let worst = 0;
        for (let i = 0; i < torch.size; i++) {
          worst = Math.max(worst, Math.abs(final.data[i] - torch.data[i]));
        }
        t.diagnostic(`output: max abs error ${worst.toExponential(2)}`);
      });
    }
  }
});

const config = readHfConfig(join(root, 'vit-tiny')) as VitConfig;

describe('ViT model', () => {
  test('hook points by name, with the shapes they promise', () => {
    const model = loadViT(join(root, 'vit-tiny-pooler'));
    const names = [...hookPoints(model).keys()];
    for (const name of [
      'hook_patch_embed',
      'hook_pos_embed',
      'hook_embed',
      'blocks.0.hook_resid_pre',
      'blocks.0.ln1.hook_normalized',
      'blocks.0.attn.hook_q',
      'blocks.0.attn.hook_k',
      'blocks.0.attn.hook_v',
      'blocks.0.attn.hook_pattern',
      'blocks.0.attn.hook_z',
      'blocks.0.hook_attn_out',
      'blocks.0.hook_resid_mid',
      'blocks.0.ln2.hook_normalized',
      'blocks.0.mlp.hook_pre',
      'blocks.0.mlp.hook_post',
      'blocks.0.hook_mlp_out',
      'blocks.1.hook_resid_post',
      'ln_final.hook_normalized',
      'hook_pooled',
    ]) {
      assert.ok(names.includes(name), `${name} is not a hook point`);
    }
    const pixels = readExpected('vit-tiny', 'float32').get('pixels') as Tensor;
    const watched = ['hook_pos_embed', 'blocks.1.attn.hook_pattern', 'blocks.0.attn.hook_q'];
    const { cache } = noGrad(() => runWithCache(model, pixels, watched));
    assert.deepEqual(cache.get('hook_pos_embed')?.shape, [2, 5, 16]);
    assert.deepEqual(cache.get('blocks.0.attn.hook_q')?.shape, [2, 5, 4, 4]);
    const pattern = cache.get('blocks.1.attn.hook_pattern') as Tensor;
    assert.deepEqual(pattern.shape, [2, 4, 5, 5]);
    // Each row sums to one; not causal: each CLS query (row 0 of a head) sees the last patch
    // (a causal mask would make that weight exactly 0).
    for (let row = 0; row < 2 * 4 * 5; row++) {
      const p = Array.from(pattern.data.subarray(row * 5, row * 5 + 5));
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-6, `row ${row} sums to one`);
      if (row % 5 === 0) assert.ok(p[4] > 0, `query ${row} attends to the last patch`);
    }
  });

  test('a hook replacing hook_embed changes what the blocks read', () => {
    const model = loadViT(join(root, 'vit-tiny'));
    const pixels = readExpected('vit-tiny', 'float32').get('pixels') as Tensor;
    const before = noGrad(() => model.call(pixels));
    const remove = model.hook_embed.registerForwardHook((_m, _in, x) => zeros([...x.shape]));
    const zeroed = noGrad(() => model.call(pixels));
    remove();
    // With a zero stream every image is the same: both rows give the same logits.
    assert.deepEqual([...zeroed.data.slice(0, 5)], [...zeroed.data.slice(5, 10)]);
    assert.notDeepEqual([...before.data.slice(0, 5)], [...before.data.slice(5, 10)]);
  });

  test('state dict names and shapes are those of the HF files, with and without vit.', () => {
    for (const [variant, options] of [
      ['vit-tiny', { classifier: true }],
      ['vit-tiny-pooler', { classifier: false, pooler: true }],
    ] as const) {
      const model = new ViT(readHfConfig(join(root, variant)) as VitConfig, options);
      const st = SafetensorsFile.open(join(root, variant, 'model.safetensors'));
      try {
        const ours = model.stateDict();
        assert.deepEqual([...ours.keys()].sort(), st.names().sort(), variant);
        for (const [name, t] of ours) assert.deepEqual(t.shape, st.info(name).shape, name);
      } finally {
        st.close();
      }
    }
    assert.equal(
      vitCheckpointName('blocks.1.attn.k.bias'),
      'vit.encoder.layer.1.attention.attention.key.bias',
    );
    assert.equal(
      vitCheckpointName('patch_embed.weight', ''),
      'embeddings.patch_embeddings.projection.weight',
    );
  });

  test('loadStateDict takes the backbone with or without the vit. prefix', () => {
    const source = loadViT(join(root, 'vit-tiny'));
    const pixels = readExpected('vit-tiny', 'float32').get('pixels') as Tensor;
    const bare = new Map<string, Tensor>();
    for (const [name, t] of source.stateDict()) bare.set(name.replace(/^vit\./, ''), t);
    const model = new ViT(config);
    assert.deepEqual(model.loadStateDict(bare), { missingKeys: [], unexpectedKeys: [] });
    const a = noGrad(() => model.eval().call(pixels));
    const b = noGrad(() => source.call(pixels));
    assert.deepEqual([...a.data], [...b.data]);
  });

  test('a misfit checkpoint lists mis-shaped, missing and unexpected tensors at once', () => {
    const state = loadViT(join(root, 'vit-tiny')).stateDict();
    state.delete('vit.layernorm.bias');
    state.set('vit.embeddings.mask_token', zeros([1, 1, 16]));
    state.set('classifier.weight', zeros([1000, 16]));
    assert.throws(
      () => new ViT(config).loadStateDict(state),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        assert.match(e.message, /'classifier\.weight': shape \[1000, 16\], expected \[5, 16\]/);
        assert.match(e.message, /missing keys: vit\.layernorm\.bias/);
        assert.match(e.message, /unexpected keys: vit\.embeddings\.mask_token/);
        return true;
      },
    );
  });

  test('the patch embedding equals a stride-P convolution written out, also for S1 != S2', () => {
    const rng = testRng(5);
    const [B, Ch, Sh, Sw, P, C] = [2, 3, 8, 12, 4, 5];
    const embed = new PatchEmbedding(Ch, P, C, { rng: new Generator(3), dtype: 'float64' });
    embed.bias.data.set([0.1, -0.2, 0.3, 0, 0.5]);
    const x = randomTensor([B, Ch, Sh, Sw], rng); // [B, Ch, Sh, Sw] float64
    const out = noGrad(() => embed.call(x)); // [B, N, C]
    const [Hp, Wp] = [Sh / P, Sw / P];
    assert.deepEqual(out.shape, [B, Hp * Wp, C]);
    const w = embed.weight.data;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < Hp; i++) {
        for (let j = 0; j < Wp; j++) {
          for (let c = 0; c < C; c++) {
            let acc = embed.bias.data[c];
            for (let k = 0; k < Ch; k++) {
              for (let u = 0; u < P; u++) {
                for (let v = 0; v < P; v++) {
                  const pixel = x.data[((b * Ch + k) * Sh + i * P + u) * Sw + j * P + v];
                  acc += w[((c * Ch + k) * P + u) * P + v] * pixel;
                }
              }
            }
            const got = out.data[(b * Hp * Wp + i * Wp + j) * C + c];
            assert.ok(Math.abs(got - acc) < 1e-12, `patch (${i}, ${j}) channel ${c}`);
          }
        }
      }
    }
  });

  test('images of the wrong size, channels or dtype: an error naming both shapes', () => {
    const model = new ViT(config);
    for (const bad of [zeros([2, 3, 16, 16]), zeros([2, 1, 8, 8]), zeros([3, 8, 8])]) {
      assert.throws(
        () => model.call(bad),
        (e: unknown) =>
          e instanceof ShapeError &&
          e.message.includes('float32 [B, 3, 8, 8]') &&
          e.message.includes(`[${bad.shape.join(', ')}]`),
      );
    }
    assert.throws(
      () => model.call(zeros([1, 3, 8, 8], { dtype: 'float64' })),
      /float64\[1, 3, 8, 8\]/,
    );
  });

  test('a config the model cannot build is an error naming the field', () => {
    const bad = (change: object, field: string) =>
      assert.throws(
        () => new ViT({ ...config, ...change } as VitConfig),
        (e: unknown) => e instanceof ConfigError && e.field === field,
      );
    bad({ patchSize: 3 }, 'patchSize');
    bad({ numAttentionHeads: 5 }, 'numAttentionHeads');
    bad({ layerNormEps: -1 }, 'layerNormEps');
    bad({ activation: 'quick_gelu' }, 'activation');
  });
});
