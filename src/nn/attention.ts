/**
 * Multi-head self-attention, as GPT-2, LLaMA and ViT use it: fused or separate q/k/v
 * projections (whichever the checkpoint has), grouped-query heads (fewer key/value heads than
 * query heads), optional rotary position embedding, a causal mask and a key padding mask, and a
 * KV cache for generation. The attention itself is the fused `scaledDotProductAttention` op.
 *
 * Hook points, named as TransformerLens names them: `hook_q` `[B, T, H, D]`, `hook_k` and
 * `hook_v` `[B, T, Hkv, D]` (before rotary), `hook_rot_q` / `hook_rot_k` (after rotary, same
 * shapes), `hook_pattern` `[B, H, T, S]` (the softmax probabilities), `hook_z` `[B, T, H, D]`
 * (the heads' outputs before the output projection). The q/k/v/z hooks cost a layout copy, and
 * only when a hook is registered on them.
 *
 * LIMITATION: no dropout on the attention probabilities (the fused op has none); models apply
 * dropout to the sub-layer outputs instead. No `hook_attn_scores` (pre-softmax scores) yet.
 *
 * Dimension legend: B batch, T new positions (queries), S key positions (cached + new),
 * C model width, H query heads, Hkv key/value heads, D head size.
 */
import { kernels } from '../backends/index.js';
import { record } from '../tensor/autograd.js';
import { allocateFloat, type FloatDType } from '../tensor/dtype.js';
import { fmtShape, NotSupportedError, ShapeError } from '../tensor/errors.js';
import { packedSelfAttention, rope, scaledDotProductAttention } from '../tensor/ops/attention.js';
import { affine, maskedFill, mul } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/matmul.js';
import { softmax } from '../tensor/ops/nn.js';
import { concat, permute, reshape } from '../tensor/ops/shape.js';
import { contiguousStrides } from '../tensor/shape.js';
import { keep } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import { HookPoint } from './hook-point.js';
import { type InitOptions, Linear, type WeightLayout } from './layers.js';
import { Module } from './module.js';

// ---- Rotary position embedding

/**
 * Linear position interpolation (HF `rope_scaling: {"rope_type": "linear", "factor": f}`):
 * every frequency divided by `factor`.
 */
export interface LinearRopeScaling {
  type: 'linear';
  factor: number;
}

/**
 * LLaMA 3's frequency-dependent scaling (HF `rope_type: "llama3"`): with wavelength
 * `w = 2 pi / f`, frequencies whose `w` is below `originalMaxPositions / highFreqFactor` are
 * kept, those whose `w` is above `originalMaxPositions / lowFreqFactor` are divided by `factor`,
 * and those between are blended linearly in `originalMaxPositions / w`.
 */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

/** Rotary position embedding (Su et al. 2021) in the rotate-half layout of GPT-NeoX and LLaMA. */
export interface RotaryConfig {
  /** The base of the frequencies, `theta^(-2i/D)`; LLaMA: 10000 (LLaMA 3: 500000). */
  theta: number;
  /** How frequencies are stretched for longer contexts; default none. */
  scaling?: LinearRopeScaling | Llama3RopeScaling | null;
}

/** Cosine and sine tables, `[T, D/2]` (positions shared by the batch) or `[B, T, D/2]`. */
export interface RotaryTables {
  cos: Tensor;
  sin: Tensor;
}

