/**
 * The LSTM layer as one autograd op: the input projection of every time step in one matrix
 * product, then per step one recurrent GEMM and one fused gate kernel, in time-major buffers;
 * its own backward through time, with the weight gradients as one GEMM each. Gate order and weight
 * layout are PyTorch's (`weight_ih_l0` `[4H, I]`, gates i, f, g, o), so `torch.nn.LSTM` weights
 * load as they are.
 *
 * Dimension legend: B batch, T time, I input size, H hidden size.
 */
import { kernels } from '../../backends/index.js';
import type { FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { allocateFloat, assertFloat, type FloatDType } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { untracked } from '../storage.js';
import { Tensor } from '../tensor.js';

/**
 * One step from pre-activation `gates` `[B, 4H]` and the previous cell `cPrev` `[B, H]`; returns
 * `[h, c]` stacked as `[2, B, H]`. Counts 12 FLOPs per hidden unit forward (4 activations, the
 * cell update, tanh and the output gate), 18 backward.
 */
export function lstmCell(gates: Tensor, cPrev: Tensor): Tensor {
  assertFloat('lstmCell', gates.dtype);
  const [B, H4] = gates.shape;
  const H = H4 / 4;
  if (
    gates.rank !== 2 ||
    H4 % 4 !== 0 ||
    cPrev.rank !== 2 ||
    cPrev.shape[0] !== B ||
    cPrev.shape[1] !== H
  ) {
    throw new ShapeError(
      `lstmCell: gates must be [B, 4H] and the cell [B, H]; ` +
        `got ${gates.describe()} and ${cPrev.describe()}`,
    );
  }
  const dtype = gates.dtype as FloatDType;
  const state = Tensor.zeros([2, B, H], dtype);
  const h = (state.data as FloatArray).subarray(0, B * H);
  const c = (state.data as FloatArray).subarray(B * H);
  const act = allocateFloat(dtype, B * H4);
  kernels().lstmCell(gates.data as FloatArray, cPrev.data as FloatArray, B, H, h, c, act);
  countFlops(12 * B * H);
  return record(state, 'lstmCell', [gates, cPrev], (dy) => {
    const dgates = Tensor.zeros(gates.shape, dtype);
    const dcPrev = Tensor.zeros(cPrev.shape, dtype);
    const d = dy.data as FloatArray;
    kernels().lstmCellBackward(
      act,
      cPrev.data as FloatArray,
      c,
      d.subarray(0, B * H),
      d.subarray(B * H),
      B,
      H,
      dgates.data as FloatArray,
      dcPrev.data as FloatArray,
    );
    countFlops(18 * B * H);
    return [dgates, dcPrev];
  });
}

export interface LstmWeights {
  /** `[4H, I]` */
  weightIh: Tensor;
  /** `[4H, H]` */
  weightHh: Tensor;
  /** `[4H]` */
  biasIh?: Tensor | null;
  /** `[4H]` */
  biasHh?: Tensor | null;
}

export interface LstmResult {
  /** Hidden state at every step, `[B, T, H]`. */
  output: Tensor;
  /** Final hidden state `[B, H]`. */
  h: Tensor;
  /** Final cell state `[B, H]`. */
  c: Tensor;
}

const ZERO = new Int32Array([0]);

/**
 * Scratch memory for temporaries that never leave one call (the time-major copies of x and h, the
 * hidden-state gradients): a few slots per dtype, grown on demand and reused by every later call,
 * so a training step does not leave megabytes of garbage per layer for the collector. They keep
 * the largest size seen (a few `[T, B, max(I, H)]` arrays) for the life of the process.
 */
const scratchSlots: Record<FloatDType, FloatArray[]> = { float32: [], float64: [] };

function scratch(dtype: FloatDType, slot: number, n: number): FloatArray {
  const slots = scratchSlots[dtype];
  // Untracked: a slot outlives every tensorScope, so no scope may hand its memory to another.
  if ((slots[slot]?.length ?? -1) < n) slots[slot] = untracked(() => allocateFloat(dtype, n));
  return slots[slot].subarray(0, n);
}

/** Scratch slots (at most one live temporary per slot at a time). */
const X_T = 0; // x time-major [T, B, I], then dx time-major
const H_T = 1; // h time-major [T + 1, B, H] with h0 first
const DH_T = 2; // dL/dh time-major [T, B, H]

/** One dense GEMM `out (+)= op(a) @ op(b)`, `a` read from element `aOffset`. */
function gemm(
  a: FloatArray,
  b: FloatArray,
  out: FloatArray,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  accumulate: boolean,
  aOffset = 0,
): void {
  kernels().matmul({
    a,
    b,
    out,
    batch: 1,
    M,
    N,
    K,
    transA,
    transB,
    aOffsets: aOffset === 0 ? ZERO : new Int32Array([aOffset]),
    bOffsets: ZERO,
    accumulate,
  });
}

/**
 * The part of the packed `core` from element `offset`, shaped `shape`: a view that shares its
 * memory (no copy); its backward places `dy` in a zero gradient of the whole.
 */
function part(core: Tensor, offset: number, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Tensor(core.data.subarray(offset, offset + n), shape);
  return record(out, 'lstmPart', [core], (dy) => {
    const g = Tensor.zeros(core.shape, core.dtype);
    g.data.set(dy.data, offset);
    return [g];
  });
}

/** Copies `[P, Q, R]` dense `src` into `[Q, P, R]` dense `dst` (swaps the two leading axes). */
function swapLeading(src: FloatArray, dst: FloatArray, P: number, Q: number, R: number): void {
  kernels().copy(
    { data: src, offset: 0, strides: new Int32Array([Q * R, R, 1]) },
    { data: dst, offset: 0, strides: new Int32Array([R, P * R, 1]) },
    new Int32Array([P, Q, R]),
  );
}

function checkState(name: string, t: Tensor | null | undefined, B: number, H: number, x: Tensor) {
  if (!t) return;
  if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== H || t.dtype !== x.dtype) {
    throw new ShapeError(`lstm: ${name} must be [${B}, ${H}] ${x.dtype}; got ${t.describe()}`);
  }
}

