/**
 * GPT-2 loaded from a Hugging Face folder against PyTorch: `fixtures/models/gpt2-tiny` holds a
 * tiny random GPT-2 (config.json and model.safetensors as HF publishes them) and, in
 * expected.safetensors, what `fixtures/models/make_gpt2_fixture.py` computed with an independent
 * PyTorch implementation in float64: the logits, the residual stream before and after every
 * block, and the final LayerNorm's output. Ours must match, read through the hook points, on
 * every backend; then save, load and compare; then the checkpoint-name handling.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type FloatDType, noGrad, type Tensor, zeros } from '../src/index.js';
import {
  type Gpt2Config,
  readHfConfig,
  SafetensorsFile,
  saveSafetensors,
  writeHfConfig,
} from '../src/io/index.js';
import { ConfigError, GPT2, GPT2_SMALL, runWithCache } from '../src/models/index.js';
import { StateDictError } from '../src/nn/module.js';
import { assertClose, describeEachBackend } from './helpers.js';

// dist/test/ at run time, so the repository root is two levels up.
const dir = new URL('../../fixtures/models/gpt2-tiny/', import.meta.url).pathname;
const config = readHfConfig(dir) as Gpt2Config;

function readAll(file: string, dtype: FloatDType): Map<string, Tensor> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.names().map((n) => [n, st.read(n, { dtype })]));
  } finally {
    st.close();
  }
}

function readExpected(): { ids: Tensor; values: Map<string, Tensor> } {
  const st = SafetensorsFile.open(join(dir, 'expected.safetensors'));
  try {
    const values = new Map<string, Tensor>();
    for (const n of st.names()) if (n !== 'ids') values.set(n, st.read(n, { dtype: 'float64' }));
    return { ids: st.read('ids'), values };
  } finally {
    st.close();
  }
}

function loadModel(dtype: FloatDType): GPT2 {
  const model = new GPT2(config, { dtype });
  model.loadStateDict(readAll(join(dir, 'model.safetensors'), dtype));
  return model.eval();
}

/**
 * `|ours - torch| <= atol + rtol |torch|`. float32: the fixture's own float32 run drifts from its
 * float64 run by 1.6e-6 in the logits (|logit| <= 4.8); 1e-4 relative plus 1e-5 absolute leaves
 * room for another summation order and still catches a wrong eps, GELU form or head orientation
 * (each moves logits by more than 1e-3). float64: 1e-10 over roundoff of ~1e-15.
 */
const TOL: Record<FloatDType, { atol: number; rtol: number }> = {
  float32: { atol: 1e-5, rtol: 1e-4 },
  float64: { atol: 1e-10, rtol: 1e-10 },
};

const { ids, values: expected } = readExpected();
const names = [...expected.keys()].filter((n) => n !== 'logits');

describeEachBackend('GPT-2 from a Hugging Face folder against PyTorch', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`${dtype}: logits and every block's residual stream match`, (t) => {
      const model = loadModel(dtype);
      const { output, cache } = noGrad(() => runWithCache(model, ids, names));
      const [B, T] = ids.shape;
      assert.deepEqual(output.shape, [B, T, config.vocabSize]);
      assertClose(output.data, expected.get('logits')?.data ?? [], TOL[dtype], 'logits');
      for (const name of names) {
        const got = cache.get(name);
        assert.ok(got, `${name} was not cached`);
        assert.deepEqual(got.shape, [B, T, config.nEmbd], name);
        assertClose(got.data, expected.get(name)?.data ?? [], TOL[dtype], name);
      }
      const torch = expected.get('logits')?.data ?? [];
      let worst = 0;
      for (let i = 0; i < torch.length; i++) {
        worst = Math.max(worst, Math.abs(output.data[i] - torch[i]));
      }
      t.diagnostic(`logits: max abs error ${worst.toExponential(2)} (max |logit| 4.8)`);
    });
  }
});

