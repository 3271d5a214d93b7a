/**
 * Decoder-only transformer language models.
 *
 * `TransformerLM` is the engine that GPT-2, LLaMA and the configurable transformer share: token
 * embedding, position encoding (learned, sinusoidal, rotary or none), a stack of
 * `TransformerBlock`s, an optional final norm and the unembedding (tied to the token embedding or
 * not). It is built from a `TransformerSpec`, which says every part explicitly; each model turns
 * its own config into a spec.
 *
 * `ConfigurableTransformer` is the model the ablations swap parts of, built from a
 * `TransformerConfig` that is typed, validated (errors name the field) and frozen.
 *
 * Hook points: `hook_embed` and `hook_pos_embed` `[B, T, C]`, `blocks.{i}.*` (see
 * `nn/block.ts`), `ln_final.hook_normalized` `[B, T, C]`.
 *
 * Checkpoint names: the module tree is named for the hook points (`blocks.0.ln1`); a model whose
 * checkpoints use other names (GPT-2's `h.0.ln_1`) passes a `naming` function, and `stateDict()`
 * and `loadStateDict()` then speak the checkpoint's names. This holds when the model is the root
 * of the state dict. LIMITATION: inside a larger module (a value head wrapped around a policy)
 * its tensors appear under their module paths, not the checkpoint's names.
 *
 * Dimension legend: B batch, T new positions, S all positions (cached and new), C model width,
 * V vocabulary, L layers.
 */

import { KVCache, RotaryEmbedding, type RotaryTables } from '../nn/attention.js';
import { type BlockConfig, TransformerBlock } from '../nn/block.js';
import { HookPoint } from '../nn/hook-point.js';
import {
  Dropout,
  Embedding,
  Linear,
  ModuleList,
  makeNorm,
  type Norm,
  type NormConfig,
  SinusoidalEmbedding,
} from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { arange } from '../tensor/create.js';
import type { FloatDType } from '../tensor/dtype.js';
import { IndexError, ShapeError } from '../tensor/errors.js';
import { add, affine } from '../tensor/ops/elementwise.js';
import { linear } from '../tensor/ops/matmul.js';
import { expand, slice } from '../tensor/ops/shape.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export type PositionKind = 'learned' | 'sinusoidal' | 'rotary' | 'none';

/** Everything a `TransformerLM` is built from; models derive it from their configs. */
export interface TransformerSpec {
  vocabSize: number;
  nLayers: number;
  /** Every block's configuration; `attention.rotary` is set exactly when position is rotary. */
  block: BlockConfig;
  position: PositionKind;
  /** The number of positions: the learned table's size; for other encodings a limit or null. */
  maxPositions: number | null;
  /** The norm after the last block (pre-norm models); null for none. */
  finalNorm: NormConfig | null;
  /** The unembedding reuses the token embedding `[V, C]`. */
  tiedEmbeddings: boolean;
  /** A bias on the untied unembedding; default false. */
  unembedBias?: boolean;
  /** Multiplies the token embeddings (the 2017 Transformer: sqrt(C)); default 1. */
  embedScale?: number;
  /** Dropout on the summed embeddings; default 0. */
  embedDropout?: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/** How a model's weights start (see `nn/layers.ts`): without `rng`, zeros for loading. */
export interface TransformerInit {
  rng?: Generator;
  /** Draws dropout masks; default `rng.fork('dropout')` when `rng` is given. */
  dropoutRng?: Generator;
  /** Std of every weight matrix and embedding; default 0.02 (GPT-2, BERT). */
  std?: number;
  /** Std of the projections writing to the residual stream; default `std / sqrt(2 L)`. */
  outStd?: number;
}

/** What one forward pass is told beside the token ids. */
export interface LMForwardOptions {
  /** int32 positions `[T]` or `[B, T]`; default `cache.length + 0..T-1`. */
  positions?: Tensor | null;
  /** int32 `[B, S]` over all keys, cached and new: 1 to attend, 0 for padding. */
  keyMask?: Tensor | null;
  /** Read and extended by every layer (generation). */
  cache?: KVCache | null;
  /** Logits of the last position only, `[B, 1, V]` (skips the unembedding elsewhere). */
  lastPositionOnly?: boolean;
}

/** Parameter counts; `embedding` is the token and learned position tables and an untied head. */
export interface ParameterCounts {
  total: number;
  embedding: number;
  /** `total - embedding`, the N of Kaplan et al. (2020). */
  nonEmbedding: number;
}

/** The shared decoder-only language model; see the file comment. */
export class TransformerLM extends Module<[Tensor, LMForwardOptions?], Tensor> {
  readonly embed: Embedding;
  readonly hook_embed = new HookPoint();
  readonly pos_embed: Embedding | SinusoidalEmbedding | null = null;
  readonly hook_pos_embed = new HookPoint();
  readonly embedDropout: Dropout;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly ln_final: Norm | null = null;
  readonly unembed: Linear | null = null;
  readonly rotary: RotaryEmbedding | null = null;
  private readonly naming: ((path: string) => string) | null;

