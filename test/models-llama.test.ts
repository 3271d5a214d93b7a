/**
 * LLaMA loaded from Hugging Face folders against PyTorch. `fixtures/models/llama-tiny*` hold tiny
 * random LLaMAs (config.json and model.safetensors as HF publishes them) and, in
 * expected.safetensors, what `fixtures/models/make_llama_vit_fixture.py` computed with an
 * independent PyTorch implementation in float64: the logits, the residual stream around every
 * block, the final norm's output, and the logits at positions shifted by `position_offset`
 * (where rope scaling matters). Three variants: plain with grouped-query attention; linear rope
 * scaling; llama3 rope scaling with head_dim 8, biases and a tied head.
 *
 * Then: the config reaching the model, KV-cached generation, config errors, and the weights kept
 * in 16 bits (`keepHalf`): same outputs as widened, and the resident memory they take.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { arange, type FloatDType, Generator, noGrad, Tensor } from '../src/index.js';
import {
  HfConfigError,
  type LlamaConfig,
  loadLlama,
  readHfConfig,
  SafetensorsFile,
  saveSafetensors,
} from '../src/io/index.js';
import {
  ConfigError,
  generate,
  Llama,
  resolveLlamaConfig,
  runWithCache,
} from '../src/models/index.js';
import { NotSupportedError } from '../src/tensor/errors.js';
import { assertClose, describeEachBackend } from './helpers.js';

// dist/test/ at run time, so the repository root is two levels up.
const root = new URL('../../fixtures/models/', import.meta.url).pathname;
const VARIANTS = ['llama-tiny', 'llama-tiny-linear', 'llama-tiny-llama3'] as const;

interface Expected {
  ids: Tensor;
  offset: number;
  values: Map<string, Tensor>;
}

function readExpected(variant: string): Expected {
  const st = SafetensorsFile.open(join(root, variant, 'expected.safetensors'));
  try {
    const values = new Map<string, Tensor>();
    for (const n of st.names()) if (n !== 'ids') values.set(n, st.read(n, { dtype: 'float64' }));
    return { ids: st.read('ids'), offset: Number(st.metadata.position_offset), values };
  } finally {
    st.close();
  }
}

const expected = new Map(VARIANTS.map((v) => [v, readExpected(v)]));

function get(values: Map<string, Tensor>, name: string): Tensor {
  const t = values.get(name);
  assert.ok(t, `${name} is missing`);
  return t;
}

/**
 * `|ours - torch| <= atol + rtol |torch|`. float32: the fixtures' own float32 runs drift from
 * their float64 runs by up to 2.6e-6 in the logits (|logit| <= 3.8); 1e-4 relative plus 1e-5
 * absolute leaves room for another summation order and still catches a wrong eps, rotary layout
 * or head grouping (each moves logits by more than 1e-2). float64: 1e-10 over roundoff ~1e-13.
 */
