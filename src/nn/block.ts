/**
 * The transformer block: attention then feed-forward, each added to the residual stream, with
 * the norm before each sub-layer (pre-norm: GPT-2, LLaMA, ViT) or after each residual sum
 * (post-norm: the original 2017 Transformer).
 *
 *   pre:  mid = x + attn(ln1(x));         post = mid + mlp(ln2(mid))
 *   post: mid = ln1(x + attn(x));         post = ln2(mid + mlp(mid))
 *
 * Hook points, all `[B, T, C]`: `hook_resid_pre` (the block's input), `ln1.hook_normalized`,
 * `hook_attn_out` (after the output projection and dropout), `hook_resid_mid` (the stream between
 * the two sub-layers; after `ln1` when post-norm), `ln2.hook_normalized`, `hook_mlp_out`,
 * `hook_resid_post` (the block's output); and those inside `attn` and `mlp`.
 *
 * Dimension legend: B batch, T time, C model width.
 */
import { add } from '../tensor/ops/elementwise.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  type AttentionConfig,
  type AttentionContext,
  type AttentionInit,
  MultiHeadAttention,
} from './attention.js';
import { HookPoint } from './hook-point.js';
import { Dropout, makeNorm, type Norm, type NormConfig } from './layers.js';
import { FeedForward, type FeedForwardConfig } from './mlp.js';
import { Module } from './module.js';

export type NormPlacement = 'pre' | 'post';

export interface BlockConfig {
  attention: AttentionConfig;
  mlp: FeedForwardConfig;
  norm: NormConfig;
  /** Default 'pre'. */
  placement?: NormPlacement;
  /** Dropout on each sub-layer's output before the residual sum; default 0. */
  residDropout?: number;
}

export interface BlockInit extends AttentionInit {
  /** Draws the dropout masks; needed to train with `residDropout > 0`. */
  dropoutRng?: Generator | null;
}

/**
 * One transformer block, `x` `[B, T, C]` to `[B, T, C]`. Children, in checkpoint order: `ln1`,
 * `attn`, `ln2`, `mlp`, and the hook points. The attention context (key mask, rotary tables,
 * KV cache) passes through to `attn`.
 */
export class TransformerBlock extends Module<[Tensor, AttentionContext?], Tensor> {
  readonly placement: NormPlacement;
  readonly hook_resid_pre = new HookPoint();
  readonly ln1: Norm;
  readonly attn: MultiHeadAttention;
  readonly hook_attn_out = new HookPoint();
  readonly hook_resid_mid = new HookPoint();
  readonly ln2: Norm;
  readonly mlp: FeedForward;
  readonly hook_mlp_out = new HookPoint();
  readonly hook_resid_post = new HookPoint();
  private readonly dropout: Dropout;

  constructor(
    readonly config: BlockConfig,
    init: BlockInit = {},
  ) {
    super();
    const C = config.attention.dModel;
    if (config.mlp.dModel !== C) {
      throw new RangeError(
        `TransformerBlock: attention.dModel (${C}) and mlp.dModel (${config.mlp.dModel}) differ`,
      );
    }
    this.placement = config.placement ?? 'pre';
    this.registerModule('hook_resid_pre', this.hook_resid_pre);
    this.ln1 = this.registerModule('ln1', makeNorm(config.norm, C, init.dtype));
    this.attn = this.registerModule('attn', new MultiHeadAttention(config.attention, init));
    this.registerModule('hook_attn_out', this.hook_attn_out);
    this.registerModule('hook_resid_mid', this.hook_resid_mid);
    this.ln2 = this.registerModule('ln2', makeNorm(config.norm, C, init.dtype));
    this.mlp = this.registerModule('mlp', new FeedForward(config.mlp, init));
    this.registerModule('hook_mlp_out', this.hook_mlp_out);
    this.registerModule('hook_resid_post', this.hook_resid_post);
    this.dropout = this.registerModule(
      'dropout',
      new Dropout(config.residDropout ?? 0, init.dropoutRng ?? null),
    );
  }

  forward(x: Tensor, ctx: AttentionContext = {}): Tensor {
    const residPre = this.hook_resid_pre.call(x); // [B, T, C]
    if (this.placement === 'pre') {
      const attnIn = this.ln1.call(residPre); // [B, T, C]
      const attended = this.dropout.call(this.attn.call(attnIn, ctx)); // [B, T, C]
      const attnOut = this.hook_attn_out.call(attended); // [B, T, C]
      const residMid = this.hook_resid_mid.call(add(residPre, attnOut)); // [B, T, C]
      const mlpIn = this.ln2.call(residMid); // [B, T, C]
      const mlpOut = this.hook_mlp_out.call(this.dropout.call(this.mlp.call(mlpIn))); // [B, T, C]
      return this.hook_resid_post.call(add(residMid, mlpOut)); // [B, T, C]
    }
    const attended = this.dropout.call(this.attn.call(residPre, ctx)); // [B, T, C]
    const attnOut = this.hook_attn_out.call(attended); // [B, T, C]
    const residMid = this.hook_resid_mid.call(this.ln1.call(add(residPre, attnOut))); // [B, T, C]
    const mlpOut = this.hook_mlp_out.call(this.dropout.call(this.mlp.call(residMid))); // [B, T, C]
    return this.hook_resid_post.call(this.ln2.call(add(residMid, mlpOut))); // [B, T, C]
  }
}