  constructor(
    readonly spec: Readonly<TransformerSpec>,
    init: TransformerInit = {},
    naming: ((path: string) => string) | null = null,
  ) {
    super();
    const { vocabSize: V, nLayers: L } = spec;
    const C = spec.block.attention.dModel;
    const dtype = spec.dtype ?? 'float32';
    const std = init.std ?? 0.02;
    const layerInit = {
      rng: init.rng,
      dtype,
      std,
      outStd: init.outStd ?? std / Math.sqrt(2 * L),
      dropoutRng: init.dropoutRng ?? init.rng?.fork('dropout') ?? null,
    };
    this.embed = this.registerModule('embed', new Embedding(V, C, layerInit));
    this.registerModule('hook_embed', this.hook_embed);
    if (spec.position === 'learned') {
      if (spec.maxPositions === null) {
        throw new RangeError('TransformerLM: learned positions need maxPositions');
      }
      this.pos_embed = new Embedding(spec.maxPositions, C, layerInit);
    } else if (spec.position === 'sinusoidal') {
      this.pos_embed = new SinusoidalEmbedding(C, dtype);
    }
    if (this.pos_embed) {
      this.registerModule('pos_embed', this.pos_embed);
      this.registerModule('hook_pos_embed', this.hook_pos_embed);
    }
    if ((spec.position === 'rotary') !== Boolean(spec.block.attention.rotary)) {
      throw new RangeError(
        'TransformerLM: block.attention.rotary must be set exactly when position is rotary',
      );
    }
    const rotary = spec.block.attention.rotary;
    if (rotary) {
      const D = spec.block.attention.dHead ?? C / spec.block.attention.nHeads;
      this.rotary = new RotaryEmbedding(D, rotary);
    }
    this.embedDropout = this.registerModule(
      'embed_dropout',
      new Dropout(spec.embedDropout ?? 0, layerInit.dropoutRng),
    );
    const blocks = Array.from({ length: L }, () => new TransformerBlock(spec.block, layerInit));
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    if (spec.finalNorm)
      this.ln_final = this.registerModule('ln_final', makeNorm(spec.finalNorm, C, dtype));
    if (!spec.tiedEmbeddings) {
      this.unembed = this.registerModule(
        'unembed',
        new Linear(C, V, { ...layerInit, bias: spec.unembedBias ?? false }),
      );
    }
    this.naming = naming;
    // Tensors describe themselves by their checkpoint names in error messages.
    for (const [key, t] of this.stateDict()) t.name = key;
  }

  /** The number of blocks. */
  get numLayers(): number {
    return this.blocks.length;
  }

  /** The number of positions the model accepts (null: no limit). */
  get maxPositions(): number | null {
    return this.spec.maxPositions;
  }

  /** A fresh, empty KV cache for this model. */
  newCache(): KVCache {
    return new KVCache(this.numLayers);
  }

  /** The checkpoint name of a module path (the path itself unless the model renames). */
  checkpointName(path: string): string {
    return this.naming ? this.naming(path) : path;
  }

