/**
 * GPT-2 (Radford et al. 2019) in Hugging Face's layout, so checkpoints from the hub load without
 * conversion and what sextant saves loads back into `transformers`.
 *
 * The architecture: learned token and position embeddings, pre-norm blocks with LayerNorm
 * (eps from the config, 1e-5 for the released models), fused q/k/v attention, a 4C MLP with the
 * tanh GELU (`gelu_new`), a final LayerNorm and a head tied to the token embedding. HF's dense
 * layer is `Conv1D`, weight `[in, out]`: our `Linear` takes it as it is (`layout: 'in_out'`).
 *
 * State-dict names are HF's; hook points follow the module paths (TransformerLens's names):
 *
 *   checkpoint                         module path (hook points below it)
 *   wte.weight             [V, C]      embed.weight          (hook_embed)
 *   wpe.weight             [P, C]      pos_embed.weight      (hook_pos_embed)
 *   h.{i}.ln_1.{weight,bias}           blocks.{i}.ln1        (blocks.{i}.ln1.hook_normalized)
 *   h.{i}.attn.c_attn.weight [C, 3C]   blocks.{i}.attn.qkv   (blocks.{i}.attn.hook_q ...)
 *   h.{i}.attn.c_proj.weight [C, C]    blocks.{i}.attn.out
 *   h.{i}.ln_2.{weight,bias}           blocks.{i}.ln2
 *   h.{i}.mlp.c_fc.weight  [C, 4C]     blocks.{i}.mlp.up     (blocks.{i}.mlp.hook_post)
 *   h.{i}.mlp.c_proj.weight [4C, C]    blocks.{i}.mlp.down
 *   ln_f.{weight,bias}                 ln_final              (ln_final.hook_normalized)
 *   lm_head.weight [V, C] (untied only) unembed.weight
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary, P positions.
 */

import type { Activation } from '../nn/mlp.js';
import type { LoadResult } from '../nn/module.js';
import type { FloatDType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  ConfigError,
  type TransformerInit,
  TransformerLM,
  type TransformerSpec,
} from './transformer.js';

/**
 * GPT-2's hyper-parameters, HF's `GPT2Config` fields in camelCase. The config that
 * `readHfConfig` (io layer) returns for a GPT-2 folder has these fields and more, so it can be
 * passed as it is: `new GPT2(readHfConfig(dir) as Gpt2Config)`.
 */
export interface GPT2Config {
  readonly vocabSize: number;
  /** Positions P (`n_positions`). */
  readonly nPositions: number;
  /** Width C (`n_embd`). */
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  /** MLP width; null means 4 C. */
  readonly nInner: number | null;
  /** The MLP activation, as computed: HF's 'gelu_new' is 'gelu_tanh'. */
  readonly activation: Activation;
  readonly layerNormEpsilon: number;
  readonly residPdrop: number;
  readonly embdPdrop: number;
  /**
   * Dropout on attention probabilities. LIMITATION: not applied (the fused attention op has no
   * dropout); residual and embedding dropout are.
   */
  readonly attnPdrop: number;
  readonly initializerRange: number;
  /** Scale attention scores by 1 / sqrt(D) (HF default true). */
  readonly scaleAttnWeights: boolean;
  readonly tieWordEmbeddings: boolean;
}

/** The 124M-parameter "gpt2" released by OpenAI. */
export const GPT2_SMALL: GPT2Config = Object.freeze({
  vocabSize: 50257,
  nPositions: 1024,
  nEmbd: 768,
  nLayer: 12,
  nHead: 12,
  nInner: null,
  activation: 'gelu_tanh',
  layerNormEpsilon: 1e-5,
  residPdrop: 0.1,
  embdPdrop: 0.1,
  attnPdrop: 0.1,
  initializerRange: 0.02,
  scaleAttnWeights: true,
  tieWordEmbeddings: true,
});

const ACTIVATIONS: readonly Activation[] = ['gelu_tanh', 'gelu', 'relu', 'silu'];

/** Just the fields above, checked (errors name the field), frozen. */
function resolveGPT2Config(c: GPT2Config): GPT2Config {
  const fail = (field: string, wanted: string, got: unknown): never => {
    throw new ConfigError(field, `GPT2Config.${field}: must be ${wanted}, got ${String(got)}`);
  };
  for (const field of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead'] as const) {
    if (!Number.isInteger(c[field]) || c[field] < 1) fail(field, 'a positive integer', c[field]);
  }
  if (c.nInner !== null && (!Number.isInteger(c.nInner) || c.nInner < 1)) {
    fail('nInner', 'a positive integer or null', c.nInner);
  }
  if (c.nEmbd % c.nHead !== 0) fail('nHead', `a divisor of nEmbd (${c.nEmbd})`, c.nHead);
  if (!ACTIVATIONS.includes(c.activation)) {
    fail('activation', `one of ${ACTIVATIONS.join(', ')}`, c.activation);
  }
  for (const field of ['residPdrop', 'embdPdrop', 'attnPdrop'] as const) {
    if (!(c[field] >= 0 && c[field] < 1)) fail(field, 'in [0, 1)', c[field]);
  }
  if (!(c.layerNormEpsilon > 0)) fail('layerNormEpsilon', 'positive', c.layerNormEpsilon);
  if (!(c.initializerRange >= 0)) fail('initializerRange', '>= 0', c.initializerRange);
  return Object.freeze({
    vocabSize: c.vocabSize,
    nPositions: c.nPositions,
    nEmbd: c.nEmbd,
    nLayer: c.nLayer,
    nHead: c.nHead,
    nInner: c.nInner,
    activation: c.activation,
    layerNormEpsilon: c.layerNormEpsilon,
    residPdrop: c.residPdrop,
    embdPdrop: c.embdPdrop,
    attnPdrop: c.attnPdrop,
    initializerRange: c.initializerRange,
    scaleAttnWeights: c.scaleAttnWeights,
    tieWordEmbeddings: c.tieWordEmbeddings,
  });
}

