/**
 * Hugging Face `config.json` for GPT-2, LLaMA and ViT, read into typed, frozen configs and written
 * back with the keys transformers reads.
 *
 * Every key of the file is accounted for: it sets a hyper-parameter below, or it is on the list of
 * keys known not to change what sextant computes (`HARMLESS_KEYS`, per model type: bookkeeping,
 * generation defaults, token ids, heads sextant does not build), or it is accepted only at the
 * value sextant implements (`ONLY_VALUES`, such as `pretraining_tp: 1`). Any other key or value is
 * an `HfConfigError` naming the file, the key and the value, never silently ignored. A key that
 * is absent takes the default of the transformers config class, as transformers would; the core
 * sizes (widths, depths, head counts, vocabulary) must be present.
 *
 * LIMITATION: model types other than gpt2, llama and vit; ViT `image_size` / `patch_size` given
 * as [height, width] pairs; rope scaling types other than linear and llama3 (dynamic, yarn,
 * longrope): each is refused by name.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type Activation,
  deepFreeze,
  FieldReader,
  HfConfigError,
  show,
  type TokenIds,
} from './hf-config-fields.js';
import { findDuplicateKey } from './safetensors.js';

export {
  type Activation,
  HARMLESS_KEYS,
  HfConfigError,
  type ModelType,
  ONLY_VALUES,
  type TokenIds,
} from './hf-config-fields.js';
export { hfConfigJson, writeHfConfig } from './hf-config-write.js';

/** GPT-2 (`GPT2Config`); names follow the Hugging Face keys in camelCase. */
export interface Gpt2Config extends TokenIds {
  readonly modelType: 'gpt2';
  readonly vocabSize: number;
  readonly nPositions: number;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  /** MLP width: `n_inner`, or 4 * n_embd when the file has null or nothing. */
  readonly nInner: number;
  readonly activationFunction: string;
  readonly activation: Activation;
  readonly layerNormEpsilon: number;
  readonly tieWordEmbeddings: boolean;
  /** Divide attention scores by sqrt(head size). */
  readonly scaleAttnWeights: boolean;
  readonly residPdrop: number;
  readonly embdPdrop: number;
  readonly attnPdrop: number;
  readonly initializerRange: number;
}

/** Rotary scaling of LLaMA 2 long-context (`linear`) and LLaMA 3.1 (`llama3`) checkpoints. */
export type RopeScaling =
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** LLaMA (`LlamaConfig`). */
export interface LlamaConfig extends TokenIds {
  readonly modelType: 'llama';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  /** Grouped-query attention: key/value heads (= numAttentionHeads when absent). */
  readonly numKeyValueHeads: number;
  /** Per-head width: `head_dim`, or hiddenSize / numAttentionHeads when absent. */
  readonly headDim: number;
  readonly hiddenAct: 'silu';
  readonly maxPositionEmbeddings: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly tieWordEmbeddings: boolean;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  readonly attentionDropout: number;
  readonly initializerRange: number;
}

/** Vision Transformer (`ViTConfig`). */
export interface VitConfig {
  readonly modelType: 'vit';
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: string;
  readonly activation: Activation;
  readonly layerNormEps: number;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly numChannels: number;
  readonly qkvBias: boolean;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly initializerRange: number;
  /** Class names by id (`id2label`); transformers' default is LABEL_0 and LABEL_1. */
  readonly id2label: readonly string[];
}

export type HfConfig = Gpt2Config | LlamaConfig | VitConfig;