describe('GPT-2 checkpoints', () => {
  test('config.json as HF publishes it; parameter counts', () => {
    assert.equal(config.modelType, 'gpt2');
    assert.equal(config.activation, 'gelu_tanh');
    const model = new GPT2(config);
    const { vocabSize: V, nPositions: P, nEmbd: C, nLayer: L } = config;
    const perBlock =
      4 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
    const total = V * C + P * C + L * perBlock + 2 * C;
    assert.deepEqual(model.parameterCounts(), {
      total,
      embedding: V * C + P * C,
      nonEmbedding: total - V * C - P * C,
    });
  });

  test('a config the model cannot build is an error naming the field', () => {
    const bad = (change: object, field: string, message: RegExp) =>
      assert.throws(
        () => new GPT2({ ...GPT2_SMALL, ...change }),
        (e: unknown) => e instanceof ConfigError && e.field === field && message.test(e.message),
      );
    bad({ nHead: 5 }, 'nHead', /GPT2Config\.nHead: must be a divisor of nEmbd \(768\), got 5/);
    bad({ activation: 'quick_gelu' }, 'activation', /must be one of gelu_tanh, gelu, relu, silu/);
    bad({ residPdrop: 1 }, 'residPdrop', /in \[0, 1\), got 1/);
  });

  test('state dict names and shapes are exactly those of the HF file', () => {
    const model = new GPT2(config);
    const file = readAll(join(dir, 'model.safetensors'), 'float32');
    const ours = model.stateDict();
    assert.deepEqual([...ours.keys()].sort(), [...file.keys()].sort());
    for (const [name, t] of ours) assert.deepEqual(t.shape, file.get(name)?.shape, name);
    assert.equal(model.stateDict().get('h.0.attn.c_attn.weight')?.name, 'h.0.attn.c_attn.weight');
  });

  test('save, load into a fresh model: identical outputs', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sextant-gpt2-'));
    try {
      const model = loadModel('float32');
      saveSafetensors(join(tmp, 'model.safetensors'), model.stateDict(), {
        metadata: { format: 'pt' },
      });
      writeHfConfig(tmp, config);
      const reloaded = new GPT2(readHfConfig(tmp) as Gpt2Config);
      reloaded.loadStateDict(readAll(join(tmp, 'model.safetensors'), 'float32'));
      reloaded.eval();
      const a = noGrad(() => model.call(ids));
      const b = noGrad(() => reloaded.call(ids));
      assert.deepEqual([...b.data], [...a.data]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('loads the transformer. prefix, mask buffers and a tied lm_head as HF writes them', () => {
    const file = readAll(join(dir, 'model.safetensors'), 'float32');
    const prefixed = new Map<string, Tensor>();
    for (const [name, t] of file) prefixed.set(`transformer.${name}`, t);
    prefixed.set('lm_head.weight', file.get('wte.weight') as Tensor);
    prefixed.set('transformer.h.0.attn.bias', zeros([1, 1, 16, 16]));
    prefixed.set('h.1.attn.masked_bias', zeros([]));
    const model = new GPT2(config);
    const result = model.loadStateDict(prefixed);
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
    const reference = loadModel('float32');
    const a = noGrad(() => model.eval().call(ids));
    const b = noGrad(() => reference.call(ids));
    assert.deepEqual([...a.data], [...b.data]);
  });

  test('a misfit checkpoint lists missing, unexpected and mis-shaped tensors at once', () => {
    const file = readAll(join(dir, 'model.safetensors'), 'float32');
    file.delete('h.1.ln_2.bias');
    file.delete('ln_f.weight');
    file.set('h.7.mlp.c_fc.weight', zeros([24, 96]));
    file.set('h.0.attn.c_attn.weight', zeros([72, 24])); // PyTorch orientation, not Conv1D's
    const model = new GPT2(config);
    const before = [...(model.stateDict().get('wte.weight')?.data ?? [])];
    assert.throws(
      () => model.loadStateDict(file),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        assert.match(
          e.message,
          /'h\.0\.attn\.c_attn\.weight': shape \[72, 24\], expected \[24, 72\]/,
        );
        assert.match(e.message, /missing keys: h\.1\.ln_2\.bias, ln_f\.weight/);
        assert.match(e.message, /unexpected keys: h\.7\.mlp\.c_fc\.weight/);
        return true;
      },
    );
    // Nothing was copied.
    assert.deepEqual([...(model.stateDict().get('wte.weight')?.data ?? [])], before);
  });
});