/** The scaled frequency of base frequency `f`. */
function scaleFrequency(f: number, scaling: RotaryConfig['scaling']): number {
  if (!scaling) return f;
  if (scaling.type === 'linear') return f / scaling.factor;
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
  const wavelength = (2 * Math.PI) / f;
  if (wavelength < originalMaxPositions / highFreqFactor) return f;
  if (wavelength > originalMaxPositions / lowFreqFactor) return f / factor;
  const smooth =
    (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
  return (1 - smooth) * (f / factor) + smooth * f;
}

function checkScaling(scaling: RotaryConfig['scaling']): void {
  if (!scaling) return;
  const fields: [string, number][] =
    scaling.type === 'linear'
      ? [['factor', scaling.factor]]
      : scaling.type === 'llama3'
        ? [
            ['factor', scaling.factor],
            ['lowFreqFactor', scaling.lowFreqFactor],
            ['highFreqFactor', scaling.highFreqFactor],
            ['originalMaxPositions', scaling.originalMaxPositions],
          ]
        : [];
  if (fields.length === 0) {
    throw new NotSupportedError(
      `RotaryEmbedding: scaling type '${(scaling as { type: string }).type}' is not supported ` +
        "(supported: 'linear', 'llama3')",
    );
  }
  for (const [name, v] of fields) {
    if (!(typeof v === 'number' && v > 0)) {
      throw new RangeError(`RotaryEmbedding: scaling.${name} must be positive, got ${v}`);
    }
  }
  if (scaling.type === 'llama3' && !(scaling.highFreqFactor > scaling.lowFreqFactor)) {
    throw new RangeError(
      `RotaryEmbedding: scaling.highFreqFactor (${scaling.highFreqFactor}) must exceed ` +
        `lowFreqFactor (${scaling.lowFreqFactor})`,
    );
  }
}

/**
 * Computes rotary tables for the positions of a forward pass, once per pass for all layers.
 * LIMITATION: no dynamic-NTK or YaRN scaling and no partial rotary (a rotary dimension below
 * the head size) yet. Angles are computed in float64 (HF computes them in float32, which differs
 * by about position x 6e-8 radians).
 */
export class RotaryEmbedding {
  /** The frequency of each pair, `theta^(-2i/D)` after scaling, in float64. */
  readonly invFreq: Float64Array;

  constructor(
    readonly headDim: number,
    readonly config: RotaryConfig,
  ) {
    if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
      throw new RangeError(`RotaryEmbedding: the head size must be even, got ${headDim}`);
    }
    if (!(config.theta > 0)) {
      throw new RangeError(`RotaryEmbedding: theta must be positive, got ${config.theta}`);
    }
    checkScaling(config.scaling);
    this.invFreq = Float64Array.from({ length: headDim / 2 }, (_, i) =>
      scaleFrequency(1 / config.theta ** ((2 * i) / headDim), config.scaling),
    );
  }

  /**
   * Tables for int32 `positions` `[T]` (shared by the batch) or `[B, T]` (per row, as for
   * left-padded batches), or for `offset..offset+T-1` when `positions` is a number `T`.
   */
  tables(positions: Tensor | number, dtype: FloatDType, offset = 0): RotaryTables {
    const half = this.headDim / 2;
    const shape = typeof positions === 'number' ? [positions, half] : [...positions.shape, half];
    const n = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const cos = allocateFloat(dtype, n * half);
    const sin = allocateFloat(dtype, n * half);
    for (let r = 0; r < n; r++) {
      const pos = typeof positions === 'number' ? offset + r : positions.data[r];
      for (let i = 0; i < half; i++) {
        const angle = pos * this.invFreq[i];
        cos[r * half + i] = Math.cos(angle);
        sin[r * half + i] = Math.sin(angle);
      }
    }
    return { cos: new Tensor(cos, shape), sin: new Tensor(sin, shape) };
  }
}

// ---- KV cache

/** One layer's cached keys and values `[B, Hkv, S, D]` (after rotary), extended by each pass. */
export class LayerKVCache {
  k: Tensor | null = null;
  v: Tensor | null = null;

  /** The number of positions cached. */
  get length(): number {
    return this.k?.shape[2] ?? 0;
  }
}

/** A KV cache for a whole model: one `LayerKVCache` per attention layer. */
export class KVCache {
  readonly layers: readonly LayerKVCache[];

  constructor(numLayers: number) {
    this.layers = Array.from({ length: numLayers }, () => new LayerKVCache());
  }

  /** The number of positions cached (those of layer 0). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }
}

// ---- Attention

export interface AttentionConfig {
  /** Model width C. */
  dModel: number;
  /** Query heads H. */
  nHeads: number;
  /** Key/value heads Hkv; divides H. Default H (plain multi-head attention). */
  nKvHeads?: number;
  /** Head size D; default C / H. */
  dHead?: number;
  /** One `[C, (H + 2 Hkv) D]` projection (`qkv`) or three (`q`, `k`, `v`). Default 'fused'. */
  qkv?: 'fused' | 'separate';
  /** Biases on the q/k/v projections; default true. */
  bias?: boolean;
  /** Bias on the output projection; default as `bias`. */
  outBias?: boolean;
  /** Weight layout of the projections; default 'out_in'. */
  layout?: WeightLayout;
  /** Each query sees only keys up to its own position; default true. */
  causal?: boolean;
  /** Rotary position embedding of q and k; default none. */
  rotary?: RotaryConfig | null;
  /** Score scale; default `1 / sqrt(D)`. */
  scale?: number;
}

