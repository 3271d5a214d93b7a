/**
 * LLaMA (Touvron et al. 2023) in Hugging Face's layout, so checkpoints from the hub load without
 * conversion and what sextant saves loads back into `transformers`.
 *
 * The architecture: a token embedding, pre-norm blocks with RMSNorm, attention with separate
 * q/k/v projections, grouped-query heads (`num_key_value_heads`) and rotary position embedding
 * in the rotate-half layout HF's checkpoints use (pairs `(i, i + D/2)`, with `rope_theta` and the
 * linear or llama3 `rope_scaling`), a SwiGLU feed-forward `down(silu(gate(x)) * up(x))`, a final
 * RMSNorm and a head, untied or tied to the embedding. Every hyper-parameter comes from the config
 * (`config.json` read by the io layer's `readHfConfig`): `rms_norm_eps`, `rope_theta`,
 * `rope_scaling`, `num_key_value_heads`, `head_dim`, `tie_word_embeddings`, `attention_bias`
 * (q/k/v and o), `mlp_bias`.
 *
 * State-dict names are HF's; hook points follow the module paths (TransformerLens's names):
 *
 *   checkpoint (L. = model.layers.{i}.)            module path (hook points below it)
 *   model.embed_tokens.weight          [V, C]      embed          (hook_embed)
 *   L.input_layernorm.weight           [C]         blocks.{i}.ln1 (blocks.{i}.ln1.hook_normalized)
 *   L.self_attn.q_proj.weight          [H D, C]    blocks.{i}.attn.q (blocks.{i}.attn.hook_q)
 *   L.self_attn.{k,v}_proj.weight      [Hkv D, C]  blocks.{i}.attn.k, .v
 *   L.self_attn.o_proj.weight          [C, H D]    blocks.{i}.attn.out
 *   L.post_attention_layernorm.weight  [C]         blocks.{i}.ln2
 *   L.mlp.{gate,up}_proj.weight        [F, C]      blocks.{i}.mlp.gate, .up
 *   L.mlp.down_proj.weight             [C, F]      blocks.{i}.mlp.down (blocks.{i}.mlp.hook_post)
 *   model.norm.weight                  [C]         ln_final       (ln_final.hook_normalized)
 *   lm_head.weight (untied only)       [V, C]      unembed
 *
 * Weights kept in 16 bits: `attachHalfWeights` makes the projections widen F16 / BF16 matrices on
 * use (`nn/half-linear.ts`); `io/pretrained.ts` does it when loading with `keepHalf`.
 *
 * LIMITATION: `attention_dropout` is not applied (the fused attention op has no dropout; it is 0
 * in every released LLaMA). Rotary angles are computed in float64 (HF: float32). Positions at or
 * beyond `max_position_embeddings` are refused (HF computes them, out of the trained range).
 *
 * Dimension legend: B batch, T time, C channels (hidden), V vocabulary, H query heads,
 * Hkv key/value heads, D head size, F feed-forward width.
 */

import type { LlamaConfig } from '../io/hf-config.js';
import type { RotaryConfig } from '../nn/attention.js';
import { HalfPrecisionWeights, type HalfWeight } from '../nn/half-linear.js';
import { Linear } from '../nn/layers.js';
import type { LoadResult } from '../nn/module.js';
import type { FloatDType } from '../tensor/dtype.js';
import { NotSupportedError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  ConfigError,
  type TransformerInit,
  TransformerLM,
  type TransformerSpec,
} from './transformer.js';

export type { LlamaConfig } from '../io/hf-config.js';

function fail(field: string, wanted: string, got: unknown): never {
  throw new ConfigError(
    field,
    `LlamaConfig.${field}: must be ${wanted}, got ${JSON.stringify(got) ?? String(got)}`,
  );
}

/**
 * Checks the fields `Llama` uses (errors name the field) and returns a frozen copy. Configs read
 * by `readHfConfig` pass; this catches hand-built ones.
 */
