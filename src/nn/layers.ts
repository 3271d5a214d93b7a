/**
 * The basic layers models are built from: `Linear` (PyTorch's `[out, in]` weight, or the
 * `[in, out]` weight of Hugging Face's GPT-2 `Conv1D`), `Embedding`, `SinusoidalEmbedding`,
 * `LayerNorm`, `RMSNorm` (each with a `hook_normalized` hook point on its output), `Dropout`
 * (drawing from a `Generator` it is given) and `ModuleList` (numbered children, `blocks.0`).
 *
 * Initialisation: a layer given `rng` draws its weights from it, normal with the given `std`, in
 * the order the layers are built; without `rng` its weights are zeros, to be filled by
 * `loadStateDict`. Norm gains start at one and biases at zero either way.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary, N any leading dimensions.
 */

import { full, zeros } from '../tensor/create.js';
import type { FloatDType } from '../tensor/dtype.js';
import { NotSupportedError } from '../tensor/errors.js';
import { embedding } from '../tensor/ops/indexing.js';
import { linear } from '../tensor/ops/matmul.js';
import { dropout, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import { type Generator, randn } from '../tensor/random.js';
import { untracked } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import { HookPoint } from './hook-point.js';
import { Module } from './module.js';

/** How a layer's weights start; see the file comment. */
export interface InitOptions {
  /** The stream weights are drawn from; without it weights are zeros (for loading). */
  rng?: Generator;
  /** Standard deviation of the normal draw; each layer states its default. */
  std?: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/** A weight of `shape`: normal(0, std) from `rng`, or zeros without one. */
export function initWeight(shape: number[], init: InitOptions, std: number): Tensor {
  const dtype = init.dtype ?? 'float32';
  return init.rng ? randn(shape, init.rng, { std, dtype }) : zeros(shape, { dtype });
}

function checkSize(layer: string, field: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`${layer}: ${field} must be a positive integer, got ${n}`);
  }
}

/**
 * Where a `Linear` keeps its weight: `'out_in'` is PyTorch's `nn.Linear` (`[out, in]`);
 * `'in_out'` is Hugging Face's `Conv1D` in GPT-2 (`[in, out]`), so checkpoints load unchanged.
 */
export type WeightLayout = 'out_in' | 'in_out';

export interface LinearOptions extends InitOptions {
  /** Default true. */
  bias?: boolean;
  /** Default 'out_in'. */
  layout?: WeightLayout;
}

/**
 * A dense layer, `y = x W^T + b`: `x` `[..., in]` to `[..., out]`. Weight `[out, in]` (or
 * `[in, out]` with `layout: 'in_out'`), bias `[out]`. Default init std: `1 / sqrt(in)`.
 */
export class Linear extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly layout: WeightLayout;
  /**
   * When set, `forward` multiplies by the tensor this returns (shaped as `weight`) instead of the
   * `weight` parameter. A model whose weights stay in 16 bits widens them here on each call
   * (`nn/half-linear.ts`); null, the default, uses `weight`.
   */
  weightSource: (() => Tensor) | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    checkSize('Linear', 'inFeatures', inFeatures);
    checkSize('Linear', 'outFeatures', outFeatures);
    this.layout = options.layout ?? 'out_in';
    const shape = this.layout === 'out_in' ? [outFeatures, inFeatures] : [inFeatures, outFeatures];
    const std = options.std ?? 1 / Math.sqrt(inFeatures);
    this.weight = this.registerParameter('weight', initWeight(shape, options, std));
    this.bias =
      options.bias === false
        ? null
        : this.registerParameter('bias', zeros([outFeatures], { dtype: options.dtype }));
  }

  forward(x: Tensor): Tensor {
    const weight = this.weightSource?.() ?? this.weight; // [out, in] or [in, out]
    return linear(x, weight, this.bias, { weightLayout: this.layout }); // [..., out]
  }
}

/** Token embedding: int32 ids `[...]` to rows of `weight` `[V, C]`, `[..., C]`. Default std 1. */
export class Embedding extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    options: InitOptions = {},
  ) {
    super();
    checkSize('Embedding', 'numEmbeddings', numEmbeddings);
    checkSize('Embedding', 'dim', dim);
    this.weight = this.registerParameter(
      'weight',
      initWeight([numEmbeddings, dim], options, options.std ?? 1),
    );
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids); // [..., C]
  }
}

/**
 * Fixed sine-cosine position encodings (Vaswani et al. 2017): for position `p` and
 * `i < C/2`, channel `2i` is `sin(p / 10000^(2i/C))` and channel `2i+1` the cosine. No parameters;
 * the table grows as larger positions are asked for.
 */
export class SinusoidalEmbedding extends Module<[Tensor], Tensor> {
  private table: Tensor;

  constructor(
    readonly dim: number,
    readonly dtype: FloatDType = 'float32',
    readonly base = 10000,
  ) {
    super();
    checkSize('SinusoidalEmbedding', 'dim', dim);
    if (dim % 2 !== 0) {
      throw new RangeError(`SinusoidalEmbedding: dim must be even, got ${dim}`);
    }
    this.table = this.build(64);
  }

