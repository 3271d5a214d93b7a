/**
 * Hugging Face `config.json`: the tiny GPT-2, LLaMA and ViT configs under `fixtures/io/configs/`
 * (written in the key style transformers saves) parse to the values they hold, absent keys take
 * transformers' defaults, every unsupported key or value is refused by name, and write then read
 * gives the same config back.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type Gpt2Config,
  HfConfigError,
  hfConfigJson,
  type LlamaConfig,
  parseHfConfig,
  readHfConfig,
  type VitConfig,
  writeHfConfig,
} from '../src/io/index.js';

const configDir = new URL('../../fixtures/io/configs/', import.meta.url).pathname;
const fixture = (name: string) => path.join(configDir, `${name}-tiny.json`);
const rawFixture = (name: string) =>
  JSON.parse(fs.readFileSync(fixture(name), 'utf8')) as Record<string, unknown>;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-config-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Asserts an HfConfigError whose message matches every pattern. */
function assertConfigError(fn: () => unknown, ...patterns: RegExp[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof HfConfigError)) assert.fail(`expected an HfConfigError, got ${caught}`);
  for (const p of patterns) assert.match(caught.message, p);
}

/** Parses the fixture of `type` with `changes` applied (undefined deletes a key). */
function variant(type: string, changes: Record<string, unknown>) {
  const json = rawFixture(type);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete json[k];
    else json[k] = v;
  }
  return parseHfConfig(json, `${type}-variant.json`);
}

describe('config.json: the fixtures parse to the values they hold', () => {
  test('GPT-2: sizes from the file, n_inner null as 4 * n_embd, gelu_new as tanh GELU', () => {
    const c = readHfConfig(fixture('gpt2')) as Gpt2Config;
    assert.deepEqual(c, {
      modelType: 'gpt2',
      vocabSize: 557,
      nPositions: 64,
      nEmbd: 32,
      nLayer: 2,
      nHead: 4,
      nInner: 128,
      activationFunction: 'gelu_new',
      activation: 'gelu_tanh',
      layerNormEpsilon: 1e-5,
      tieWordEmbeddings: true,
      scaleAttnWeights: true,
      residPdrop: 0.1,
      embdPdrop: 0.1,
      attnPdrop: 0.1,
      initializerRange: 0.02,
      bosTokenId: 556,
      eosTokenIds: [556],
      padTokenId: null,
    });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.eosTokenIds));
    assert.throws(() => {
      (c as { nLayer: number }).nLayer = 3;
    }, TypeError);
  });

  test('LLaMA: grouped-query heads, head_dim, llama3 rope scaling, several eos ids', () => {
    const c = readHfConfig(fixture('llama')) as LlamaConfig;
    assert.equal(c.modelType, 'llama');
    assert.equal(c.hiddenSize, 32);
    assert.equal(c.intermediateSize, 88);
    assert.equal(c.numHiddenLayers, 2);
    assert.equal(c.numAttentionHeads, 4);
    assert.equal(c.numKeyValueHeads, 2);
    assert.equal(c.headDim, 8);
    assert.equal(c.rmsNormEps, 1e-5);
    assert.equal(c.ropeTheta, 500000);
    assert.deepEqual(c.ropeScaling, {
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 64,
    });
    assert.equal(c.maxPositionEmbeddings, 128);
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.attentionBias, false);
    assert.equal(c.mlpBias, false);
    assert.deepEqual(c.eosTokenIds, [2, 5]);
    assert.equal(c.vocabSize, 320);
    assert.ok(Object.isFrozen(c.ropeScaling));
  });

  test('ViT: patches, qkv bias, GELU and class labels by id', () => {
    const c = readHfConfig(fixture('vit')) as VitConfig;
    assert.equal(c.hiddenSize, 24);
    assert.equal(c.numAttentionHeads, 3);
    assert.equal(c.intermediateSize, 48);
    assert.equal(c.imageSize, 16);
    assert.equal(c.patchSize, 4);
    assert.equal(c.numChannels, 3);
    assert.equal(c.qkvBias, true);
    assert.equal(c.layerNormEps, 1e-12);
    assert.equal(c.activation, 'gelu');
    assert.deepEqual(c.id2label, ['tabby cat', 'golden retriever', 'teapot']);
  });

  test('a model folder reads its config.json', () => {
    const dir = path.join(tmp, 'folder');
    fs.mkdirSync(dir);
    fs.copyFileSync(fixture('vit'), path.join(dir, 'config.json'));
    assert.equal(readHfConfig(dir).modelType, 'vit');
  });
});

