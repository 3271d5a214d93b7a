/**
 * The multilayer perceptron: dense layers with an activation between them, `[N, I]` to `[N, O]`
 * (the last layer has no activation: it gives logits or regression outputs).
 *
 * Hook points: `layers.{i}.hook_pre` (each layer's affine output) and `layers.{i}.hook_post`
 * (after its activation; for the last layer the same as `hook_pre`), `[N, width]`.
 * State-dict names: `layers.{i}.weight` `[out, in]` and `layers.{i}.bias` `[out]`, PyTorch's
 * layout. Initialisation (with `rng`): normal with std `1 / sqrt(in)` (LeCun), biases zero.
 *
 * Dimension legend: N samples (any leading dimensions), I inputs, O outputs.
 */

import { HookPoint } from '../nn/hook-point.js';
import { Dropout, Linear, ModuleList } from '../nn/layers.js';
import { type Activation, activate } from '../nn/mlp.js';
import { Module } from '../nn/module.js';
import type { FloatDType } from '../tensor/dtype.js';
import { tanh } from '../tensor/ops/elementwise.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConfigError } from './transformer.js';

export interface MLPConfig {
  /** Widths from input to output: `[I, hidden..., O]`, at least two entries. */
  sizes: readonly number[];
  /** Between layers; default 'relu'. */
  activation?: Activation | 'tanh';
  /** Default true. */
  bias?: boolean;
  /** Dropout after each hidden activation; default 0. */
  dropout?: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

export type ResolvedMLPConfig = Readonly<Required<MLPConfig>>;

const ACTIVATIONS = ['relu', 'gelu', 'gelu_tanh', 'silu', 'tanh'];
const FIELDS = ['sizes', 'activation', 'bias', 'dropout', 'dtype'];

/** Fills defaults, checks every field (errors name it) and freezes. */
export function resolveMLPConfig(input: MLPConfig): ResolvedMLPConfig {
  for (const key of Object.keys(input)) {
    if (!FIELDS.includes(key)) {
      throw new ConfigError(key, `MLPConfig: unknown field '${key}' (known: ${FIELDS.join(', ')})`);
    }
  }
  const c = {
    activation: 'relu' as const,
    bias: true,
    dropout: 0,
    dtype: 'float32' as const,
    ...input,
  };
  const { sizes } = c;
  if (
    !Array.isArray(sizes) ||
    sizes.length < 2 ||
    sizes.some((d) => !Number.isInteger(d) || d < 1)
  ) {
    throw new ConfigError(
      'sizes',
      'MLPConfig.sizes: must be at least two positive integers [in, ..., out], got ' +
        JSON.stringify(sizes),
    );
  }
  if (!ACTIVATIONS.includes(c.activation)) {
    throw new ConfigError(
      'activation',
      `MLPConfig.activation: must be one of ${ACTIVATIONS.join(', ')}, got ${c.activation}`,
    );
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) {
    throw new ConfigError('dropout', `MLPConfig.dropout: must be in [0, 1), got ${c.dropout}`);
  }
  return Object.freeze({ ...c, sizes: Object.freeze([...sizes]) });
}

/** A dense layer with hook points on its affine output and its activation. */
export class DenseLayer extends Linear {
  readonly hook_pre = new HookPoint();
  readonly hook_post = new HookPoint();

  constructor(
    inFeatures: number,
    outFeatures: number,
    readonly activation: Activation | 'tanh' | null,
    options: ConstructorParameters<typeof Linear>[2],
  ) {
    super(inFeatures, outFeatures, options);
    this.registerModule('hook_pre', this.hook_pre);
    this.registerModule('hook_post', this.hook_post);
  }

  override forward(x: Tensor): Tensor {
    const pre = this.hook_pre.call(super.forward(x)); // [N, out]
    if (this.activation === null) return this.hook_post.call(pre); // [N, out]
    const act = this.activation === 'tanh' ? tanh(pre) : activate(pre, this.activation);
    return this.hook_post.call(act); // [N, out]
  }
}

/** The MLP; see the file comment. */
export class MLP extends Module<[Tensor], Tensor> {
  readonly config: ResolvedMLPConfig;
  readonly layers: ModuleList<DenseLayer>;
  private readonly dropout: Dropout;

  constructor(config: MLPConfig, init: { rng?: Generator; dropoutRng?: Generator } = {}) {
    super();
    const c = resolveMLPConfig(config);
    this.config = c;
    const last = c.sizes.length - 2;
    const layers = c.sizes.slice(1).map(
      (out, i) =>
        new DenseLayer(c.sizes[i], out, i === last ? null : c.activation, {
          rng: init.rng,
          bias: c.bias,
          dtype: c.dtype,
        }),
    );
    this.layers = this.registerModule('layers', new ModuleList(layers));
    const dropoutRng = init.dropoutRng ?? init.rng?.fork('dropout') ?? null;
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout, dropoutRng));
  }

  /** `x` `[N, I]` to `[N, O]`. */
  forward(x: Tensor): Tensor {
    let h = x; // [N, I]
    const last = this.layers.length - 1;
    this.layers.items.forEach((layer, i) => {
      h = layer.call(h); // [N, width_i]
      if (i < last) h = this.dropout.call(h); // [N, width_i]
    });
    return h; // [N, O]
  }
}