  /** Parameters and buffers under their checkpoint names (see the file comment). */
  override stateDict(): Map<string, Tensor> {
    const own = super.stateDict();
    if (!this.naming) return own;
    const renamed = new Map<string, Tensor>();
    for (const [path, t] of own) renamed.set(this.checkpointName(path), t);
    return renamed;
  }

  /** Total, embedding and non-embedding parameter counts (tied tensors once). */
  parameterCounts(): ParameterCounts {
    const total = this.numParameters();
    let embedding = this.embed.weight.size;
    if (this.pos_embed instanceof Embedding) embedding += this.pos_embed.weight.size;
    if (this.unembed) embedding += this.unembed.weight.size;
    return { total, embedding, nonEmbedding: total - embedding };
  }

  /** Non-embedding parameters: `parameterCounts().nonEmbedding`. */
  numNonEmbeddingParameters(): number {
    return this.parameterCounts().nonEmbedding;
  }

  /** Token ids int32 `[B, T]` to next-token logits `[B, T, V]` (`[B, 1, V]` if last only). */
  forward(ids: Tensor, options: LMForwardOptions = {}): Tensor {
    if (ids.rank !== 2 || ids.dtype !== 'int32') {
      throw new ShapeError(
        `${this.constructor.name}: ids must be int32 [B, T], got ${ids.describe()}`,
      );
    }
    const [B, T] = ids.shape;
    const cache = options.cache ?? null;
    if (cache && cache.layers.length !== this.numLayers) {
      throw new ShapeError(
        `${this.constructor.name}: the KV cache has ${cache.layers.length} layers, the model ` +
          `${this.numLayers}; make it with model.newCache()`,
      );
    }
    const positions = this.positionsFor(B, T, options.positions ?? null, cache?.length ?? 0);
    let x = this.embed.call(ids); // [B, T, C]
    const scale = this.spec.embedScale ?? 1;
    if (scale !== 1) x = affine(x, scale); // [B, T, C]
    x = this.hook_embed.call(x); // [B, T, C]
    if (this.pos_embed) {
      let pe = this.pos_embed.call(positions); // [T, C] or [B, T, C]
      // The hook sees [B, T, C] as TransformerLens gives it; without a hook, [T, C] broadcasts.
      if (this.hook_pos_embed.active && pe.rank === 2) {
        pe = expand(pe, [B, T, pe.shape[1]]); // [B, T, C]
      }
      x = add(x, this.hook_pos_embed.call(pe)); // [B, T, C]
    }
    x = this.embedDropout.call(x); // [B, T, C]
    const rotary: RotaryTables | null = this.rotary
      ? this.rotary.tables(positions, x.dtype as FloatDType)
      : null;
    const keyMask = options.keyMask ?? null;
    this.blocks.items.forEach((block, i) => {
      x = block.call(x, { keyMask, rotary, cache: cache?.layers[i] ?? null }); // [B, T, C]
    });
    if (options.lastPositionOnly && T > 1) x = slice(x, 1, T - 1, T); // [B, 1, C]
    if (this.ln_final) x = this.ln_final.call(x); // [B, T, C]
    return this.unembed ? this.unembed.call(x) : linear(x, this.embed.weight); // [B, T, V]
  }