/** What a forward pass passes to every attention layer. */
export interface AttentionContext {
  /** int32 `[B, S]` over every key (cached and new): 1 to attend, 0 for padding. */
  keyMask?: Tensor | null;
  /** Rotary tables for the new positions; computed from the cache length when absent. */
  rotary?: RotaryTables | null;
  /** This layer's cache: read, then extended with the new keys and values. */
  cache?: LayerKVCache | null;
}

export interface AttentionInit extends InitOptions {
  /** Init std of the output projection (GPT-2 scales it by `1 / sqrt(2 L)`); default `std`. */
  outStd?: number;
}

/** Strides that read head `h` of columns `start + h D ...` of `[B, T, W]` as `[B, n, T, D]`. */
function headStrides(T: number, W: number, D: number): Int32Array {
  return Int32Array.of(T * W, D, W, 1);
}

/**
 * Heads `[B, n, T, D]` from columns `start .. start + n D` of a packed projection `x`
 * `[B, T, W]`, in one strided copy (the backward copies the gradient back into those columns).
 */
export function splitHeads(x: Tensor, start: number, n: number, D: number): Tensor {
  const [B, T, W] = x.shape;
  if (x.rank !== 3 || start < 0 || start + n * D > W) {
    throw new ShapeError(
      `splitHeads: columns [${start}, ${start + n * D}) of ${x.describe()} (expected [B, T, W])`,
    );
  }
  const shape = Int32Array.of(B, n, T, D);
  const packed = { offset: start, strides: headStrides(T, W, D) };
  const dense = (t: Tensor) => ({
    data: t.data,
    offset: 0,
    strides: Int32Array.from(contiguousStrides(t.shape)),
  });
  const out = Tensor.zeros([B, n, T, D], x.dtype); // [B, n, T, D]
  kernels().copy({ data: x.data, ...packed }, dense(out), shape);
  return record(out, 'splitHeads', [x], (dy) => {
    const dx = Tensor.zeros(x.shape, x.dtype); // [B, T, W]
    kernels().copy(dense(dy), { data: dx.data, ...packed }, shape);
    return [dx];
  });
}

/** `[B, H, T, D]` to `[B, T, H, D]` and back (one copy each way). */
const swapHeadsAndTime = (x: Tensor): Tensor => permute(x, [0, 2, 1, 3]);

/**
 * Self-attention over `x` `[B, T, C]` giving `[B, T, C]`; see the file comment. Children:
 * `qkv` (fused) or `q`, `k`, `v` (separate), then `out`, and the hook points.
 */
export class MultiHeadAttention extends Module<[Tensor, AttentionContext?], Tensor> {
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly dHead: number;
  readonly causal: boolean;
  readonly scale: number;
  readonly rotary: RotaryEmbedding | null;
  readonly qkv: Linear | null = null;
  readonly q: Linear | null = null;
  readonly k: Linear | null = null;
  readonly v: Linear | null = null;
  readonly out: Linear;
  readonly hook_q = new HookPoint();
  readonly hook_k = new HookPoint();
  readonly hook_v = new HookPoint();
  readonly hook_rot_q = new HookPoint();
  readonly hook_rot_k = new HookPoint();
  readonly hook_pattern = new HookPoint();
  readonly hook_z = new HookPoint();

  constructor(
    readonly config: AttentionConfig,
    init: AttentionInit = {},
  ) {
    super();
    const C = config.dModel;
    const H = config.nHeads;
    const Hkv = config.nKvHeads ?? H;
    const D = config.dHead ?? C / H;
    if (!Number.isInteger(H) || H < 1 || !Number.isInteger(Hkv) || Hkv < 1 || H % Hkv !== 0) {
      throw new RangeError(
        `MultiHeadAttention: nKvHeads (${Hkv}) must be a positive divisor of nHeads (${H})`,
      );
    }
    if (!Number.isInteger(D) || D < 1) {
      throw new RangeError(
        `MultiHeadAttention: head size must be a positive integer; dModel ${C} / nHeads ${H} ` +
          `gives ${C / H} (set dHead or choose nHeads dividing dModel)`,
      );
    }
    this.nHeads = H;
    this.nKvHeads = Hkv;
    this.dHead = D;
    this.causal = config.causal ?? true;
    this.scale = config.scale ?? 1 / Math.sqrt(D);
    this.rotary = config.rotary ? new RotaryEmbedding(D, config.rotary) : null;
    const bias = config.bias ?? true;
    const proj = { ...init, bias, layout: config.layout };
    if ((config.qkv ?? 'fused') === 'fused') {
      this.qkv = this.registerModule('qkv', new Linear(C, (H + 2 * Hkv) * D, proj));
    } else {
      this.q = this.registerModule('q', new Linear(C, H * D, proj));
      this.k = this.registerModule('k', new Linear(C, Hkv * D, proj));
      this.v = this.registerModule('v', new Linear(C, Hkv * D, proj));
    }
    this.out = this.registerModule(
      'out',
      new Linear(H * D, C, {
        ...proj,
        bias: config.outBias ?? bias,
        std: init.outStd ?? init.std,
      }),
    );
    for (const name of [
      'hook_q',
      'hook_k',
      'hook_v',
      'hook_rot_q',
      'hook_rot_k',
      'hook_pattern',
      'hook_z',
    ] as const) {
      this.registerModule(name, this[name]);
    }
  }