/** The `TransformerSpec` of a GPT-2 config. */
export function gpt2Spec(c: GPT2Config, dtype: FloatDType = 'float32'): TransformerSpec {
  const norm = { kind: 'layernorm' as const, eps: c.layerNormEpsilon };
  const D = c.nEmbd / c.nHead;
  return {
    vocabSize: c.vocabSize,
    nLayers: c.nLayer,
    block: {
      attention: {
        dModel: c.nEmbd,
        nHeads: c.nHead,
        qkv: 'fused',
        bias: true,
        layout: 'in_out',
        causal: true,
        scale: c.scaleAttnWeights ? 1 / Math.sqrt(D) : 1,
      },
      mlp: {
        dModel: c.nEmbd,
        dHidden: c.nInner ?? 4 * c.nEmbd,
        activation: c.activation,
        bias: true,
        layout: 'in_out',
      },
      norm,
      placement: 'pre',
      residDropout: c.residPdrop,
    },
    position: 'learned',
    maxPositions: c.nPositions,
    finalNorm: norm,
    tiedEmbeddings: c.tieWordEmbeddings,
    embedDropout: c.embdPdrop,
    dtype,
  };
}

/** Module path -> HF checkpoint name (see the table in the file comment). */
const RENAMES: [RegExp, string][] = [
  [/^embed\.weight$/, 'wte.weight'],
  [/^pos_embed\.weight$/, 'wpe.weight'],
  [/^blocks\.(\d+)\.ln1\./, 'h.$1.ln_1.'],
  [/^blocks\.(\d+)\.ln2\./, 'h.$1.ln_2.'],
  [/^blocks\.(\d+)\.attn\.qkv\./, 'h.$1.attn.c_attn.'],
  [/^blocks\.(\d+)\.attn\.out\./, 'h.$1.attn.c_proj.'],
  [/^blocks\.(\d+)\.mlp\.up\./, 'h.$1.mlp.c_fc.'],
  [/^blocks\.(\d+)\.mlp\.down\./, 'h.$1.mlp.c_proj.'],
  [/^ln_final\./, 'ln_f.'],
  [/^unembed\.weight$/, 'lm_head.weight'],
];

/** The HF name of a GPT-2 module path; throws for a path the table does not cover. */
export function gpt2CheckpointName(path: string): string {
  for (const [pattern, replacement] of RENAMES) {
    if (pattern.test(path)) return path.replace(pattern, replacement);
  }
  throw new Error(`GPT2: no checkpoint name for the module path '${path}'`);
}

/** Causal-mask buffers that older HF GPT-2 checkpoints carry; they hold no learned values. */
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

export interface GPT2Options extends TransformerInit {
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/**
 * GPT-2 language model: ids int32 `[B, T]` to logits `[B, T, V]`.
 *
 * @example
 * const model = new GPT2(readHfConfig(dir) as Gpt2Config); // zeros, to be loaded
 * model.loadStateDict(weights); // Map of HF names to tensors
 * model.eval();
 * const logits = model.call(ids); // ids int32 [B, T] -> [B, T, V]
 */
export class GPT2 extends TransformerLM {
  readonly config: GPT2Config;

  constructor(config: GPT2Config, options: GPT2Options = {}) {
    const resolved = resolveGPT2Config(config);
    const { dtype, ...init } = options;
    super(
      gpt2Spec(resolved, dtype),
      { std: resolved.initializerRange, ...init },
      gpt2CheckpointName,
    );
    this.config = resolved;
  }

  /**
   * Loads HF GPT-2 weights. Accepts what HF writes and the hub holds: names with or without the
   * `transformer.` prefix of `GPT2LMHeadModel`, the causal-mask buffers `h.{i}.attn.bias` /
   * `masked_bias` of older checkpoints (skipped), and `lm_head.weight` when the head is tied
   * (skipped: it is `wte.weight`). Anything else must fit exactly (see `Module.loadStateDict`).
   */
  override loadStateDict(
    state: Map<string, Tensor>,
    options: { strict?: boolean } = {},
  ): LoadResult {
    const cleaned = new Map<string, Tensor>();
    for (const [name, t] of state) {
      const key = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
      if (MASK_BUFFER.test(key)) continue;
      // LIMITATION: a tied lm_head is skipped unchecked; a checkpoint whose lm_head differs
      // from wte (tie_word_embeddings mislabelled) loads with wte's values as the head.
      if (key === 'lm_head.weight' && this.config.tieWordEmbeddings) continue;
      cleaned.set(key, t);
    }
    return super.loadStateDict(cleaned, options);
  }
}