  /** Checks given positions, or makes `offset..offset+T-1` `[T]`, against the model's limit. */
  private positionsFor(B: number, T: number, given: Tensor | null, offset: number): Tensor {
    const name = this.constructor.name;
    let positions: Tensor;
    if (given) {
      const fits =
        given.dtype === 'int32' &&
        ((given.rank === 1 && given.shape[0] === T) ||
          (given.rank === 2 && given.shape[0] === B && given.shape[1] === T));
      if (!fits) {
        throw new ShapeError(
          `${name}: positions must be int32 [${T}] or [${B}, ${T}], got ${given.describe()}`,
        );
      }
      positions = given;
    } else {
      positions = arange(offset, offset + T, 1, { dtype: 'int32' }); // [T]
    }
    const limit = this.spec.maxPositions;
    for (let i = 0; i < positions.size; i++) {
      const p = positions.data[i];
      if (p < 0 || (limit !== null && p >= limit)) {
        throw new IndexError(
          `${name}: position ${p} is outside the model's ${limit ?? 'non-negative'} positions ` +
            `(valid: 0..${limit === null ? '' : limit - 1}); shorten the input or the generation`,
        );
      }
    }
    return positions;
  }
}

// ---- The configurable transformer

/** A field of a config that is out of range, of the wrong type, or unknown. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The configurable transformer's config. The parts the ablations swap default to the "modern"
 * choices (rotary, RMSNorm, pre-norm, SwiGLU, tied embeddings).
 */
export interface TransformerConfig {
  vocabSize: number;
  /** The longest sequence; the size of the learned position table. */
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads for grouped-query attention; default nHeads. */
  nKvHeads?: number;
  /** Feed-forward hidden width; default 4 dModel (also for SwiGLU). */
  dMlp?: number;
  /** Default 'rotary'. */
  position?: 'sinusoidal' | 'learned' | 'rotary';
  /** Rotary base; default 10000. */
  rotaryTheta?: number;
  /** Default 'rmsnorm'. */
  norm?: 'layernorm' | 'rmsnorm';
  /** Default 1e-5. */
  normEps?: number;
  /** Default 'pre'. */
  placement?: 'pre' | 'post';
  /** 'gelu' is the exact (erf) GELU; 'swiglu' the gated SiLU MLP. Default 'swiglu'. */
  activation?: 'relu' | 'gelu' | 'swiglu';
  /** Default true. */
  tiedEmbeddings?: boolean;
  /** Biases on every projection and the untied unembedding; default false. (LayerNorm always
   * has its learned shift.) */
  bias?: boolean;
  /** A norm after the last block; default true for pre-norm, false for post-norm. */
  finalNorm?: boolean;
  /** Multiply token embeddings by sqrt(dModel), as the 2017 Transformer; default false. */
  scaleEmbeddings?: boolean;
  /** Dropout on embeddings and sub-layer outputs; default 0. */
  dropout?: number;
  /** Default 'float32'; 'float64' for gradient checks. */
  dtype?: FloatDType;
}

/** A config with every default filled in. */
export type ResolvedTransformerConfig = Readonly<Required<TransformerConfig>>;

const CONFIG_DEFAULTS = {
  position: 'rotary',
  rotaryTheta: 10000,
  norm: 'rmsnorm',
  normEps: 1e-5,
  placement: 'pre',
  activation: 'swiglu',
  tiedEmbeddings: true,
  bias: false,
  scaleEmbeddings: false,
  dropout: 0,
  dtype: 'float32',
} as const;

const CHOICES: Record<string, readonly unknown[]> = {
  position: ['sinusoidal', 'learned', 'rotary'],
  norm: ['layernorm', 'rmsnorm'],
  placement: ['pre', 'post'],
  activation: ['relu', 'gelu', 'swiglu'],
  dtype: ['float32', 'float64'],
  tiedEmbeddings: [true, false],
  bias: [true, false],
  finalNorm: [true, false],
  scaleEmbeddings: [true, false],
};

const KNOWN_FIELDS = new Set([
  'vocabSize',
  'contextLength',
  'dModel',
  'nLayers',
  'nHeads',
  'nKvHeads',
  'dMlp',
  'position',
  'rotaryTheta',
  'norm',
  'normEps',
  'placement',
  'activation',
  'tiedEmbeddings',
  'bias',
  'finalNorm',
  'scaleEmbeddings',
  'dropout',
  'dtype',
]);

function fail(field: string, wanted: string, got: unknown): never {
  throw new ConfigError(
    field,
    `TransformerConfig.${field}: must be ${wanted}, got ${JSON.stringify(got) ?? String(got)}`,
  );
}

function positiveInt(c: Record<string, unknown>, field: string): number {
  const v = c[field];
  if (!Number.isInteger(v) || (v as number) < 1) fail(field, 'a positive integer', v);
  return v as number;
}

/**
 * Fills defaults into `input`, checks every field and returns a frozen config. Throws a
 * `ConfigError` naming the first field at fault (unknown fields included).
 */
export function resolveTransformerConfig(input: TransformerConfig): ResolvedTransformerConfig {
  if (input === null || typeof input !== 'object') fail('(config)', 'an object', input);
  const raw = input as unknown as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key)) {
      throw new ConfigError(
        key,
        `TransformerConfig: unknown field '${key}' (known: ${[...KNOWN_FIELDS].join(', ')})`,
      );
    }
  }
  const c: Record<string, unknown> = { ...CONFIG_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) c[k] = v;
  for (const field of ['vocabSize', 'contextLength', 'dModel', 'nLayers', 'nHeads']) {
    positiveInt(c, field);
  }
  for (const [field, options] of Object.entries(CHOICES)) {
    if (c[field] !== undefined && !options.includes(c[field])) {
      fail(field, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, c[field]);
    }
  }
  const C = c.dModel as number;
  const H = c.nHeads as number;
  if (C % H !== 0) fail('nHeads', `a divisor of dModel (${C})`, H);
  c.nKvHeads ??= H;
  const Hkv = positiveInt(c, 'nKvHeads');
  if (H % Hkv !== 0) fail('nKvHeads', `a divisor of nHeads (${H})`, Hkv);
  if (c.position === 'rotary' && (C / H) % 2 !== 0) {
    fail('nHeads', `a divisor of dModel giving an even head size for rotary (dModel ${C})`, H);
  }
  if (c.position === 'sinusoidal' && C % 2 !== 0) {
    fail('dModel', 'even for sinusoidal positions', C);
  }
  c.dMlp ??= 4 * C;
  positiveInt(c, 'dMlp');
  const theta = c.rotaryTheta as number;
  if (typeof theta !== 'number' || !(theta > 1)) fail('rotaryTheta', 'a number > 1', theta);
  const eps = c.normEps as number;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) fail('normEps', 'a number in (0, 1)', eps);
  const p = c.dropout as number;
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) fail('dropout', 'a number in [0, 1)', p);
  c.finalNorm ??= c.placement === 'pre';
  return Object.freeze(c) as unknown as ResolvedTransformerConfig;
}