describe('config.json: absent keys take the transformers defaults', () => {
  test('GPT-2 and LLaMA with only their core sizes', () => {
    const g = parseHfConfig({
      model_type: 'gpt2',
      vocab_size: 10,
      n_positions: 8,
      n_embd: 4,
      n_layer: 1,
      n_head: 2,
    }) as Gpt2Config;
    assert.equal(g.activation, 'gelu_tanh');
    assert.equal(g.layerNormEpsilon, 1e-5);
    assert.equal(g.nInner, 16);
    assert.equal(g.tieWordEmbeddings, true);
    const l = parseHfConfig({
      model_type: 'llama',
      vocab_size: 10,
      hidden_size: 8,
      intermediate_size: 16,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    }) as LlamaConfig;
    assert.equal(l.numKeyValueHeads, 2);
    assert.equal(l.headDim, 4);
    assert.equal(l.rmsNormEps, 1e-6);
    assert.equal(l.ropeTheta, 10000);
    assert.equal(l.ropeScaling, null);
    assert.equal(l.tieWordEmbeddings, false);
    assert.equal(l.maxPositionEmbeddings, 2048);
    assert.deepEqual([l.bosTokenId, l.eosTokenIds], [1, [2]]);
  });

  test('ViT without labels has transformers two default labels; num_labels makes more', () => {
    const v = variant('vit', { id2label: undefined, label2id: undefined }) as VitConfig;
    assert.deepEqual(v.id2label, ['LABEL_0', 'LABEL_1']);
    const five = variant('vit', { id2label: undefined, label2id: undefined, num_labels: 5 });
    assert.equal((five as VitConfig).id2label.length, 5);
  });

  test('linear rope scaling, rope type default, and transformers 5 rope_parameters', () => {
    const linear = variant('llama', { rope_scaling: { type: 'linear', factor: 2 } }) as LlamaConfig;
    assert.deepEqual(linear.ropeScaling, { type: 'linear', factor: 2 });
    const plain = variant('llama', { rope_scaling: { rope_type: 'default' } }) as LlamaConfig;
    assert.equal(plain.ropeScaling, null);
    const v5 = variant('llama', {
      rope_theta: undefined,
      rope_scaling: undefined,
      rope_parameters: { rope_type: 'linear', factor: 4, rope_theta: 1000 },
    }) as LlamaConfig;
    assert.deepEqual([v5.ropeTheta, v5.ropeScaling], [1000, { type: 'linear', factor: 4 }]);
    // As transformers 5 saves a LLaMA 3.1 config: `dtype`, and rope_parameters with llama3.
    const llama3 = variant('llama', {
      torch_dtype: undefined,
      dtype: 'bfloat16',
      rope_theta: undefined,
      rope_scaling: undefined,
      rope_parameters: {
        factor: 8,
        high_freq_factor: 4,
        low_freq_factor: 1,
        original_max_position_embeddings: 64,
        rope_theta: 500000,
        rope_type: 'llama3',
      },
    }) as LlamaConfig;
    assert.deepEqual(llama3, readHfConfig(fixture('llama')));
    assertConfigError(
      () => variant('llama', { rope_parameters: { rope_type: 'default', rope_theta: 1 } }),
      /field 'rope_parameters\.rope_theta': 1 disagrees with rope_theta 500000/,
    );
  });
});