  private build(positions: number): Tensor {
    const C = this.dim;
    const table = Tensor.zeros([positions, C], this.dtype); // [P, C]
    for (let p = 0; p < positions; p++) {
      for (let i = 0; i < C / 2; i++) {
        const angle = p / this.base ** ((2 * i) / C);
        table.data[p * C + 2 * i] = Math.sin(angle);
        table.data[p * C + 2 * i + 1] = Math.cos(angle);
      }
    }
    return table;
  }

  /** int32 positions `[...]` to encodings `[..., C]` (no gradient: nothing to train). */
  forward(positions: Tensor): Tensor {
    let max = -1;
    for (let i = 0; i < positions.size; i++) max = Math.max(max, positions.data[i]);
    if (max >= this.table.shape[0])
      this.table = untracked(() => this.build(Math.max(2 * this.table.shape[0], max + 1)));
    return embedding(this.table, positions); // [..., C]
  }
}

export interface LayerNormOptions {
  /** Default 1e-5 (PyTorch's and GPT-2's). */
  eps?: number;
  /** Learned shift; default true. */
  bias?: boolean;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/**
 * Layer norm over the last axis, `x` `[..., C]` to `[..., C]`: gain `weight` `[C]` (ones) and
 * shift `bias` `[C]` (zeros). The output passes through `hook_normalized`.
 */
export class LayerNorm extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly hook_normalized = new HookPoint();

  constructor(
    readonly dim: number,
    options: LayerNormOptions = {},
  ) {
    super();
    checkSize('LayerNorm', 'dim', dim);
    this.eps = options.eps ?? 1e-5;
    const dtype = options.dtype;
    this.weight = this.registerParameter('weight', full([dim], 1, { dtype }));
    this.bias =
      options.bias === false ? null : this.registerParameter('bias', zeros([dim], { dtype }));
    this.registerModule('hook_normalized', this.hook_normalized);
  }

  forward(x: Tensor): Tensor {
    const y = layerNorm(x, this.weight, this.bias, this.eps); // [..., C]
    return this.hook_normalized.call(y); // [..., C]
  }
}

export interface RMSNormOptions {
  /** Default 1e-6 (LLaMA's). */
  eps?: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

/**
 * RMS norm over the last axis (Zhang and Sennrich 2019; LLaMA's norm), `x` `[..., C]` to
 * `[..., C]`, with gain `weight` `[C]` (ones). The output passes through `hook_normalized`.
 */
export class RMSNorm extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;
  readonly eps: number;
  readonly hook_normalized = new HookPoint();

  constructor(
    readonly dim: number,
    options: RMSNormOptions = {},
  ) {
    super();
    checkSize('RMSNorm', 'dim', dim);
    this.eps = options.eps ?? 1e-6;
    this.weight = this.registerParameter('weight', full([dim], 1, { dtype: options.dtype }));
    this.registerModule('hook_normalized', this.hook_normalized);
  }

  forward(x: Tensor): Tensor {
    const y = rmsNorm(x, this.weight, this.eps); // [..., C]
    return this.hook_normalized.call(y); // [..., C]
  }
}

/** The norms a transformer can use, and how each is configured. */
export type NormKind = 'layernorm' | 'rmsnorm';
export type Norm = LayerNorm | RMSNorm;

export interface NormConfig {
  kind: NormKind;
  eps: number;
  /** LayerNorm only: learned shift (default true). */
  bias?: boolean;
}

/** A `LayerNorm` or `RMSNorm` of width `dim`. */
export function makeNorm(config: NormConfig, dim: number, dtype?: FloatDType): Norm {
  return config.kind === 'layernorm'
    ? new LayerNorm(dim, { eps: config.eps, bias: config.bias, dtype })
    : new RMSNorm(dim, { eps: config.eps, dtype });
}

/**
 * Inverted dropout with probability `p`, active in training mode only. The mask is drawn from
 * `rng`; a layer with `p > 0` and no generator refuses to run in training mode.
 */
export class Dropout extends Module<[Tensor], Tensor> {
  constructor(
    readonly p: number,
    private readonly rng: Generator | null,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.rng === null) {
      throw new NotSupportedError(
        `Dropout: p = ${this.p} in training mode needs a Generator; give the model one ` +
          '(its dropoutRng or rng option) or call eval()',
      );
    }
    return dropout(x, this.p, this.rng); // same shape as x
  }
}

/** Numbered children (`blocks.0`, `blocks.1`, ...), as `nn.ModuleList`. Not callable. */
export class ModuleList<M extends Module> extends Module<[], never> {
  readonly items: readonly M[];

  constructor(items: M[]) {
    super();
    items.forEach((m, i) => {
      this.registerModule(String(i), m);
    });
    this.items = Object.freeze([...items]);
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (m === undefined) {
      throw new RangeError(`ModuleList: index ${i} is outside [0, ${this.items.length - 1}]`);
    }
    return m;
  }

  forward(): never {
    throw new NotSupportedError('ModuleList: call its items, not the list');
  }
}
