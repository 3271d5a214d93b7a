/**
 * Fused scaled dot-product attention and rotary position embedding.
 *
 * Dimension legend: B batch, H query heads, Hkv key/value heads, T queries, S keys, D head size.
 */
import { kernels } from '../../backends/index.js';
import type { AttentionView, FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import {
  allocateFloat,
  allocateFloatUninitialized,
  assertFloat,
  type FloatDType,
} from '../dtype.js';
import { DTypeError, fmtShape, ShapeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { Tensor } from '../tensor.js';

export interface AttentionOptions {
  /** Query `t` sees keys up to its own position (queries are the last T of the S positions). */
  causal?: boolean;
  /** int32 `[B, S]`: 1 for keys to attend to, 0 for padding. */
  keyMask?: Tensor | null;
  /** Defaults to `1 / sqrt(D)`. */
  scale?: number;
}

export interface AttentionResult {
  /** `[B, H, T, D]` */
  out: Tensor;
  /** The attention pattern `[B, H, T, S]`, without gradient (read it, do not train through it). */
  probs: Tensor;
}

/** Largest attention pattern kept for backward, in elements (a typed array's limit). */
const MAX_PATTERN = 2 ** 31 - 1;

/** The saved pattern is `[B, H, T, S]`: refuse sizes no typed array can hold, saying why. */
function checkPatternSize(
  op: string,
  B: number,
  H: number,
  T: number,
  S: number,
  dtype: FloatDType,
) {
  const n = B * H * T * S;
  if (n <= MAX_PATTERN) return;
  const gib = (n * (dtype === 'float32' ? 4 : 8)) / 2 ** 30;
  throw new RangeError(
    `${op}: the attention pattern [B, H, T, S] = [${B}, ${H}, ${T}, ${S}] would need ` +
      `${gib.toFixed(0)} GiB (${n} elements, over the ${MAX_PATTERN} one array can hold); ` +
      'use a shorter context or a smaller batch',
  );
}

function dense(t: Tensor): AttentionView {
  const [, H, T, D] = t.shape;
  return { data: t.data as FloatArray, offset: 0, strideB: H * T * D, strideH: T * D, strideT: D };
}

/**
 * Attention `softmax(q k^T * scale + mask) v` in one kernel, with grouped-query heads when
 * `k` and `v` have fewer heads than `q`. Counts `4·B·H·T·S·D` FLOPs for the two products and
 * `5·B·H·T·S` for the softmax forward; `8·B·H·T·S·D + 4·B·H·T·S` backward. Every
 * (query, key) pair is counted, masked or not.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    assertFloat(`attention (${name})`, t.dtype);
    if (t.rank !== 4)
      throw new ShapeError(`attention: ${name} must be [B, H, T, D], got ${t.describe()}`);
    if (t.dtype !== q.dtype)
      throw new DTypeError(`attention: ${name} is ${t.dtype}, q is ${q.dtype}`);
  }
  const [B, H, T, D] = q.shape;
  const [Bk, Hkv, S, Dk] = k.shape;
  const shapesAgree =
    Bk === B && Dk === D && k.shape.every((d, i) => d === v.shape[i]) && H % Hkv === 0;
  if (!shapesAgree) {
    throw new ShapeError(
      `attention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not ` +
        'agree (expected k and v [B, Hkv, S, D] with H divisible by Hkv)',
    );
  }
  const mask = options.keyMask ?? null;
  if (
    mask &&
    (mask.dtype !== 'int32' || mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== S)
  ) {
    throw new ShapeError(`attention: keyMask must be int32 [${B}, ${S}], got ${mask.describe()}`);
  }
  const dtype = q.dtype as FloatDType;
  checkPatternSize('attention', B, H, T, S, dtype);
  const out = Tensor.empty([B, H, T, D], dtype);
  const probs = new Tensor(allocateFloatUninitialized(dtype, B * H * T * S), [B, H, T, S]);
  const args = {
    q: dense(q),
    k: dense(k),
    v: dense(v),
    out: dense(out),
    probs: probs.data as FloatArray,
    B,
    H,
    Hkv,
    T,
    S,
    D,
    scale: options.scale ?? 1 / Math.sqrt(D),
    causal: options.causal ?? false,
    keyMask: (mask?.data ?? null) as Int32Array | null,
  };
  kernels().attention(args);
  countFlops(4 * B * H * T * S * D + 5 * B * H * T * S);
  record(out, 'attention', [q, k, v], (dy) => {
    const dq = Tensor.empty(q.shape, dtype);
    const dk = Tensor.empty(k.shape, dtype);
    const dv = Tensor.empty(v.shape, dtype);
    kernels().attentionBackward({
      ...args,
      dout: dense(dy),
      dq: dense(dq),
      dk: dense(dk),
      dv: dense(dv),
    });
    countFlops(8 * B * H * T * S * D + 4 * B * H * T * S);
    return [dq, dk, dv];
  });
  return { out, probs };
}

/**
 * Self-attention straight from a packed projection `qkv` `[B, T, (H + 2 Hkv) D]` (queries, then
 * keys, then values, each head's D columns together, as one fused linear layer produces them),
 * giving `[B, T, H D]` ready for the output projection. The kernel reads the heads in place
 * through strides, so neither the split into heads nor the merge back is copied. Same FLOPs as
 * `scaledDotProductAttention`.
 */
export function packedSelfAttention(
  qkv: Tensor,
  H: number,
  Hkv: number,
  options: AttentionOptions = {},
): Tensor {
  assertFloat('packedSelfAttention', qkv.dtype);
  const [B, T, W] = qkv.shape;
  const D = W / (H + 2 * Hkv);
  if (qkv.rank !== 3 || !Number.isInteger(D) || H % Hkv !== 0) {
    throw new ShapeError(
      `packedSelfAttention: qkv must be [B, T, (H + 2 Hkv) D] with H divisible by Hkv; got ` +
        `${qkv.describe()} for H = ${H}, Hkv = ${Hkv}`,
    );
  }
  const mask = options.keyMask ?? null;
  if (
    mask &&
    (mask.dtype !== 'int32' || mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== T)
  ) {
    throw new ShapeError(
      `packedSelfAttention: keyMask must be int32 [${B}, ${T}], got ${mask.describe()}`,
    );
  }
  const dtype = qkv.dtype as FloatDType;
  checkPatternSize('packedSelfAttention', B, H, T, T, dtype);
  const view = (t: Tensor, offset: number): AttentionView => ({
    data: t.data as FloatArray,
    offset,
    strideB: T * W,
    strideH: D,
    strideT: W,
  });
  const out = Tensor.empty([B, T, H * D], dtype);
  const outView = (t: Tensor): AttentionView => ({
    data: t.data as FloatArray,
    offset: 0,
    strideB: T * H * D,
    strideH: D,
    strideT: H * D,
  });
  const args = {
    q: view(qkv, 0),
    k: view(qkv, H * D),
    v: view(qkv, (H + Hkv) * D),
    out: outView(out),
    probs: allocateFloatUninitialized(dtype, B * H * T * T),
    B,
    H,
    Hkv,
    T,
    S: T,
    D,
    scale: options.scale ?? 1 / Math.sqrt(D),
    causal: options.causal ?? false,
    keyMask: (mask?.data ?? null) as Int32Array | null,
  };
  kernels().attention(args);
  countFlops(4 * B * H * T * T * D + 5 * B * H * T * T);
  return record(out, 'packedSelfAttention', [qkv], (dy) => {
    const dqkv = Tensor.empty(qkv.shape, dtype);
    kernels().attentionBackward({
      ...args,
      dout: outView(dy),
      dq: view(dqkv, 0),
      dk: view(dqkv, H * D),
      dv: view(dqkv, (H + Hkv) * D),
    });
    countFlops(8 * B * H * T * T * D + 4 * B * H * T * T);
    return [dqkv];
  });
}

/**
 * Cosine and sine tables `[T, D/2]` for rotary embedding at positions `offset..offset+T-1`:
 * angle `pos * theta^(-2i/D)`, as LLaMA and GPT-NeoX compute it.
 */
export function ropeTables(
  T: number,
  D: number,
  theta = 10000,
  offset = 0,
  dtype: FloatDType = 'float32',
): { cos: Tensor; sin: Tensor } {
  if (D % 2 !== 0) throw new ShapeError(`ropeTables: head size ${D} must be even`);
  const half = D / 2;
  const cos = allocateFloat(dtype, T * half);
  const sin = allocateFloat(dtype, T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (offset + t) * theta ** ((-2 * i) / D);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos: new Tensor(cos, [T, half]), sin: new Tensor(sin, [T, half]) };
}

/**
 * Rotates pairs `(d, d + D/2)` of `x` `[B, H, T, D]` by the angles in `cos`/`sin` (`[T, D/2]`, or
 * `[B, T, D/2]` for per-sequence positions). Counts 6 FLOPs per pair.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  assertFloat('rope', x.dtype);
  if (x.rank !== 4 || x.shape[3] % 2 !== 0) {
    throw new ShapeError(`rope: x must be [B, H, T, D] with even D, got ${x.describe()}`);
  }
  const [B, H, T, D] = x.shape;
  const perBatch = cos.rank === 3;
  const expected = perBatch ? [B, T, D / 2] : [T, D / 2];
  const fits = (t: Tensor) =>
    t.rank === expected.length && t.shape.every((d, i) => d === expected[i]);
  if (!fits(cos) || !fits(sin) || cos.dtype !== x.dtype || sin.dtype !== x.dtype) {
    throw new ShapeError(
      `rope: cos/sin must be ${x.dtype} ${fmtShape(expected)} for x ${fmtShape(x.shape)}, ` +
        `got ${cos.describe()} and ${sin.describe()}`,
    );
  }
  const apply = (src: Tensor, inverse: boolean) => {
    const out = Tensor.zeros(src.shape, src.dtype);
    kernels().rope(
      src.data as FloatArray,
      cos.data as FloatArray,
      sin.data as FloatArray,
      B,
      H,
      T,
      D,
      perBatch,
      inverse,
      out.data as FloatArray,
    );
    countFlops(3 * src.size);
    return out;
  };
  const out = apply(x, false);
  return record(out, 'rope', [x], (dy) => [apply(dy, true)]);
}