const TOL: Record<FloatDType, { atol: number; rtol: number }> = {
  float32: { atol: 1e-5, rtol: 1e-4 },
  float64: { atol: 1e-10, rtol: 1e-10 },
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function shifted(offset: number, T: number): Tensor {
  return arange(offset, offset + T, 1, { dtype: 'int32' }); // [T]
}

describeEachBackend('LLaMA from Hugging Face folders against PyTorch', () => {
  for (const variant of VARIANTS) {
    for (const dtype of ['float32', 'float64'] as const) {
      test(`${variant}, ${dtype}: logits, residual stream per block, shifted positions`, (t) => {
        const { ids, offset, values } = expected.get(variant) as Expected;
        const model = loadLlama(join(root, variant), { dtype });
        const names = [...values.keys()].filter((n) => n.includes('hook'));
        const { output, cache } = noGrad(() => runWithCache(model, ids, names));
        const [B, T] = ids.shape;
        assert.deepEqual(output.shape, [B, T, model.config.vocabSize]);
        assertClose(output.data, get(values, 'logits').data, TOL[dtype], 'logits');
        for (const name of names) {
          const got = cache.get(name);
          assert.ok(got, `${name} was not cached`);
          assert.deepEqual(got.shape, [B, T, model.config.hiddenSize], name);
          assertClose(got.data, get(values, name).data, TOL[dtype], name);
        }
        const far = noGrad(() => model.call(ids, { positions: shifted(offset, T) }));
        const torchFar = get(values, 'logits_at_offset').data;
        assertClose(far.data, torchFar, TOL[dtype], `logits at positions ${offset}..`);
        const worst = maxAbsDiff(output.data, get(values, 'logits').data);
        t.diagnostic(`logits: max abs error ${worst.toExponential(2)}`);
      });
    }
  }
});

describe('LLaMA config and checkpoints', () => {
  test('config.json fields reach the model: heads, head_dim, biases, tied head, eps, rope', () => {
    const plain = loadLlama(join(root, 'llama-tiny'));
    const attn = plain.blocks.at(0).attn;
    assert.equal(attn.nHeads, 4);
    assert.equal(attn.nKvHeads, 2);
    assert.equal(attn.dHead, 4);
    assert.equal(attn.q?.bias, null);
    assert.ok(plain.unembed, 'llama-tiny has an untied lm_head');
    assert.equal(plain.blocks.at(1).ln1.eps, 1e-5);

    const llama3 = loadLlama(join(root, 'llama-tiny-llama3'));
    const a3 = llama3.blocks.at(0).attn;
    assert.equal(a3.dHead, 8);
    assert.deepEqual(a3.q?.weight.shape, [32, 16]);
    assert.deepEqual(a3.out.weight.shape, [16, 32]);
    assert.ok(a3.q?.bias && a3.out.bias && llama3.blocks.at(0).mlp.gate?.bias);
    assert.equal(llama3.unembed, null);
    assert.equal(llama3.ln_final?.eps, 1e-6);
    assert.deepEqual(llama3.config.eosTokenIds, [2, 3]);
    // llama3 scaling by hand: frequencies 1, 0.1, 0.01, 0.001 (wavelengths 6.3, 63, 628, 6283)
    // against bands 1024/8 = 128 and 1024/1 = 1024, factor 8.
    const w = (2 * Math.PI) / 0.01;
    const smooth = (1024 / w - 1) / (8 - 1);
    const want = [1, 0.1, (1 - smooth) * (0.01 / 8) + smooth * 0.01, 0.001 / 8];
    assertClose(llama3.rotary?.invFreq ?? [], want, { atol: 0, rtol: 1e-12 }, 'invFreq');
  });

  test('rope scaling changes the shifted logits beyond the tolerance (the fixture sees it)', () => {
    for (const variant of ['llama-tiny-linear', 'llama-tiny-llama3'] as const) {
      const { ids, offset, values } = expected.get(variant) as Expected;
      const scaled = loadLlama(join(root, variant));
      const config = { ...scaled.config, ropeScaling: null };
      const unscaled = new Llama(config);
      unscaled.loadStateDict(scaled.stateDict());
      unscaled.eval();
      const T = ids.shape[1];
      const far = noGrad(() => unscaled.call(ids, { positions: shifted(offset, T) }));
      const gap = maxAbsDiff(far.data, get(values, 'logits_at_offset').data);
      assert.ok(gap > 1e-2, `${variant}: without scaling the logits move by only ${gap}`);
    }
  });

  test('state dict names and shapes are exactly those of the HF files', () => {
    for (const variant of VARIANTS) {
      const model = new Llama(readHfConfig(join(root, variant)) as LlamaConfig);
      const st = SafetensorsFile.open(join(root, variant, 'model.safetensors'));
      try {
        const ours = model.stateDict();
        assert.deepEqual([...ours.keys()].sort(), st.names().sort(), variant);
        for (const [name, t] of ours) assert.deepEqual(t.shape, st.info(name).shape, name);
      } finally {
        st.close();
      }
    }
    const model = new Llama(readHfConfig(join(root, 'llama-tiny')) as LlamaConfig);
    const q = model.blocks.at(1).attn.q;
    assert.equal(q?.weight.name, 'model.layers.1.self_attn.q_proj.weight');
  });

  test('KV-cached generation equals uncached, greedy and sampled, prompts of two lengths', () => {
    const model = loadLlama(join(root, 'llama-tiny-llama3'), { dtype: 'float64' });
    const prompts = [
      [3, 17, 42, 8, 1],
      [29, 5],
    ];
    const options = { maxNewTokens: 8 };
    const cached = generate(model, prompts, { ...options, useCache: true });
    const uncached = generate(model, prompts, { ...options, useCache: false });
    assert.deepEqual(cached.tokens, uncached.tokens);
    assert.equal(cached.tokens[0].length, 8);
    const sample = (useCache: boolean) =>
      generate(model, prompts, {
        ...options,
        useCache,
        sample: { rng: new Generator(7), temperature: 1.5, topK: 20 },
      });
    assert.deepEqual(sample(true).tokens, sample(false).tokens);
  });

  test('the cache gives the logits of the full sequence, one position at a time', () => {
    const model = loadLlama(join(root, 'llama-tiny'), { dtype: 'float64' });
    const { ids } = expected.get('llama-tiny') as Expected;
    const [B, T] = ids.shape;
    const V = model.config.vocabSize;
    const full = noGrad(() => model.call(ids)); // [B, T, V]
    const cache = model.newCache();
    for (let t = 0; t < T; t++) {
      const step = new Tensor(
        Int32Array.from({ length: B }, (_, b) => ids.data[b * T + t]),
        [B, 1],
      );
      const logits = noGrad(() => model.call(step, { cache })); // [B, 1, V]
      for (let b = 0; b < B; b++) {
        const want = full.data.slice((b * T + t) * V, (b * T + t + 1) * V);
        const got = logits.data.slice(b * V, (b + 1) * V);
        assertClose(got, want, { atol: 1e-12, rtol: 1e-10 }, `row ${b}, position ${t}`);
      }
    }
  });

  test('a config the model cannot build is an error naming the field', () => {
    const base = readHfConfig(join(root, 'llama-tiny')) as LlamaConfig;
    const bad = (change: object, field: string, message: RegExp) =>
      assert.throws(
        () => new Llama({ ...base, ...change } as LlamaConfig),
        (e: unknown) => e instanceof ConfigError && e.field === field && message.test(e.message),
      );
    bad({ numKeyValueHeads: 3 }, 'numKeyValueHeads', /a divisor of numAttentionHeads \(4\)/);
    bad({ headDim: 5 }, 'headDim', /even/);
    bad({ rmsNormEps: 0 }, 'rmsNormEps', /positive, got 0/);
    bad({ ropeScaling: { type: 'yarn', factor: 2 } }, 'ropeScaling.type', /"yarn"/);
    const llama3 = readHfConfig(join(root, 'llama-tiny-llama3')) as LlamaConfig;
    const scaling = { ...llama3.ropeScaling, lowFreqFactor: 9 };
    assert.throws(
      () => new Llama({ ...llama3, ropeScaling: scaling } as LlamaConfig),
      /LlamaConfig\.ropeScaling\.highFreqFactor: must be above lowFreqFactor \(9\), got 8/,
    );
    assert.ok(Object.isFrozen(resolveLlamaConfig(base)));
  });

  test('config.json keys sextant does not support: an error naming the key', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sextant-llama-config-'));
    try {
      copyFileSync(join(root, 'llama-tiny', 'model.safetensors'), join(tmp, 'model.safetensors'));
      const json = JSON.parse(readFileSync(join(root, 'llama-tiny', 'config.json'), 'utf8'));
      const refused = (change: object, field: string) => {
        writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...json, ...change }));
        assert.throws(
          () => loadLlama(tmp),
          (e: unknown) =>
            e instanceof HfConfigError && e.field === field && e.message.includes(tmp),
        );
      };
      refused({ sliding_window: 4096 }, 'sliding_window');
      refused({ rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'rope_scaling.rope_type');
      refused({ hidden_act: 'gelu' }, 'hidden_act');
      refused({ pretraining_tp: 2 }, 'pretraining_tp');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// ---- Weights kept in 16 bits

const tmpRoot = mkdtempSync(join(tmpdir(), 'sextant-llama-half-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** A copy of a fixture folder with every float tensor stored as `dtype`. */
function halfCopy(variant: string, dtype: 'F16' | 'BF16'): string {
  const dir = join(tmpRoot, `${variant}-${dtype}`);
  mkdirSync(dir, { recursive: true });
  const st = SafetensorsFile.open(join(root, variant, 'model.safetensors'));
  try {
    const tensors = new Map(st.names().map((n) => [n, st.read(n)]));
    saveSafetensors(join(dir, 'model.safetensors'), tensors, { dtype, metadata: { format: 'pt' } });
  } finally {
    st.close();
  }
  copyFileSync(join(root, variant, 'config.json'), join(dir, 'config.json'));
  return dir;
}

describeEachBackend('LLaMA with weights kept in 16 bits', () => {
  for (const [variant, dtype] of [
    ['llama-tiny', 'F16'],
    ['llama-tiny-llama3', 'BF16'],
  ] as const) {
    test(`${variant} in ${dtype}: the outputs of the model widened at load, bit for bit`, () => {
      const dir = halfCopy(variant, dtype);
      const half = loadLlama(dir, { keepHalf: true });
      const wide = loadLlama(dir);
      const layers = half.config.numHiddenLayers;
      const projections = 7 * layers + (half.config.tieWordEmbeddings ? 0 : 1);
      assert.equal(half.halfWeights?.size, projections);
      assert.equal(wide.halfWeights, null);
      const { ids } = expected.get(variant) as Expected;
      const names = ['blocks.0.hook_resid_post', 'blocks.1.attn.hook_pattern'];
      const a = noGrad(() => runWithCache(half, ids, names));
      const b = noGrad(() => runWithCache(wide, ids, names));
      assert.deepEqual([...a.output.data], [...b.output.data]);
      for (const n of names) {
        assert.deepEqual([...(a.cache.get(n)?.data ?? [])], [...(b.cache.get(n)?.data ?? [])]);
      }
      // Recording gradients widens into fresh arrays instead of the shared scratch.
      const recorded = half.call(ids);
      const plain = noGrad(() => wide.call(ids));
      assert.deepEqual([...recorded.data], [...plain.data]);
      const options = { maxNewTokens: 5 };
      const prompts = [
        [4, 8, 15],
        [16, 23, 42, 9],
      ];
      assert.deepEqual(
        generate(half, prompts, options).tokens,
        generate(wide, prompts, options).tokens,
      );
      // The state dict widens the kept weights: the same values as the widened model's.
      const hs = half.stateDict();
      for (const [name, t] of wide.stateDict()) {
        assert.deepEqual([...(hs.get(name)?.data ?? [])], [...t.data], name);
      }
    });
  }

  test('the gradient with respect to the input passes through the widened weights', () => {
    const dir = halfCopy('llama-tiny', 'F16');
    const half = loadLlama(dir, { keepHalf: true });
    const wide = loadLlama(dir);
    const grads = [half, wide].map((model) => {
      const x = noGrad(() => model.embed.call(new Tensor(Int32Array.of(3, 9, 27), [1, 3])));
      x.requiresGrad = true;
      let h = x;
      for (const block of model.blocks.items) h = block.call(h);
      h.sum().backward();
      return [...(x.grad?.data ?? [])];
    });
    assert.deepEqual(grads[0], grads[1]);
  });
});

describe('LLaMA keepHalf edges', () => {
  test('keepHalf refuses float64, loadStateDict and non-projection tensors by name', () => {
    const dir = halfCopy('llama-tiny', 'F16');
    assert.throws(() => loadLlama(dir, { keepHalf: true, dtype: 'float64' }), /float64/);
    const half = loadLlama(dir, { keepHalf: true });
    assert.throws(
      () => half.loadStateDict(half.stateDict()),
      (e: unknown) => e instanceof NotSupportedError && /15 projection weights/.test(e.message),
    );
    const model = new Llama(half.config);
    const kept = half.checkpointEntries().get('model.layers.0.self_attn.q_proj.weight');
    assert.ok(kept && 'widenInto' in kept, 'q_proj is kept in 16 bits');
    assert.throws(
      () => model.attachHalfWeights(new Map([['model.norm.weight', kept]])),
      /'model\.norm\.weight' cannot stay in 16 bits/,
    );
    const kProj = 'model.layers.0.self_attn.k_proj.weight';
    assert.throws(
      () => model.attachHalfWeights(new Map([[kProj, kept]])),
      /'model\.layers\.0\.self_attn\.k_proj\.weight' is \[8, 16\], the F16 weight .* \[16, 16\]/,
    );
  });
});

// ---- Resident memory

/** F16 bits of values with magnitudes in [2^-8, 2^-4), random signs (no conversion needed). */
function randomHalfBits(n: number, seed: number): Uint16Array {
  const bits = new Uint16Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const exponent = 7 + (s >>> 30); // biased 7..10: 2^-8 .. 2^-5 times (1 + fraction)
    bits[i] = ((s >>> 16) & 0x8000) | (exponent << 10) | ((s >>> 6) & 0x3ff);
  }
  return bits;
}

/** Writes a synthetic F16 LLaMA folder; returns it and its float32 size in bytes. */
function syntheticHalfLlama(): { dir: string; float32Bytes: number } {
  const config = {
    model_type: 'llama',
    vocab_size: 1000,
    hidden_size: 1024,
    intermediate_size: 2816,
    num_hidden_layers: 4,
    num_attention_heads: 8,
    num_key_value_heads: 8,
    max_position_embeddings: 64,
    torch_dtype: 'float16',
  };
  const dir = join(tmpRoot, 'synthetic-f16');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  // Built only for its names and shapes: its float32 zeros are never written, so never resident.
  const model = new Llama(readHfConfig(dir) as LlamaConfig);
  const tensors = new Map<string, { dtype: 'F16'; shape: readonly number[]; data: Uint16Array }>();
  let elements = 0;
  let seed = 1;
  for (const [name, t] of model.stateDict()) {
    const data = name.endsWith('norm.weight')
      ? new Uint16Array(t.size).fill(0x3c00) // 1.0
      : randomHalfBits(t.size, seed++);
    tensors.set(name, { dtype: 'F16', shape: t.shape, data });
    elements += t.size;
  }
  saveSafetensors(join(dir, 'model.safetensors'), tensors);
  return { dir, float32Bytes: 4 * elements };
}

/** Loads `dir` in a fresh process, runs one forward; the growth of its peak resident memory. */
function measureLoad(dir: string, keepHalf: boolean): number {
  const io = new URL('../src/io/index.js', import.meta.url).href;
  const tensors = new URL('../src/index.js', import.meta.url).href;
  const script = `
    import { loadLlama } from ${JSON.stringify(io)};
    import { noGrad, Tensor } from ${JSON.stringify(tensors)};
    const before = process.memoryUsage().rss;
    const model = loadLlama(${JSON.stringify(dir)}, { keepHalf: ${keepHalf} });
    const ids = new Tensor(Int32Array.of(1, 2, 3, 4), [1, 4]);
    noGrad(() => model.call(ids));
    noGrad(() => model.call(ids));
    const peak = process.resourceUsage().maxRSS * 1024;
    console.log(JSON.stringify({ growth: peak - before }));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').pop() as string).growth;
}

describe('LLaMA keepHalf memory', () => {
  test('peak resident memory grows by about the 16-bit size, not the float32 size', (t) => {
    const { dir, float32Bytes } = syntheticHalfLlama();
    const half = measureLoad(dir, true);
    const wide = measureLoad(dir, false);
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    t.diagnostic(
      `float32 size ${mb(float32Bytes)}; peak RSS growth: keepHalf ${mb(half)} ` +
        `(${(half / float32Bytes).toFixed(2)}x), widened ${mb(wide)} ` +
        `(${(wide / float32Bytes).toFixed(2)}x)`,
    );
    assert.ok(half < 0.75 * float32Bytes, `keepHalf grew by ${mb(half)}`);
    assert.ok(wide > 0.9 * float32Bytes, `the widened model grew by only ${mb(wide)}`);
  });
});