  forward(x: Tensor, ctx: AttentionContext = {}): Tensor {
    const [B, T] = x.shape;
    const { nHeads: H, nKvHeads: Hkv, dHead: D } = this;
    let q: Tensor; // [B, H, T, D]
    let k: Tensor; // [B, Hkv, T, D]
    let v: Tensor; // [B, Hkv, T, D]
    if (this.qkv && this.readsPackedInPlace(ctx)) {
      // The common training path: the kernel reads the heads out of the projection in place.
      const packed = this.qkv.call(x); // [B, T, (H + 2 Hkv) D]
      const options = { causal: this.causal, keyMask: ctx.keyMask ?? null, scale: this.scale };
      return this.out.call(packedSelfAttention(packed, H, Hkv, options)); // [B, T, C]
    }
    if (this.qkv) {
      const packed = this.qkv.call(x); // [B, T, (H + 2 Hkv) D]
      q = splitHeads(packed, 0, H, D); // [B, H, T, D]
      k = splitHeads(packed, H * D, Hkv, D); // [B, Hkv, T, D]
      v = splitHeads(packed, (H + Hkv) * D, Hkv, D); // [B, Hkv, T, D]
    } else {
      q = splitHeads((this.q as Linear).call(x), 0, H, D); // [B, H, T, D]
      k = splitHeads((this.k as Linear).call(x), 0, Hkv, D); // [B, Hkv, T, D]
      v = splitHeads((this.v as Linear).call(x), 0, Hkv, D); // [B, Hkv, T, D]
    }
    q = this.hookHeads(this.hook_q, q); // [B, H, T, D]
    k = this.hookHeads(this.hook_k, k); // [B, Hkv, T, D]
    v = this.hookHeads(this.hook_v, v); // [B, Hkv, T, D]
    const cache = ctx.cache ?? null;
    if (this.rotary) {
      const tables = ctx.rotary ?? this.rotary.tables(T, q.dtype as FloatDType, cache?.length);
      q = this.hookHeads(this.hook_rot_q, rope(q, tables.cos, tables.sin)); // [B, H, T, D]
      k = this.hookHeads(this.hook_rot_k, rope(k, tables.cos, tables.sin)); // [B, Hkv, T, D]
    }
    if (cache) {
      if (cache.k && cache.v) {
        if (cache.k.shape[0] !== B) {
          throw new ShapeError(
            `MultiHeadAttention: the KV cache holds batch ${cache.k.shape[0]}, input is ${B}`,
          );
        }
        // LIMITATION: the cache grows by concatenation, copying the S cached positions at each
        // step (as much memory traffic as the attention itself); no preallocated ring buffer yet.
        k = concat([cache.k, k], 2); // [B, Hkv, S, D]
        v = concat([cache.v, v], 2); // [B, Hkv, S, D]
      }
      cache.k = keep(k);
      cache.v = keep(v);
    }
    const keyMask = ctx.keyMask ?? null;
    const z = this.hook_pattern.active
      ? this.attendUnfused(q, k, v, keyMask) // [B, H, T, D]
      : this.attendFused(q, k, v, keyMask); // [B, H, T, D]
    let zt = swapHeadsAndTime(z); // [B, T, H, D]
    if (this.hook_z.active) zt = this.hook_z.call(zt); // [B, T, H, D]
    return this.out.call(reshape(zt, [B, T, H * D])); // [B, T, C]
  }

  /**
   * Whether the packed path applies: no rotary (it rewrites q and k), no KV cache (it keeps k and
   * v apart), and no hook that wants to see heads, the pattern or the per-head outputs.
   */
  private readsPackedInPlace(ctx: AttentionContext): boolean {
    const hooks = [this.hook_q, this.hook_k, this.hook_v, this.hook_pattern, this.hook_z];
    return !this.rotary && !ctx.cache && !hooks.some((h) => h.active);
  }