/** The `TransformerSpec` of a resolved configurable-transformer config. */
export function transformerSpec(c: ResolvedTransformerConfig): TransformerSpec {
  const norm: NormConfig = { kind: c.norm, eps: c.normEps };
  const swiglu = c.activation === 'swiglu';
  return {
    vocabSize: c.vocabSize,
    nLayers: c.nLayers,
    block: {
      attention: {
        dModel: c.dModel,
        nHeads: c.nHeads,
        nKvHeads: c.nKvHeads,
        qkv: 'fused',
        bias: c.bias,
        causal: true,
        rotary: c.position === 'rotary' ? { theta: c.rotaryTheta } : null,
      },
      mlp: {
        dModel: c.dModel,
        dHidden: c.dMlp,
        activation: swiglu ? 'silu' : c.activation === 'relu' ? 'relu' : 'gelu',
        gated: swiglu,
        bias: c.bias,
      },
      norm,
      placement: c.placement,
      residDropout: c.dropout,
    },
    position: c.position,
    maxPositions: c.contextLength,
    finalNorm: c.finalNorm ? norm : null,
    tiedEmbeddings: c.tiedEmbeddings,
    unembedBias: c.bias,
    embedScale: c.scaleEmbeddings ? Math.sqrt(c.dModel) : 1,
    embedDropout: c.dropout,
    dtype: c.dtype,
  };
}

/**
 * The configurable transformer language model (see the file comment); its state dict uses the
 * module paths (`blocks.0.attn.qkv.weight`).
 *
 * @example
 * const model = new ConfigurableTransformer(
 *   { vocabSize: 50257, contextLength: 128, dModel: 64, nLayers: 4, nHeads: 4 },
 *   { rng: new Generator(123) },
 * );
 * const logits = model.call(ids); // ids int32 [B, T] -> [B, T, V]
 */
export class ConfigurableTransformer extends TransformerLM {
  readonly config: ResolvedTransformerConfig;

  constructor(config: TransformerConfig, init: TransformerInit = {}) {
    const resolved = resolveTransformerConfig(config);
    super(transformerSpec(resolved), init);
    this.config = resolved;
  }
}
