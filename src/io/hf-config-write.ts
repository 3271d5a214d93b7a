/**
 * Writing `config.json` in the Hugging Face layout, so that transformers (`AutoConfig`,
 * `from_pretrained`) loads what sextant saves with the same hyper-parameters. Keys are sorted, as
 * transformers writes them; the file is written atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Gpt2Config, HfConfig, LlamaConfig, RopeScaling, VitConfig } from './hf-config.js';
import { atomicWrite } from './safetensors-write.js';

/** The `config.json` object transformers reads for `config`. */
export function hfConfigJson(config: HfConfig): Record<string, unknown> {
  switch (config.modelType) {
    case 'gpt2':
      return gpt2Json(config);
    case 'llama':
      return llamaJson(config);
    case 'vit':
      return vitJson(config);
  }
}

/** Writes `dir/config.json` for `config` (creating `dir`); returns the file's path. */
export function writeHfConfig(dir: string, config: HfConfig): string {
  fs.mkdirSync(dir, { recursive: true });
  const json = hfConfigJson(config);
  const sorted = Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : 1)));
  const text = `${JSON.stringify(sorted, null, 2)}\n`;
  const file = path.join(dir, 'config.json');
  atomicWrite(file, (fd) => fs.writeSync(fd, text));
  return file;
}

function tokenIds(c: Gpt2Config | LlamaConfig): Record<string, unknown> {
  const eos = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : [...c.eosTokenIds];
  return {
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 0 ? null : eos,
    pad_token_id: c.padTokenId,
  };
}

function gpt2Json(c: Gpt2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    torch_dtype: 'float32',
    vocab_size: c.vocabSize,
    n_positions: c.nPositions,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: c.nInner,
    activation_function: c.activationFunction,
    layer_norm_epsilon: c.layerNormEpsilon,
    tie_word_embeddings: c.tieWordEmbeddings,
    scale_attn_weights: c.scaleAttnWeights,
    resid_pdrop: c.residPdrop,
    embd_pdrop: c.embdPdrop,
    attn_pdrop: c.attnPdrop,
    initializer_range: c.initializerRange,
    ...tokenIds(c),
  };
}

/**
 * Linear scaling is written as `{type, factor}`, the one spelling every transformers 4.x
 * accepts; llama3 scaling needs transformers 4.43 or later, which reads `rope_type`.
 */
function ropeScalingJson(s: RopeScaling | null): unknown {
  if (s === null) return null;
  if (s.type === 'linear') return { type: 'linear', factor: s.factor };
  return {
    rope_type: 'llama3',
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

function llamaJson(c: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    torch_dtype: 'float32',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: c.hiddenAct,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: ropeScalingJson(c.ropeScaling),
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.attentionBias,
    mlp_bias: c.mlpBias,
    attention_dropout: c.attentionDropout,
    initializer_range: c.initializerRange,
    pretraining_tp: 1,
    ...tokenIds(c),
  };
}

function vitJson(c: VitConfig): Record<string, unknown> {
  return {
    architectures: ['ViTForImageClassification'],
    model_type: 'vit',
    torch_dtype: 'float32',
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: c.hiddenAct,
    layer_norm_eps: c.layerNormEps,
    image_size: c.imageSize,
    patch_size: c.patchSize,
    num_channels: c.numChannels,
    qkv_bias: c.qkvBias,
    hidden_dropout_prob: c.hiddenDropoutProb,
    attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    initializer_range: c.initializerRange,
    id2label: Object.fromEntries(c.id2label.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(c.id2label.map((label, i) => [label, i])),
  };
}