  /** The fused attention op: `[B, H, T, D]`. */
  private attendFused(q: Tensor, k: Tensor, v: Tensor, keyMask: Tensor | null): Tensor {
    const options = { causal: this.causal, keyMask, scale: this.scale };
    return scaledDotProductAttention(q, k, v, options).out; // [B, H, T, D]
  }

  /** Passes heads `[B, n, T, D]` through `hook` as `[B, T, n, D]` when a hook is registered. */
  private hookHeads(hook: HookPoint, heads: Tensor): Tensor {
    if (!hook.active) return heads;
    return swapHeadsAndTime(hook.call(swapHeadsAndTime(heads))); // [B, n, T, D]
  }

  /**
   * Attention written out (scores, mask, softmax, weighted sum), used when `hook_pattern` has a
   * hook so that the pattern it sees or replaces carries gradients. Matches the fused op: a
   * query with no visible key gets an all-zero pattern row.
   */
  private attendUnfused(q: Tensor, k: Tensor, v: Tensor, keyMask: Tensor | null): Tensor {
    const [B, H, T, D] = q.shape;
    const [, Hkv, S] = k.shape;
    const G = H / Hkv;
    // Query head h = hk G + g reads key head hk: grouping the G heads into rows needs no copy.
    const grouped = reshape(q, [B, Hkv, G * T, D]); // [B, Hkv, G T, D]
    const raw = matmul(grouped, k, { transB: true }); // [B, Hkv, G T, S]
    let scores = reshape(affine(raw, this.scale), [B, H, T, S]); // [B, H, T, S]
    const masks = this.visibility(B, T, S, keyMask);
    if (masks) scores = maskedFill(scores, masks.hidden, -1e30); // [B, H, T, S]
    let probs = softmax(scores, -1); // [B, H, T, S]
    if (masks?.anyVisible) probs = mul(probs, masks.anyVisible); // [B, H, T, S]
    const pattern = this.hook_pattern.call(probs); // [B, H, T, S]
    if (pattern.rank !== 4 || pattern.shape.some((d, i) => d !== probs.shape[i])) {
      throw new ShapeError(
        `hook_pattern: a hook returned ${fmtShape(pattern.shape)}, expected ` +
          fmtShape(probs.shape),
      );
    }
    const weighted = matmul(reshape(pattern, [B, Hkv, G * T, S]), v); // [B, Hkv, G T, D]
    return reshape(weighted, [B, H, T, D]); // [B, H, T, D]
  }

  /**
   * int32 `hidden` `[B, 1, T, S]` (1 where query t may not see key s) and, when some query sees
   * no key at all, a float `anyVisible` `[B, 1, T, 1]`; null when every key is visible.
   */
  private visibility(
    B: number,
    T: number,
    S: number,
    keyMask: Tensor | null,
  ): { hidden: Tensor; anyVisible: Tensor | null } | null {
    if (!this.causal && !keyMask) return null;
    if (
      keyMask &&
      (keyMask.dtype !== 'int32' ||
        keyMask.rank !== 2 ||
        keyMask.shape[0] !== B ||
        keyMask.shape[1] !== S)
    ) {
      throw new ShapeError(
        `MultiHeadAttention: keyMask must be int32 [${B}, ${S}], got ${keyMask.describe()}`,
      );
    }
    const hidden = Tensor.zeros([B, 1, T, S], 'int32'); // [B, 1, T, S]
    const rows = new Float64Array(B * T);
    let blind = false;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        let seen = 0;
        for (let s = 0; s < S; s++) {
          const future = this.causal && s > t + S - T;
          const padded = keyMask !== null && keyMask.data[b * S + s] === 0;
          if (future || padded) hidden.data[(b * T + t) * S + s] = 1;
          else seen++;
        }
        rows[b * T + t] = seen > 0 ? 1 : 0;
        if (seen === 0) blind = true;
      }
    }
    if (!blind) return { hidden, anyVisible: null };
    const anyVisible = Tensor.zeros([B, 1, T, 1], this.dtypeOfWeights()); // [B, 1, T, 1]
    anyVisible.data.set(rows);
    return { hidden, anyVisible };
  }

  private dtypeOfWeights(): FloatDType {
    return this.out.weight.dtype as FloatDType;
  }
}
