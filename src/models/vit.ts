/**
 * The Vision Transformer (Dosovitskiy et al. 2021) in Hugging Face's layout
 * (`ViTForImageClassification`, or `ViTModel` without the classifier), so checkpoints from the
 * hub load without conversion and what sextant saves loads back into `transformers`.
 *
 * The architecture: the image is cut into non-overlapping P x P patches, each projected to C
 * channels (HF's stride-P convolution, computed here as a reshape, a permutation and one matrix
 * product); a learned CLS token is put in front and learned positions are added; pre-norm blocks
 * with LayerNorm (`layer_norm_eps`), separate q/k/v projections (biases per `qkv_bias`),
 * bidirectional attention, an MLP with the config's activation (exact GELU in the released
 * models); a final LayerNorm; then the classifier on the CLS position (logits `[B, K]`), and
 * optionally the pooler `tanh(dense(CLS))`.
 *
 * State-dict names are HF's (`vit.` in front for the classifier model, nothing for `ViTModel`):
 *
 *   checkpoint (vit.encoder.layer.{i}. = L.)                 module path
 *   vit.embeddings.cls_token               [1, 1, C]          cls_token
 *   vit.embeddings.position_embeddings     [1, N + 1, C]      pos_embed
 *   vit.embeddings.patch_embeddings.projection.weight  [C, Ch, P, P]   patch_embed.weight
 *   L.layernorm_before.{weight,bias}                          blocks.{i}.ln1
 *   L.attention.attention.{query,key,value}.{weight,bias}     blocks.{i}.attn.q, .k, .v
 *   L.attention.output.dense.{weight,bias}                    blocks.{i}.attn.out
 *   L.layernorm_after.{weight,bias}                           blocks.{i}.ln2
 *   L.intermediate.dense.{weight,bias}     [F, C]             blocks.{i}.mlp.up
 *   L.output.dense.{weight,bias}           [C, F]             blocks.{i}.mlp.down
 *   vit.layernorm.{weight,bias}                               ln_final
 *   vit.pooler.dense.{weight,bias}         [C, C] (optional)  pooler
 *   classifier.{weight,bias}               [K, C]             classifier
 *
 * Hook points: `hook_patch_embed` `[B, N, C]` (the projected patches, before the CLS token and
 * the positions), `hook_pos_embed` `[B, N + 1, C]` (the learned positions added),
 * `hook_embed` `[B, N + 1, C]` (the embedded sequence after adding positions: what block 0
 * reads), every block's hooks (`blocks.{i}.hook_resid_pre`, `blocks.{i}.attn.hook_pattern`, ...;
 * see `nn/block.ts`), `ln_final.hook_normalized` `[B, N + 1, C]` and, with a pooler,
 * `hook_pooled` `[B, C]`.
 *
 * LIMITATION: images must have the config's `image_size` (no position interpolation, HF's
 * `interpolate_pos_encoding`); no dropout on attention probabilities
 * (`attention_probs_dropout_prob`, 0 in the released models); random init draws from a normal,
 * not HF's truncated normal.
 *
 * Dimension legend: B batch, Ch image channels, S image side (pixels), P patch side, N patches
 * ((S / P)^2), C channels (hidden), F MLP width, K labels.
 */

import type { VitConfig } from '../io/hf-config.js';
import { TransformerBlock } from '../nn/block.js';
import { HookPoint } from '../nn/hook-point.js';
import {
  Dropout,
  type InitOptions,
  initWeight,
  LayerNorm,
  Linear,
  ModuleList,
} from '../nn/layers.js';
import { type LoadResult, Module } from '../nn/module.js';
import { zeros } from '../tensor/create.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/errors.js';
import { add, tanh } from '../tensor/ops/elementwise.js';
import { linear } from '../tensor/ops/matmul.js';
import { concat, expand, permute, reshape, slice } from '../tensor/ops/shape.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConfigError } from './transformer.js';

export type { VitConfig } from '../io/hf-config.js';

/**
 * Non-overlapping patches of `[B, Ch, S, S]` images projected to `[B, N, C]`, patches row by row
 * (HF's `Conv2d(Ch, C, kernel_size=P, stride=P)` followed by flatten and transpose). Weight
 * `[C, Ch, P, P]` as the convolution stores it, bias `[C]`.
 */
