/**
 * The transformer's position-wise feed-forward layer, in its two forms:
 *
 * - plain: `down(act(up(x)))`, GPT-2's `c_fc` / `c_proj` with GELU, or ReLU;
 * - gated (SwiGLU, Shazeer 2020; LLaMA): `down(act(gate(x)) * up(x))` with SiLU.
 *
 * Hook points, named as TransformerLens names them: `hook_pre` (the pre-activation: `up(x)`, or
 * `gate(x)` when gated), `hook_pre_linear` (gated only: `up(x)`), `hook_post` (the hidden
 * activation entering `down`), all `[..., F]`.
 *
 * Dimension legend: N any leading dimensions (B, T), C model width, F hidden width.
 */
import { gelu, mul, relu, silu } from '../tensor/ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { HookPoint } from './hook-point.js';
import { type InitOptions, Linear, type WeightLayout } from './layers.js';
import { Module } from './module.js';

/** `gelu` is the exact erf form; `gelu_tanh` GPT-2's tanh approximation (HF's `gelu_new`). */
export type Activation = 'relu' | 'gelu' | 'gelu_tanh' | 'silu';

/** Applies `activation` elementwise. */
export function activate(x: Tensor, activation: Activation): Tensor {
  switch (activation) {
    case 'relu':
      return relu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_tanh':
      return gelu(x, 'tanh');
    case 'silu':
      return silu(x);
  }
}

export interface FeedForwardConfig {
  /** Model width C. */
  dModel: number;
  /** Hidden width F (GPT-2: 4 C; LLaMA: its `intermediate_size`). */
  dHidden: number;
  activation: Activation;
  /** Gated (SwiGLU with `silu`): adds the `gate` projection. Default false. */
  gated?: boolean;
  /** Biases on the projections; default true. */
  bias?: boolean;
  /** Weight layout of the projections; default 'out_in'. */
  layout?: WeightLayout;
}

export interface FeedForwardInit extends InitOptions {
  /** Init std of `down` (GPT-2 scales it by `1 / sqrt(2 L)`); default `std`. */
  outStd?: number;
}

/**
 * `x` `[..., C]` to `[..., C]`; see the file comment. Children: `gate` (gated only), `up`,
 * `down`, and the hook points.
 */
export class FeedForward extends Module<[Tensor], Tensor> {
  readonly gate: Linear | null = null;
  readonly up: Linear;
  readonly down: Linear;
  readonly hook_pre = new HookPoint();
  readonly hook_pre_linear: HookPoint | null = null;
  readonly hook_post = new HookPoint();

  constructor(
    readonly config: FeedForwardConfig,
    init: FeedForwardInit = {},
  ) {
    super();
    const { dModel: C, dHidden: F } = config;
    const proj = { ...init, bias: config.bias ?? true, layout: config.layout };
    if (config.gated) this.gate = this.registerModule('gate', new Linear(C, F, proj));
    this.up = this.registerModule('up', new Linear(C, F, proj));
    this.down = this.registerModule(
      'down',
      new Linear(F, C, { ...proj, std: init.outStd ?? init.std }),
    );
    this.registerModule('hook_pre', this.hook_pre);
    if (config.gated) {
      this.hook_pre_linear = this.registerModule('hook_pre_linear', new HookPoint());
    }
    this.registerModule('hook_post', this.hook_post);
  }

  forward(x: Tensor): Tensor {
    const act = this.config.activation;
    let hidden: Tensor; // [..., F]
    if (this.gate && this.hook_pre_linear) {
      const gate = this.hook_pre.call(this.gate.call(x)); // [..., F]
      const linear = this.hook_pre_linear.call(this.up.call(x)); // [..., F]
      hidden = mul(activate(gate, act), linear); // [..., F]
    } else {
      hidden = activate(this.hook_pre.call(this.up.call(x)), act); // [..., F]
    }
    return this.down.call(this.hook_post.call(hidden)); // [..., C]
  }
}