export function resolveLlamaConfig(c: LlamaConfig): LlamaConfig {
  if (c === null || typeof c !== 'object') fail('(config)', 'an object', c);
  const sizes = [
    'vocabSize',
    'hiddenSize',
    'intermediateSize',
    'numAttentionHeads',
    'numKeyValueHeads',
    'headDim',
    'maxPositionEmbeddings',
  ] as const;
  for (const field of sizes) {
    if (!Number.isInteger(c[field]) || c[field] < 1) fail(field, 'a positive integer', c[field]);
  }
  if (!Number.isInteger(c.numHiddenLayers) || c.numHiddenLayers < 0) {
    fail('numHiddenLayers', 'a non-negative integer', c.numHiddenLayers);
  }
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    fail(
      'numKeyValueHeads',
      `a divisor of numAttentionHeads (${c.numAttentionHeads})`,
      c.numKeyValueHeads,
    );
  }
  if (c.headDim % 2 !== 0) fail('headDim', 'even (rotary rotates pairs)', c.headDim);
  if (c.hiddenAct !== 'silu') fail('hiddenAct', '"silu"', c.hiddenAct);
  if (!(c.rmsNormEps > 0)) fail('rmsNormEps', 'positive', c.rmsNormEps);
  if (!(c.ropeTheta > 0)) fail('ropeTheta', 'positive', c.ropeTheta);
  if (!(c.attentionDropout >= 0 && c.attentionDropout < 1)) {
    fail('attentionDropout', 'in [0, 1)', c.attentionDropout);
  }
  for (const field of ['tieWordEmbeddings', 'attentionBias', 'mlpBias'] as const) {
    if (typeof c[field] !== 'boolean') fail(field, 'true or false', c[field]);
  }
  if (!Array.isArray(c.eosTokenIds)) fail('eosTokenIds', 'an array of token ids', c.eosTokenIds);
  const s = c.ropeScaling;
  if (s !== null) {
    if (s.type !== 'linear' && s.type !== 'llama3') {
      fail(
        'ropeScaling.type',
        '"linear" or "llama3" (or ropeScaling null)',
        (s as { type: unknown }).type,
      );
    }
    if (!(s.factor > 0)) fail('ropeScaling.factor', 'positive', s.factor);
    if (s.type === 'llama3') {
      if (!(s.lowFreqFactor > 0)) fail('ropeScaling.lowFreqFactor', 'positive', s.lowFreqFactor);
      if (!(s.highFreqFactor > s.lowFreqFactor)) {
        fail(
          'ropeScaling.highFreqFactor',
          `above lowFreqFactor (${s.lowFreqFactor})`,
          s.highFreqFactor,
        );
      }
      if (
        !Number.isInteger(s.originalMaxPositionEmbeddings) ||
        s.originalMaxPositionEmbeddings < 1
      ) {
        fail(
          'ropeScaling.originalMaxPositionEmbeddings',
          'a positive integer',
          s.originalMaxPositionEmbeddings,
        );
      }
    }
  }
  return Object.freeze({
    ...c,
    ropeScaling: s === null ? null : Object.freeze({ ...s }),
    eosTokenIds: Object.freeze([...c.eosTokenIds]),
  });
}

/** The rotary settings of a LLaMA config, in `nn/attention.ts`'s terms. */
export function llamaRotary(c: LlamaConfig): RotaryConfig {
  const s = c.ropeScaling;
  if (s === null) return { theta: c.ropeTheta, scaling: null };
  if (s.type === 'linear')
    return { theta: c.ropeTheta, scaling: { type: 'linear', factor: s.factor } };
  return {
    theta: c.ropeTheta,
    scaling: {
      type: 'llama3',
      factor: s.factor,
      lowFreqFactor: s.lowFreqFactor,
      highFreqFactor: s.highFreqFactor,
      originalMaxPositions: s.originalMaxPositionEmbeddings,
    },
  };
}

/** The `TransformerSpec` of a LLaMA config. */
export function llamaSpec(c: LlamaConfig, dtype: FloatDType = 'float32'): TransformerSpec {
  const norm = { kind: 'rmsnorm' as const, eps: c.rmsNormEps };
  return {
    vocabSize: c.vocabSize,
    nLayers: c.numHiddenLayers,
    block: {
      attention: {
        dModel: c.hiddenSize,
        nHeads: c.numAttentionHeads,
        nKvHeads: c.numKeyValueHeads,
        dHead: c.headDim,
        qkv: 'separate',
        bias: c.attentionBias,
        outBias: c.attentionBias,
        causal: true,
        rotary: llamaRotary(c),
      },
      mlp: {
        dModel: c.hiddenSize,
        dHidden: c.intermediateSize,
        activation: 'silu',
        gated: true,
        bias: c.mlpBias,
      },
      norm,
      placement: 'pre',
      residDropout: 0,
    },
    position: 'rotary',
    maxPositions: c.maxPositionEmbeddings,
    finalNorm: norm,
    tiedEmbeddings: c.tieWordEmbeddings,
    dtype,
  };
}

/** Module path -> HF checkpoint name (see the table in the file comment). */
const RENAMES: [RegExp, string][] = [
  [/^embed\.weight$/, 'model.embed_tokens.weight'],
  [/^blocks\.(\d+)\.ln1\./, 'model.layers.$1.input_layernorm.'],
  [/^blocks\.(\d+)\.ln2\./, 'model.layers.$1.post_attention_layernorm.'],
  [/^blocks\.(\d+)\.attn\.(q|k|v)\./, 'model.layers.$1.self_attn.$2_proj.'],
  [/^blocks\.(\d+)\.attn\.out\./, 'model.layers.$1.self_attn.o_proj.'],
  [/^blocks\.(\d+)\.mlp\.(gate|up|down)\./, 'model.layers.$1.mlp.$2_proj.'],
  [/^ln_final\./, 'model.norm.'],
  [/^unembed\.weight$/, 'lm_head.weight'],
];