export class PatchEmbedding extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly channels: number,
    readonly patchSize: number,
    readonly dim: number,
    init: InitOptions = {},
  ) {
    super();
    const P = patchSize;
    const std = init.std ?? 1 / Math.sqrt(channels * P * P);
    this.weight = this.registerParameter('weight', initWeight([dim, channels, P, P], init, std));
    this.bias = this.registerParameter('bias', zeros([dim], { dtype: init.dtype }));
  }

  forward(pixels: Tensor): Tensor {
    const [B, Ch, Sh, Sw] = pixels.shape;
    const P = this.patchSize;
    const C = this.dim;
    if (pixels.rank !== 4 || Ch !== this.channels || Sh % P !== 0 || Sw % P !== 0) {
      throw new ShapeError(
        `PatchEmbedding: images must be [B, ${this.channels}, S, S] with S a multiple of ${P}, ` +
          `got ${pixels.describe()}`,
      );
    }
    const [Hp, Wp] = [Sh / P, Sw / P];
    const grid = reshape(pixels, [B, Ch, Hp, P, Wp, P]); // [B, Ch, Hp, P, Wp, P]
    const cut = permute(grid, [0, 2, 4, 1, 3, 5]); // [B, Hp, Wp, Ch, P, P]
    const rows = reshape(cut, [B, Hp * Wp, Ch * P * P]); // [B, N, Ch P P]
    const w = reshape(this.weight, [C, Ch * P * P]); // [C, Ch P P]
    return linear(rows, w, this.bias); // [B, N, C]
  }
}

function fail(field: string, wanted: string, got: unknown): never {
  throw new ConfigError(
    field,
    `VitConfig.${field}: must be ${wanted}, got ${JSON.stringify(got) ?? String(got)}`,
  );
}

const ACTIVATIONS = ['gelu', 'gelu_tanh', 'relu', 'silu'];

/** Checks the fields `ViT` uses (errors name the field) and returns a frozen copy. */
export function resolveVitConfig(c: VitConfig): VitConfig {
  if (c === null || typeof c !== 'object') fail('(config)', 'an object', c);
  const sizes = [
    'hiddenSize',
    'numAttentionHeads',
    'intermediateSize',
    'imageSize',
    'patchSize',
    'numChannels',
  ] as const;
  for (const field of sizes) {
    if (!Number.isInteger(c[field]) || c[field] < 1) fail(field, 'a positive integer', c[field]);
  }
  if (!Number.isInteger(c.numHiddenLayers) || c.numHiddenLayers < 0) {
    fail('numHiddenLayers', 'a non-negative integer', c.numHiddenLayers);
  }
  if (c.hiddenSize % c.numAttentionHeads !== 0) {
    fail('numAttentionHeads', `a divisor of hiddenSize (${c.hiddenSize})`, c.numAttentionHeads);
  }
  if (c.imageSize % c.patchSize !== 0) {
    fail('patchSize', `a divisor of imageSize (${c.imageSize})`, c.patchSize);
  }
  if (!ACTIVATIONS.includes(c.activation)) {
    fail('activation', `one of ${ACTIVATIONS.join(', ')}`, c.activation);
  }
  if (!(c.layerNormEps > 0)) fail('layerNormEps', 'positive', c.layerNormEps);
  for (const field of ['hiddenDropoutProb', 'attentionProbsDropoutProb'] as const) {
    if (!(c[field] >= 0 && c[field] < 1)) fail(field, 'in [0, 1)', c[field]);
  }
  if (!Array.isArray(c.id2label) || c.id2label.some((l) => typeof l !== 'string')) {
    fail('id2label', 'an array of label names', c.id2label);
  }
  return Object.freeze({ ...c, id2label: Object.freeze([...c.id2label]) });
}

/** Module path -> HF checkpoint name after the `vit.` prefix (see the file comment's table). */
const RENAMES: [RegExp, string][] = [
  [/^cls_token$/, 'embeddings.cls_token'],
  [/^pos_embed$/, 'embeddings.position_embeddings'],
  [/^patch_embed\./, 'embeddings.patch_embeddings.projection.'],
  [/^blocks\.(\d+)\.ln1\./, 'encoder.layer.$1.layernorm_before.'],
  [/^blocks\.(\d+)\.ln2\./, 'encoder.layer.$1.layernorm_after.'],
  [/^blocks\.(\d+)\.attn\.q\./, 'encoder.layer.$1.attention.attention.query.'],
  [/^blocks\.(\d+)\.attn\.k\./, 'encoder.layer.$1.attention.attention.key.'],
  [/^blocks\.(\d+)\.attn\.v\./, 'encoder.layer.$1.attention.attention.value.'],
  [/^blocks\.(\d+)\.attn\.out\./, 'encoder.layer.$1.attention.output.dense.'],
  [/^blocks\.(\d+)\.mlp\.up\./, 'encoder.layer.$1.intermediate.dense.'],
  [/^blocks\.(\d+)\.mlp\.down\./, 'encoder.layer.$1.output.dense.'],
  [/^ln_final\./, 'layernorm.'],
  [/^pooler\./, 'pooler.dense.'],
];