/**
 * Runs one LSTM layer over `x` `[B, T, I]` from `h0`, `c0` `[B, H]` (zeros when omitted).
 *
 * One autograd op with its own forward and backward through time, calling the kernels directly:
 * the input projection of all steps is one GEMM into a time-major gates buffer `[T, B, 4H]` (bias
 * pre-filled); each step adds `h_{t-1} @ W_hh^T` into its contiguous block and runs the gate
 * kernel. The backward walks time in reverse carrying `dh`/`dc`, then computes `dW_hh`, `dW_ih`,
 * `dx` as one GEMM each over all steps. FLOPs are counted exactly as the per-step composite
 * (`linear`, then per step `matmul`, `add`, `lstmCell`) counts them.
 */
export function lstm(
  x: Tensor,
  weights: LstmWeights,
  h0?: Tensor | null,
  c0?: Tensor | null,
): LstmResult {
  const { weightIh, weightHh } = weights;
  const biasIh = weights.biasIh ?? null;
  const biasHh = weights.biasHh ?? null;
  const H = weightHh.shape[1];
  if (
    x.rank !== 3 ||
    weightIh.rank !== 2 ||
    weightIh.shape[0] !== 4 * H ||
    weightIh.shape[1] !== x.shape[2] ||
    weightHh.rank !== 2 ||
    weightHh.shape[0] !== 4 * H
  ) {
    throw new ShapeError(
      `lstm: input ${x.describe()} must be [B, T, I] with weight_ih [4H, I]; got weight_ih ` +
        `${weightIh.describe()} and weight_hh ${weightHh.describe()}`,
    );
  }
  assertFloat('lstm', x.dtype);
  const dtype = x.dtype as FloatDType;
  for (const [name, t] of [
    ['weight_ih', weightIh],
    ['weight_hh', weightHh],
    ['bias_ih', biasIh],
    ['bias_hh', biasHh],
  ] as const) {
    if (t && t.dtype !== dtype) {
      throw new DTypeError(`lstm: ${name} ${t.describe()} differs in dtype from ${x.describe()}`);
    }
  }
  for (const [name, t] of [
    ['bias_ih', biasIh],
    ['bias_hh', biasHh],
  ] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== 4 * H)) {
      throw new ShapeError(`lstm: ${name} must be [${4 * H}]; got ${t.describe()}`);
    }
  }
  const [B, T, I] = x.shape;
  checkState('h0', h0, B, H, x);
  checkState('c0', c0, B, H, x);
  const G = 4 * H; // gates per row
  const BH = B * H;
  const BG = B * G;
  const rows = T * B;
  const hasBias = biasIh !== null || biasHh !== null;

  // FLOPs of the forward composite: bias_ih + bias_hh, the input GEMM, its bias add, then per
  // step the recurrent GEMM, the add of the two gate halves and the cell.
  countFlops(
    (biasIh && biasHh ? G : 0) +
      2 * rows * G * I +
      (hasBias ? rows * G : 0) +
      T * (2 * B * G * H + BG + 12 * BH),
  );

  const k = kernels();
  const wih = weightIh.data as FloatArray;
  const whh = weightHh.data as FloatArray;

  // Time-major states: hs[0] = h0, hs[t + 1] = h_t (scratch: the backward pass rebuilds it from
  // the output); cs likewise (saved).
  const hs = scratch(dtype, H_T, (T + 1) * BH);
  if (h0) hs.set(h0.data as FloatArray, 0);
  else hs.fill(0, 0, BH);
  const cs = allocateFloat(dtype, (T + 1) * BH);
  if (c0) cs.set(c0.data as FloatArray);
  // [T, B, 4H]: the pre-activations, overwritten step by step with the activated gates (which the
  // backward pass overwrites in turn with the gate gradients).
  const act = allocateFloat(dtype, rows * G);
  /** Bias and input projection of all steps into `act`. */
  const inputGates = (): void => {
    if (hasBias && rows > 0) {
      const bias = act.subarray(0, G);
      if (biasIh) bias.set(biasIh.data as FloatArray);
      if (biasHh) {
        const bh = biasHh.data as FloatArray;
        for (let j = 0; j < G; j++) bias[j] = (biasIh ? bias[j] : 0) + bh[j];
      }
      // Doubling copies: log2(rows) calls rather than one per row.
      for (let done = 1; done < rows; done *= 2) {
        act.copyWithin(done * G, 0, Math.min(done, rows - done) * G);
      }
    }
    if (rows > 0 && I > 0) {
      const xt = scratch(dtype, X_T, rows * I); // [T, B, I]
      swapLeading(x.data as FloatArray, xt, B, T, I);
      gemm(xt, wih, act, rows, G, I, false, true, hasBias);
    } else if (!hasBias) {
      act.fill(0);
    }
  };
  inputGates();
  for (let t = 0; t < T; t++) {
    const gates = act.subarray(t * BG, (t + 1) * BG);
    if (t > 0 || h0) gemm(hs, whh, gates, B, G, H, false, true, true, t * BH);
    const cPrev = cs.subarray(t * BH, (t + 1) * BH);
    const hOut = hs.subarray((t + 1) * BH, (t + 2) * BH);
    k.lstmCell(gates, cPrev, B, H, hOut, cs.subarray((t + 1) * BH, (t + 2) * BH), gates);
  }
  // One recorded tensor: the output [B, T, H], the final h [B, H], the final c [B, H].
  const TBH = T * BH;
  const packed = allocateFloat(dtype, TBH + 2 * BH);
  swapLeading(hs.subarray(BH), packed, T, B, H);
  packed.set(hs.subarray(TBH), TBH);
  packed.set(cs.subarray(TBH), TBH + BH);

  const inputs: Tensor[] = [x, weightIh, weightHh];
  if (biasIh) inputs.push(biasIh);
  if (biasHh) inputs.push(biasHh);
  if (h0) inputs.push(h0);
  if (c0) inputs.push(c0);

  // The first backward walk turns `act` into the gate gradients; a second one (retainGraph)
  // recomputes the activations first, from the saved states, with two GEMMs and one cell pass.
  let actConsumed = false;
  const core = record(new Tensor(packed, [TBH + 2 * BH]), 'lstm', inputs, (dy) => {
    const d = dy.data as FloatArray;
    const hs = scratch(dtype, H_T, (T + 1) * BH);
    if (h0) hs.set(h0.data as FloatArray, 0);
    else hs.fill(0, 0, BH);
    swapLeading(packed, hs.subarray(BH), B, T, H);
    if (actConsumed && rows > 0) {
      inputGates();
      gemm(hs, whh, act, rows, G, H, false, true, true);
      const states = allocateFloat(dtype, 2 * rows * H);
      const cPrev = cs.subarray(0, rows * H);
      k.lstmCell(act, cPrev, rows, H, states.subarray(0, rows * H), states.subarray(rows * H), act);
    }
    actConsumed = true;
    const dgates = act;
    const dhs = scratch(dtype, DH_T, TBH); // [T, B, H]: dL/dh_t, recurrent part added below
    swapLeading(d, dhs, B, T, H);
    if (T > 0) {
      const last = dhs.subarray(TBH - BH);
      for (let i = 0; i < BH; i++) last[i] += d[TBH + i];
    }
    let dc: FloatArray = d.slice(TBH + BH);
    let dcNext: FloatArray = allocateFloat(dtype, BH);
    const needH0 = h0?.requiresGrad ?? false;
    let dh0: Tensor | null = null;
    if (T === 0 && needH0) dh0 = new Tensor(d.slice(TBH, TBH + BH), [B, H]);
    for (let t = T - 1; t >= 0; t--) {
      const dg = dgates.subarray(t * BG, (t + 1) * BG);
      // In place: the kernel reads each unit's four activations before writing its gradients.
      k.lstmCellBackward(
        dg,
        cs.subarray(t * BH, (t + 1) * BH),
        cs.subarray((t + 1) * BH, (t + 2) * BH),
        dhs.subarray(t * BH, (t + 1) * BH),
        dc,
        B,
        H,
        dg,
        dcNext,
      );
      [dc, dcNext] = [dcNext, dc];
      if (t > 0) {
        gemm(dgates, whh, dhs.subarray((t - 1) * BH, t * BH), B, H, G, false, false, true, t * BG);
      } else if (needH0) {
        dh0 = Tensor.zeros([B, H], dtype);
        gemm(dgates, whh, dh0.data as FloatArray, B, H, G, false, false, false);
      }
    }
    // FLOPs of the composite's backward: the cells, the recurrent GEMM's dh (every step but the
    // first, which has one only for an h0 that needs it) and dW_hh, the input GEMM's dx and dW_ih,
    // the bias sum.
    let flops = T * 18 * BH + Math.max(T - 1, 0) * 2 * B * G * H + (needH0 ? 2 * B * G * H : 0);
    const grads: (Tensor | null)[] = [null, null, null];
    if (weightHh.requiresGrad) {
      const dw = Tensor.zeros([G, H], dtype);
      if (rows > 0) {
        gemm(dgates, hs.subarray(0, TBH), dw.data as FloatArray, G, H, rows, true, false, false);
      }
      grads[2] = dw;
      flops += T * 2 * B * G * H;
    }
    // One [T, B, I] buffer: x time-major for dW_ih, then dx time-major.
    const needXt = rows > 0 && I > 0 && (weightIh.requiresGrad || x.requiresGrad);
    const xt = needXt ? scratch(dtype, X_T, rows * I) : null;
    if (weightIh.requiresGrad) {
      const dw = Tensor.zeros([G, I], dtype);
      if (xt) {
        swapLeading(x.data as FloatArray, xt, B, T, I);
        gemm(dgates, xt, dw.data as FloatArray, G, I, rows, true, false, false);
      }
      grads[1] = dw;
      flops += 2 * rows * G * I;
    }
    if (x.requiresGrad) {
      const dx = Tensor.zeros([B, T, I], dtype);
      if (xt) {
        gemm(dgates, wih, xt, rows, I, G, false, false, false);
        swapLeading(xt, dx.data as FloatArray, T, B, I);
      }
      grads[0] = dx;
      flops += 2 * rows * G * I;
    }
    const biasGrad = (biasIh?.requiresGrad ?? false) || (biasHh?.requiresGrad ?? false);
    if (biasIh) grads.push(null);
    if (biasHh) grads.push(null);
    if (biasGrad) {
      const db = Tensor.zeros([G], dtype);
      if (rows > 0) k.reduce('sum', dgates, 1, rows, G, db.data as FloatArray);
      flops += rows * G;
      let at = 3;
      if (biasIh) grads[at++] = db;
      if (biasHh) grads[at] = biasIh ? db.clone() : db;
    }
    if (h0) grads.push(dh0);
    if (c0) grads.push(c0.requiresGrad ? new Tensor(dc, [B, H]) : null);
    countFlops(flops);
    return grads;
  });
  return {
    output: part(core, 0, [B, T, H]),
    h: part(core, TBH, [B, H]),
    c: part(core, TBH + BH, [B, H]),
  };
}