describe('config.json: what sextant does not implement is refused by name', () => {
  test('unsupported keys and values name the key and the value', () => {
    assertConfigError(
      () => variant('gpt2', { scale_attn_by_inverse_layer_idx: true }),
      /gpt2-variant\.json: field 'scale_attn_by_inverse_layer_idx': true is not supported for gpt2/,
      /implements only false/,
    );
    assertConfigError(
      () => variant('llama', { rope_scaling: { rope_type: 'yarn', factor: 4 } }),
      /field 'rope_scaling\.rope_type': "yarn" is not supported/,
      /\(supported: null, "linear", "llama3"\)/,
    );
    assertConfigError(
      () => variant('llama', { hidden_act: 'relu' }),
      /field 'hidden_act': "relu" is not supported for llama \(expected "silu"\)/,
    );
    assertConfigError(
      () => variant('llama', { pretraining_tp: 2 }),
      /field 'pretraining_tp': 2 is not supported for llama \(sextant implements only 1\)/,
    );
    assertConfigError(
      () => variant('gpt2', { activation_function: 'gelu_fast' }),
      /field 'activation_function': "gelu_fast" is not supported \(supported: gelu_new,/,
    );
    assertConfigError(
      () => variant('gpt2', { use_flash_magic: true }),
      /field 'use_flash_magic': true: unknown key for gpt2; sextant does not implement it/,
    );
    assertConfigError(
      () => variant('gpt2', { pruned_heads: { 0: [1] } }),
      /field 'pruned_heads': \{"0":\[1\]\} is not supported/,
    );
    assertConfigError(
      () => variant('llama', { rope_scaling: { type: 'linear', factor: 2, finetuned: true } }),
      /field 'rope_scaling\.finetuned': true is not supported for rope type "linear"/,
    );
    assertConfigError(
      () => variant('vit', { is_decoder: true }),
      /field 'is_decoder': true is not supported for vit/,
    );
    assertConfigError(
      () => variant('vit', { pooler_act: 'relu' }),
      /field 'pooler_act': "relu" is not supported/,
    );
  });

  test('missing and ill-typed fields, and sizes that do not divide', () => {
    assertConfigError(
      () => variant('gpt2', { n_layer: undefined }),
      /field 'n_layer': is required but missing/,
    );
    assertConfigError(
      () => variant('gpt2', { n_head: '4' }),
      /field 'n_head': expected an integer >= 1, got "4"/,
    );
    assertConfigError(
      () => variant('gpt2', { n_head: 5 }),
      /n_embd 32 is not divisible by n_head 5/,
    );
    assertConfigError(
      () => variant('llama', { num_key_value_heads: 3 }),
      /field 'num_key_value_heads': num_attention_heads 4 is not a multiple of 3/,
    );
    assertConfigError(
      () => variant('gpt2', { resid_pdrop: 1.5 }),
      /expected a probability in \[0, 1\], got 1\.5/,
    );
    assertConfigError(
      () => variant('vit', { image_size: [16, 16] }),
      /field 'image_size': expected an integer/,
    );
    assertConfigError(
      () => variant('vit', { qkv_bias: 1 }),
      /field 'qkv_bias': expected true or false, got 1/,
    );
    assertConfigError(
      () => variant('vit', { num_labels: 4 }),
      /field 'num_labels': 4 disagrees with the 3 entries/,
    );
    assertConfigError(
      () => variant('vit', { label2id: { 'tabby cat': 1, 'golden retriever': 0, teapot: 2 } }),
      /field 'label2id': is not the inverse of id2label/,
    );
    assertConfigError(
      () => variant('vit', { id2label: { 0: 'a', 2: 'b' } }),
      /field 'id2label\.2': expected ids 0\.\.1/,
    );
    assertConfigError(
      () => parseHfConfig({ model_type: 'bert' }),
      /model_type "bert" is not supported \(supported: gpt2, llama, vit\)/,
    );
    assertConfigError(() => parseHfConfig([1]), /expected a JSON object, got \[1\]/);
  });

  test('files that are unreadable, not JSON or hold a key twice', () => {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"model_type": "gpt2",');
    assertConfigError(() => readHfConfig(bad), /bad\.json: not valid JSON/);
    fs.writeFileSync(bad, '{"model_type": "gpt2", "n_layer": 2, "n_layer": 12}');
    assertConfigError(() => readHfConfig(bad), /bad\.json: field 'n_layer': appears twice/);
    assertConfigError(() => readHfConfig(path.join(tmp, 'none')), /none: cannot read/);
  });
});

describe('config.json: writing', () => {
  for (const type of ['gpt2', 'llama', 'vit']) {
    test(`${type}: write then read gives the same config`, () => {
      const c = readHfConfig(fixture(type));
      const dir = path.join(tmp, `out-${type}`);
      const file = writeHfConfig(dir, c);
      assert.equal(file, path.join(dir, 'config.json'));
      assert.deepEqual(readHfConfig(dir), c);
      const keys = Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')));
      assert.deepEqual(keys, [...keys].sort(), 'keys sorted as transformers writes them');
    });
  }

  test('the written keys are the ones transformers reads', () => {
    const g = hfConfigJson(readHfConfig(fixture('gpt2')));
    assert.equal(g.n_inner, 128);
    assert.deepEqual(g.architectures, ['GPT2LMHeadModel']);
    const l = hfConfigJson(variant('llama', { rope_scaling: { type: 'linear', factor: 2 } }));
    assert.deepEqual(l.rope_scaling, { type: 'linear', factor: 2 });
    assert.deepEqual(l.eos_token_id, [2, 5]);
    assert.equal(l.num_key_value_heads, 2);
    const v = hfConfigJson(readHfConfig(fixture('vit')));
    assert.deepEqual(v.id2label, { 0: 'tabby cat', 1: 'golden retriever', 2: 'teapot' });
    assert.deepEqual(v.label2id, { 'tabby cat': 0, 'golden retriever': 1, teapot: 2 });
  });
});