/**
 * The HF name of a ViT module path: `classifier.*` as it is, the rest after `prefix` (`'vit.'`
 * for the classifier model, `''` for `ViTModel`). Throws for a path the table does not cover.
 */
export function vitCheckpointName(path: string, prefix = 'vit.'): string {
  if (path.startsWith('classifier.')) return path;
  for (const [pattern, replacement] of RENAMES) {
    if (pattern.test(path)) return prefix + path.replace(pattern, replacement);
  }
  throw new Error(`ViT: no checkpoint name for the module path '${path}'`);
}

/**
 * The state-dict key a checkpoint tensor loads into: HF writes the backbone with the `vit.`
 * prefix from `ViTForImageClassification` and without it from `ViTModel`; either loads into
 * either.
 */
export function vitStateKey(name: string, prefix: string): string {
  if (name.startsWith('classifier.')) return name;
  const bare = name.startsWith('vit.') ? name.slice('vit.'.length) : name;
  return prefix + bare;
}

/** What the backbone computes for a batch of images. */
export interface ViTEncoding {
  /** The final LayerNorm's output `[B, N + 1, C]`; position 0 is the CLS token. */
  lastHiddenState: Tensor;
  /** `lastHiddenState` at the CLS position, `[B, C]` (what the classifier reads). */
  cls: Tensor;
  /** `tanh(dense(cls))` `[B, C]` with a pooler, else null. */
  pooled: Tensor | null;
}

export interface ViTOptions {
  /** The classification head `classifier` on the CLS position; default true. */
  classifier?: boolean;
  /** The pooler `tanh(dense(CLS))`; default false (as `ViTForImageClassification`). */
  pooler?: boolean;
  /** Draws the initial weights; without it weights are zeros, to be loaded. */
  rng?: Generator;
  /** Draws dropout masks; default `rng.fork('dropout')` when `rng` is given. */
  dropoutRng?: Generator;
  /** Init std of every weight; default the config's `initializerRange`. */
  std?: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/**
 * Vision Transformer: images float `[B, Ch, S, S]` to logits `[B, K]`, or, without a classifier,
 * to the final normalised sequence `[B, N + 1, C]` (position 0 is the CLS token).
 *
 * @example
 * const model = new ViT(readHfConfig(dir) as VitConfig); // zeros, to be loaded
 * model.loadStateDict(weights); // Map of HF names to tensors
 * model.eval();
 * const logits = model.call(pixels); // [B, 3, 224, 224] -> [B, K]
 * // or all at once: loadViT(dir) from io/pretrained.ts
 */
export class ViT extends Module<[Tensor], Tensor> {
  readonly config: VitConfig;
  /** The checkpoint prefix of the backbone: 'vit.' with a classifier, '' without. */
  readonly prefix: string;
  readonly cls_token: Tensor;
  readonly pos_embed: Tensor;
  readonly patch_embed: PatchEmbedding;
  readonly hook_patch_embed = new HookPoint();
  readonly hook_pos_embed = new HookPoint();
  readonly hook_embed = new HookPoint();
  readonly embedDropout: Dropout;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly ln_final: LayerNorm;
  readonly pooler: Linear | null = null;
  readonly hook_pooled: HookPoint | null = null;
  readonly classifier: Linear | null = null;

  constructor(config: VitConfig, options: ViTOptions = {}) {
    super();
    const c = resolveVitConfig(config);
    this.config = c;
    const { hiddenSize: C, numChannels: Ch, patchSize: P } = c;
    const N = (c.imageSize / P) ** 2;
    const dtype = options.dtype ?? 'float32';
    const std = options.std ?? c.initializerRange;
    const dropoutRng = options.dropoutRng ?? options.rng?.fork('dropout') ?? null;
    const init = { rng: options.rng, dtype, std, outStd: std, dropoutRng };
    this.prefix = (options.classifier ?? true) ? 'vit.' : '';
    this.cls_token = this.registerParameter('cls_token', initWeight([1, 1, C], init, std));
    this.pos_embed = this.registerParameter('pos_embed', initWeight([1, N + 1, C], init, std));
    this.patch_embed = this.registerModule('patch_embed', new PatchEmbedding(Ch, P, C, init));
    this.registerModule('hook_patch_embed', this.hook_patch_embed);
    this.registerModule('hook_pos_embed', this.hook_pos_embed);
    this.registerModule('hook_embed', this.hook_embed);
    this.embedDropout = this.registerModule(
      'embed_dropout',
      new Dropout(c.hiddenDropoutProb, dropoutRng),
    );
    const norm = { kind: 'layernorm' as const, eps: c.layerNormEps };
    const block = {
      attention: {
        dModel: C,
        nHeads: c.numAttentionHeads,
        qkv: 'separate' as const,
        bias: c.qkvBias,
        outBias: true,
        causal: false,
      },
      mlp: { dModel: C, dHidden: c.intermediateSize, activation: c.activation, bias: true },
      norm,
      placement: 'pre' as const,
      residDropout: c.hiddenDropoutProb,
    };
    const blocks = Array.from(
      { length: c.numHiddenLayers },
      () => new TransformerBlock(block, init),
    );
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    this.ln_final = this.registerModule(
      'ln_final',
      new LayerNorm(C, { eps: c.layerNormEps, dtype }),
    );
    if (options.pooler) {
      this.pooler = this.registerModule('pooler', new Linear(C, C, init));
      this.hook_pooled = this.registerModule('hook_pooled', new HookPoint());
    }
    if (options.classifier ?? true) {
      this.classifier = this.registerModule('classifier', new Linear(C, c.id2label.length, init));
    }
    // Tensors describe themselves by their checkpoint names in error messages.
    for (const [key, t] of this.stateDict()) t.name = key;
  }