/** The HF name of a LLaMA module path; throws for a path the table does not cover. */
export function llamaCheckpointName(path: string): string {
  for (const [pattern, replacement] of RENAMES) {
    if (pattern.test(path)) return path.replace(pattern, replacement);
  }
  throw new Error(`Llama: no checkpoint name for the module path '${path}'`);
}

/** Rotary frequency buffers that checkpoints of older transformers versions carry. */
const INV_FREQ = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/**
 * The state-dict key a checkpoint tensor loads into, or null for tensors HF writes that hold
 * nothing to load: `rotary_emb.inv_freq` buffers (recomputed from the config) and `lm_head.weight`
 * when the head is tied (it is `model.embed_tokens.weight`).
 * LIMITATION: both are skipped unchecked; a checkpoint whose lm_head differs from its embedding
 * (tie_word_embeddings mislabelled) loads with the embedding as the head.
 */
export function llamaStateKey(name: string, tiedEmbeddings: boolean): string | null {
  if (INV_FREQ.test(name)) return null;
  if (name === 'lm_head.weight' && tiedEmbeddings) return null;
  return name;
}

export interface LlamaOptions extends TransformerInit {
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/**
 * LLaMA language model: ids int32 `[B, T]` to logits `[B, T, V]`.
 *
 * @example
 * const model = new Llama(readHfConfig(dir) as LlamaConfig); // zeros, to be loaded
 * model.loadStateDict(weights); // Map of HF names to tensors
 * model.eval();
 * const logits = model.call(ids); // ids int32 [B, T] -> [B, T, V]
 * // or all at once: loadLlama(dir) from io/pretrained.ts
 */
export class Llama extends TransformerLM {
  readonly config: LlamaConfig;
  private half: HalfPrecisionWeights | null = null;

  constructor(config: LlamaConfig, options: LlamaOptions = {}) {
    const resolved = resolveLlamaConfig(config);
    const { dtype, ...init } = options;
    const std = resolved.initializerRange;
    // HF draws every matrix from normal(0, initializer_range); no depth-scaled residual init.
    super(llamaSpec(resolved, dtype), { std, outStd: std, ...init }, llamaCheckpointName);
    this.config = resolved;
  }

  /** The 16-bit weights the projections widen on use, or null when all are float. */
  get halfWeights(): HalfPrecisionWeights | null {
    return this.half;
  }

  /**
   * Makes the projections named in `weights` (checkpoint names of `Linear` weights: q/k/v/o,
   * gate/up/down, an untied lm_head) take their values from 16-bit matrices widened on use,
   * instead of their float32 parameters. Throws naming a tensor that is not such a weight.
   */
  attachHalfWeights(weights: ReadonlyMap<string, HalfWeight>): HalfPrecisionWeights {
    const linears = new Map<string, Linear>();
    for (const [path, m] of this.namedModules()) {
      if (m instanceof Linear) linears.set(this.checkpointName(`${path}.weight`), m);
    }
    const half = this.half ?? new HalfPrecisionWeights();
    for (const [name, weight] of weights) {
      const linear = linears.get(name);
      if (linear === undefined) {
        throw new NotSupportedError(
          `Llama: '${name}' cannot stay in 16 bits: only projection weights can (` +
            `${[...linears.keys()].slice(0, 3).join(', ')}, ...)`,
        );
      }
      half.attach(linear, weight);
    }
    this.half = half;
    return half;
  }

  /**
   * Every parameter and buffer by HF name, the weights kept in 16 bits as their `HalfWeight`
   * (not widened): what `savePretrained` writes.
   */
  checkpointEntries(): Map<string, Tensor | HalfWeight> {
    const out = new Map<string, Tensor | HalfWeight>();
    for (const [name, t] of super.stateDict()) out.set(name, this.half?.halfOf(t) ?? t);
    return out;
  }

  /**
   * Parameters and buffers under HF names. Weights kept in 16 bits appear as fresh float32
   * copies (so a keepHalf model's state dict costs the float32 size).
   */
  override stateDict(): Map<string, Tensor> {
    const state = super.stateDict();
    // Called from the base constructor too, before `half` is initialised.
    const half = this.half;
    if (!half) return state;
    for (const [name, t] of state) if (half.holds(t)) state.set(name, half.widenedCopy(t));
    return state;
  }

  /**
   * Loads HF LLaMA weights, skipping what `llamaStateKey` skips; anything else must fit exactly
   * (see `Module.loadStateDict`). Refused for a model whose weights are kept in 16 bits.
   */
  override loadStateDict(
    state: Map<string, Tensor>,
    options: { strict?: boolean } = {},
  ): LoadResult {
    if (this.half && this.half.size > 0) {
      throw new NotSupportedError(
        `Llama.loadStateDict: ${this.half.size} projection weights of this model are kept in ` +
          '16 bits (keepHalf); load into a model built without keepHalf',
      );
    }
    const cleaned = new Map<string, Tensor>();
    for (const [name, t] of state) {
      const key = llamaStateKey(name, this.config.tieWordEmbeddings);
      if (key !== null) cleaned.set(key, t);
    }
    return super.loadStateDict(cleaned, options);
  }
}