/** Reads `config.json` from a model folder, or the given file. */
export function readHfConfig(location: string): HfConfig {
  const file =
    fs.existsSync(location) && fs.statSync(location).isDirectory()
      ? path.join(location, 'config.json')
      : location;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new HfConfigError(file, `cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HfConfigError(file, `not valid JSON (${(e as Error).message})`);
  }
  // JSON.parse would keep the last of two equal keys without a word.
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) {
    throw new HfConfigError(file, 'appears twice', duplicate.join('.'));
  }
  return parseHfConfig(json, file);
}

/** Validates parsed `config.json` contents; `file` names the source in errors. */
export function parseHfConfig(json: unknown, file = 'config.json'): HfConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new HfConfigError(file, `expected a JSON object, got ${show(json)}`);
  }
  const r = new FieldReader(file, json as Record<string, unknown>);
  const modelType = r.raw('model_type');
  switch (modelType) {
    case 'gpt2':
      return deepFreeze(readGpt2(r));
    case 'llama':
      return deepFreeze(readLlama(r));
    case 'vit':
      return deepFreeze(readVit(r));
    default:
      throw new HfConfigError(
        file,
        `model_type ${show(modelType)} is not supported (supported: gpt2, llama, vit)`,
        'model_type',
      );
  }
}

function readGpt2(r: FieldReader): Gpt2Config {
  const nEmbd = r.int('n_embd', { min: 1 });
  const nHead = r.int('n_head', { min: 1 });
  r.check(nEmbd % nHead === 0, 'n_head', `n_embd ${nEmbd} is not divisible by n_head ${nHead}`);
  const activationFunction = r.str('activation_function', 'gelu_new');
  const config: Gpt2Config = {
    modelType: 'gpt2',
    vocabSize: r.int('vocab_size', { min: 1 }),
    nPositions: r.int('n_positions', { min: 1 }),
    nEmbd,
    nLayer: r.int('n_layer', { min: 0 }),
    nHead,
    nInner: r.intOrNull('n_inner', 1) ?? 4 * nEmbd,
    activationFunction,
    activation: r.activation('activation_function', activationFunction),
    layerNormEpsilon: r.num('layer_norm_epsilon', { default: 1e-5, positive: true }),
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    scaleAttnWeights: r.bool('scale_attn_weights', true),
    residPdrop: r.prob('resid_pdrop', 0.1),
    embdPdrop: r.prob('embd_pdrop', 0.1),
    attnPdrop: r.prob('attn_pdrop', 0.1),
    initializerRange: r.num('initializer_range', { default: 0.02 }),
    ...r.tokenIds({ bos: 50256, eos: 50256 }),
  };
  r.finish('gpt2');
  return config;
}

function readLlama(r: FieldReader): LlamaConfig {
  const hiddenSize = r.int('hidden_size', { min: 1 });
  const numAttentionHeads = r.int('num_attention_heads', { min: 1 });
  const numKeyValueHeads = r.intOrNull('num_key_value_heads', 1) ?? numAttentionHeads;
  r.check(
    numAttentionHeads % numKeyValueHeads === 0,
    'num_key_value_heads',
    `num_attention_heads ${numAttentionHeads} is not a multiple of ${numKeyValueHeads}`,
  );
  let headDim = r.intOrNull('head_dim', 1);
  if (headDim === null) {
    r.check(
      hiddenSize % numAttentionHeads === 0,
      'num_attention_heads',
      `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`,
    );
    headDim = hiddenSize / numAttentionHeads;
  }
  const hiddenAct = r.str('hidden_act', 'silu');
  r.check(
    hiddenAct === 'silu',
    'hidden_act',
    `${show(hiddenAct)} is not supported for llama (expected "silu")`,
  );
  const rope = readRope(r);
  const config: LlamaConfig = {
    modelType: 'llama',
    vocabSize: r.int('vocab_size', { min: 1 }),
    hiddenSize,
    intermediateSize: r.int('intermediate_size', { min: 1 }),
    numHiddenLayers: r.int('num_hidden_layers', { min: 0 }),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    hiddenAct: 'silu',
    maxPositionEmbeddings: r.int('max_position_embeddings', { default: 2048, min: 1 }),
    rmsNormEps: r.num('rms_norm_eps', { default: 1e-6, positive: true }),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    attentionBias: r.bool('attention_bias', false),
    mlpBias: r.bool('mlp_bias', false),
    attentionDropout: r.prob('attention_dropout', 0),
    initializerRange: r.num('initializer_range', { default: 0.02 }),
    ...r.tokenIds({ bos: 1, eos: 2 }),
  };
  r.finish('llama');
  return config;
}

/**
 * Rotary settings: `rope_theta` and `rope_scaling` (transformers 4.x), or `rope_parameters`
 * (transformers 5), which holds both; when the file has both spellings they must agree.
 */
function readRope(r: FieldReader): { theta: number; scaling: RopeScaling | null } {
  const params = r.raw('rope_parameters');
  let theta = r.num('rope_theta', { default: 10000, positive: true });
  let scaling = parseRopeScaling(r, 'rope_scaling', r.raw('rope_scaling'));
  if (params !== undefined && params !== null) {
    const p = params as Record<string, unknown>;
    const fromParams = parseRopeScaling(r, 'rope_parameters', params, true);
    const t = p.rope_theta;
    r.check(
      typeof t === 'number' && t > 0,
      'rope_parameters.rope_theta',
      `expected a positive number, got ${show(t)}`,
    );
    r.check(
      !r.has('rope_theta') || theta === t,
      'rope_parameters.rope_theta',
      `${t} disagrees with rope_theta ${theta}`,
    );
    r.check(
      r.raw('rope_scaling') == null || JSON.stringify(scaling) === JSON.stringify(fromParams),
      'rope_parameters',
      'disagrees with rope_scaling',
    );
    theta = t as number;
    scaling = fromParams;
  }
  return { theta, scaling };
}

function parseRopeScaling(
  r: FieldReader,
  key: string,
  value: unknown,
  withTheta = false,
): RopeScaling | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw r.error(key, `expected null or an object, got ${show(value)}`);
  }
  const v = value as Record<string, unknown>;
  const kind = v.rope_type ?? v.type;
  if (v.rope_type !== undefined && v.type !== undefined && v.rope_type !== v.type) {
    throw r.error(`${key}.type`, `${show(v.type)} disagrees with rope_type ${show(v.rope_type)}`);
  }
  const allowed: Record<string, string[]> = {
    default: [],
    linear: ['factor'],
    llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  };
  if (typeof kind !== 'string' || !Object.hasOwn(allowed, kind)) {
    throw r.error(
      `${key}.rope_type`,
      `${show(kind)} is not supported (supported: null, "linear", "llama3")`,
    );
  }
  const extra = ['rope_type', 'type', ...(withTheta ? ['rope_theta'] : [])];
  for (const k of Object.keys(v)) {
    if (!allowed[kind].includes(k) && !extra.includes(k)) {
      throw r.error(`${key}.${k}`, `${show(v[k])} is not supported for rope type "${kind}"`);
    }
  }
  const num = (k: string): number => {
    const x = v[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
      throw r.error(`${key}.${k}`, `expected a positive number, got ${show(x)}`);
    }
    return x;
  };
  if (kind === 'default') return null;
  if (kind === 'linear') return { type: 'linear', factor: num('factor') };
  const original = num('original_max_position_embeddings');
  if (!Number.isSafeInteger(original)) {
    throw r.error(
      `${key}.original_max_position_embeddings`,
      `expected an integer, got ${original}`,
    );
  }
  return {
    type: 'llama3',
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: original,
  };
}

function readVit(r: FieldReader): VitConfig {
  const hiddenSize = r.int('hidden_size', { min: 1 });
  const numAttentionHeads = r.int('num_attention_heads', { min: 1 });
  r.check(
    hiddenSize % numAttentionHeads === 0,
    'num_attention_heads',
    `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`,
  );
  const imageSize = r.int('image_size', { min: 1 });
  const patchSize = r.int('patch_size', { min: 1 });
  r.check(
    imageSize % patchSize === 0,
    'patch_size',
    `image_size ${imageSize} is not a multiple of ${patchSize}`,
  );
  const hiddenAct = r.str('hidden_act', 'gelu');
  const pooler = r.raw('pooler_output_size');
  r.check(
    pooler == null || pooler === hiddenSize,
    'pooler_output_size',
    `${show(pooler)} is not supported (expected null or hidden_size ${hiddenSize})`,
  );
  const config: VitConfig = {
    modelType: 'vit',
    hiddenSize,
    numHiddenLayers: r.int('num_hidden_layers', { min: 0 }),
    numAttentionHeads,
    intermediateSize: r.int('intermediate_size', { min: 1 }),
    hiddenAct,
    activation: r.activation('hidden_act', hiddenAct),
    layerNormEps: r.num('layer_norm_eps', { default: 1e-12, positive: true }),
    imageSize,
    patchSize,
    numChannels: r.int('num_channels', { default: 3, min: 1 }),
    qkvBias: r.bool('qkv_bias', true),
    hiddenDropoutProb: r.prob('hidden_dropout_prob', 0),
    attentionProbsDropoutProb: r.prob('attention_probs_dropout_prob', 0),
    initializerRange: r.num('initializer_range', { default: 0.02 }),
    id2label: readLabels(r),
  };
  r.finish('vit');
  return config;
}

/** `id2label` must name ids 0..n-1; `num_labels` and `label2id`, if present, must agree. */
function readLabels(r: FieldReader): string[] {
  const raw = r.raw('id2label');
  const numLabels = r.raw('num_labels');
  let labels: string[];
  if (raw === undefined || raw === null) {
    const n = numLabels === undefined ? 2 : numLabels;
    r.check(
      Number.isSafeInteger(n) && (n as number) >= 0,
      'num_labels',
      `expected an integer >= 0, got ${show(n)}`,
    );
    labels = Array.from({ length: n as number }, (_, i) => `LABEL_${i}`);
  } else {
    r.check(
      typeof raw === 'object' && !Array.isArray(raw),
      'id2label',
      `expected an object, got ${show(raw)}`,
    );
    const entries = Object.entries(raw as Record<string, unknown>);
    labels = new Array(entries.length);
    for (const [id, label] of entries) {
      const i = Number(id);
      r.check(
        /^(0|[1-9]\d*)$/.test(id) && i < entries.length && typeof label === 'string',
        `id2label.${id}`,
        `expected ids 0..${entries.length - 1} mapped to strings, got ${show(id)}: ${show(label)}`,
      );
      labels[i] = label as string;
    }
    r.check(
      numLabels === undefined || numLabels === labels.length,
      'num_labels',
      `${show(numLabels)} disagrees with the ${labels.length} entries of id2label`,
    );
  }
  const label2id = r.raw('label2id');
  if (label2id !== undefined && label2id !== null) {
    const expected = Object.fromEntries(labels.map((l, i) => [l, i]));
    r.check(
      JSON.stringify(sortKeys(label2id)) === JSON.stringify(sortKeys(expected)),
      'label2id',
      'is not the inverse of id2label',
    );
  }
  return labels;
}

function sortKeys(o: unknown): [string, unknown][] {
  return Object.entries(o as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
}