  /** Patches per image, N. */
  get numPatches(): number {
    return (this.config.imageSize / this.config.patchSize) ** 2;
  }

  /** The checkpoint name of a module path. */
  checkpointName(path: string): string {
    return vitCheckpointName(path, this.prefix);
  }

  /** Parameters and buffers under their HF names. */
  override stateDict(): Map<string, Tensor> {
    const renamed = new Map<string, Tensor>();
    for (const [path, t] of super.stateDict()) renamed.set(this.checkpointName(path), t);
    return renamed;
  }

  /**
   * Loads HF ViT weights, with or without the `vit.` prefix (see `vitStateKey`); anything else
   * must fit exactly (see `Module.loadStateDict`).
   */
  override loadStateDict(
    state: Map<string, Tensor>,
    options: { strict?: boolean } = {},
  ): LoadResult {
    const cleaned = new Map<string, Tensor>();
    for (const [name, t] of state) cleaned.set(vitStateKey(name, this.prefix), t);
    return super.loadStateDict(cleaned, options);
  }

  /** Logits `[B, K]` with a classifier; otherwise the final sequence `[B, N + 1, C]`. */
  forward(pixels: Tensor): Tensor {
    const { lastHiddenState, cls } = this.encode(pixels);
    if (this.classifier) return this.classifier.call(cls); // [B, K]
    return lastHiddenState; // [B, N + 1, C]
  }

  /**
   * The backbone's outputs (HF `ViTModel`): the final normalised sequence, its CLS row, and the
   * pooler's output (null without a pooler).
   */
  encode(pixels: Tensor): ViTEncoding {
    const { numChannels: Ch, imageSize: S, hiddenSize: C } = this.config;
    const dtype = this.cls_token.dtype;
    const [B] = pixels.shape;
    const fits =
      pixels.rank === 4 && pixels.shape[1] === Ch && pixels.shape[2] === S && pixels.shape[3] === S;
    if (!fits || pixels.dtype !== dtype) {
      throw new ShapeError(
        `ViT: images must be ${dtype} [B, ${Ch}, ${S}, ${S}] (num_channels, image_size of the ` +
          `config), got ${pixels.describe()}`,
      );
    }
    const N = this.numPatches;
    const patches = this.hook_patch_embed.call(this.patch_embed.call(pixels)); // [B, N, C]
    const clsToken = expand(this.cls_token, [B, 1, C]); // [B, 1, C]
    let x = concat([clsToken, patches], 1); // [B, N + 1, C]
    let pe = this.pos_embed; // [1, N + 1, C]
    // The hook sees [B, N + 1, C] as TransformerLens gives it; without a hook, [1, N + 1, C]
    // broadcasts.
    if (this.hook_pos_embed.active) pe = expand(pe, [B, N + 1, C]); // [B, N + 1, C]
    x = add(x, this.hook_pos_embed.call(pe)); // [B, N + 1, C]
    x = this.embedDropout.call(this.hook_embed.call(x)); // [B, N + 1, C]
    for (const block of this.blocks.items) x = block.call(x); // [B, N + 1, C]
    const lastHiddenState = this.ln_final.call(x); // [B, N + 1, C]
    const cls = reshape(slice(lastHiddenState, 1, 0, 1), [B, C]); // [B, C]
    let pooled: Tensor | null = null;
    if (this.pooler && this.hook_pooled) {
      pooled = this.hook_pooled.call(tanh(this.pooler.call(cls))); // [B, C]
    }
    return { lastHiddenState, cls, pooled };
  }
}
