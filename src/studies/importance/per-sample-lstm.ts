/**
 * Exact per-sample gradient norms of an LSTM layer's weights, for a whole batch in one backward
 * through time.
 *
 * The LSTM's weights are shared across the T steps of a window, so sample i's gradient is a sum
 * over steps: with `δ_t` the gradient of its pre-activation gates at step t (`[4H]`), `x_t` its
 * input and `h_{t−1}` its previous hidden state,
 *
 *     ∇_{W_ih} ℓ_i = Σ_t δ_t ⊗ x_t      ∇_{W_hh} ℓ_i = Σ_t δ_t ⊗ h_{t−1}
 *     ∇_{b_ih} ℓ_i = ∇_{b_hh} ℓ_i = Σ_t δ_t
 *
 * and the dense layer's product of two norms does not hold. The squared norm of such a sum is a
 * double sum over pairs of steps of Gram entries, ‖Σ_t δ_t ⊗ a_t‖² = Σ_{t,s} (δ_t·δ_s)(a_t·a_s),
 * which costs O(T²·(4H + I + H)) per sample and never builds a `[4H, I]` gradient per sample.
 *
 * Why a batched pass rather than one backward per sample: with the loss summed over the batch, the
 * gate gradients that backpropagation through time computes for row i of the batch are exactly
 * sample i's own (rows never mix in an LSTM), so one batched backward yields every sample's δ_t.
 * A loop of N single-sample backward passes gives the same numbers (the test checks it) at N times
 * the op dispatches: on 512 windows of 10 steps, 10 features and 32 units it took 280 ms against
 * 50 ms for the batched pass (one thread), about a minute more per scoring run of the quick preset
 * (6,400 windows, 20 epochs).
 *
 * The fused `lstm` op keeps its gate gradients inside its kernel, so the scoring pass unrolls the
 * layer into the engine's plain ops (per step: two `linear`, `add`, `lstmCell`) with the same
 * weights and reads each step's gate gradient through a gradient hook. Training uses the fused op;
 * the two agree to rounding (tested).
 *
 * Dimension legend: B batch, T time steps, I inputs per step, H hidden size, G = 4H gates.
 */
import type { FloatArray } from '../../backends/kernels.js';
import type { LSTMLayer } from '../../models/lstm-lm.js';
import { zeros } from '../../tensor/create.js';
import type { FloatDType } from '../../tensor/dtype.js';
import { countFlops } from '../../tensor/flops.js';
import { add } from '../../tensor/ops/elementwise.js';
import { lstmCell } from '../../tensor/ops/lstm.js';
import { linear } from '../../tensor/ops/matmul.js';
import { reshape, slice } from '../../tensor/ops/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

/** What the unrolled forward keeps for the norms: per step the inputs and the gate gradients. */
export interface LstmTape {
  B: number;
  T: number;
  I: number;
  H: number;
  /** `x_t` `[B, I]` per step. */
  inputs: FloatArray[];
  /** `h_{t−1}` `[B, H]` per step; null at t = 0 (the zero initial state). */
  previous: (FloatArray | null)[];
  /** `δ_t` `[B, 4H]` per step, filled by backward. */
  gateGrads: (Float64Array | null)[];
}

/**
 * The LSTM layer over `x` `[B, T, I]` from zero states, unrolled step by step into plain ops with
 * hooks that record each step's gate gradient. Returns the last hidden state `h` `[B, H]`.
 */
export function unrolledLstm(layer: LSTMLayer, x: Tensor): { h: Tensor; tape: LstmTape } {
  const [B, T, I] = x.shape;
  const H = layer.weight_hh.shape[1];
  const dtype = x.dtype as FloatDType;
  const tape: LstmTape = {
    B,
    T,
    I,
    H,
    inputs: [],
    previous: [],
    gateGrads: Array.from({ length: T }, () => null),
  };
  let h: Tensor | null = null; // [B, H]
  let c = zeros([B, H], { dtype }); // [B, H]
  for (let t = 0; t < T; t++) {
    const xt = reshape(slice(x, 1, t, t + 1), [B, I]); // [B, I]
    let gates = linear(xt, layer.weight_ih, layer.bias_ih); // [B, 4H]
    // The zero initial state contributes only the recurrent bias.
    gates =
      h === null
        ? add(gates, layer.bias_hh)
        : add(gates, linear(h, layer.weight_hh, layer.bias_hh));
    tape.inputs.push(xt.data as FloatArray);
    tape.previous.push(h === null ? null : (h.data as FloatArray));
    const step = t;
    gates.registerHook((g) => {
      tape.gateGrads[step] = Float64Array.from(g.data as FloatArray);
      return undefined;
    });
    const state = lstmCell(gates, c); // [2, B, H]
    h = reshape(slice(state, 0, 0, 1), [B, H]); // [B, H]
    c = reshape(slice(state, 0, 1, 2), [B, H]); // [B, H]
  }
  if (h === null) throw new RangeError('unrolledLstm: the window has no time steps (T = 0)');
  return { h, tape };
}

/** Dot products `a_t · a_s` `[T, T]` of sample b's rows (width D) in each step's `[B, D]`. */
function gram(rows: readonly (ArrayLike<number> | null)[], b: number, D: number): Float64Array {
  const T = rows.length;
  const out = new Float64Array(T * T);
  for (let t = 0; t < T; t++) {
    const u = rows[t];
    if (!u) continue;
    for (let s = t; s < T; s++) {
      const v = rows[s];
      if (!v) continue;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += (u[b * D + d] as number) * (v[b * D + d] as number);
      out[t * T + s] = dot;
      out[s * T + t] = dot;
    }
  }
  return out;
}

/**
 * Each sample's squared gradient norm `[B]` over the layer's `weight_ih`, `weight_hh`, `bias_ih`
 * and `bias_hh`, from a tape whose backward has run. Counts its FLOPs (the three Gram matrices
 * and their contraction).
 */
export function lstmWeightNorms2(tape: LstmTape): Float64Array {
  const { B, T, I, H } = tape;
  const G = 4 * H;
  const missing = tape.gateGrads.indexOf(null);
  if (missing >= 0) {
    throw new Error(
      `lstmWeightNorms2: no gate gradient at step ${missing}; run backward on a loss of the ` +
        'unrolled output first',
    );
  }
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const dd = gram(tape.gateGrads, b, G); // δ_t · δ_s, [T, T]
    const xx = gram(tape.inputs, b, I); // x_t · x_s
    const hh = gram(tape.previous, b, H); // h_{t−1} · h_{s−1} (zero at t = 0)
    let ih = 0;
    let rec = 0;
    let bias = 0;
    for (let k = 0; k < T * T; k++) {
      const d = dd[k] as number;
      ih += d * (xx[k] as number);
      rec += d * (hh[k] as number);
      bias += d;
    }
    out[b] = ih + rec + 2 * bias; // bias_ih and bias_hh get the same gradient
  }
  // Upper triangles of three Gram matrices (a multiply and an add per term), then 5 per entry.
  countFlops(B * ((T * (T + 1)) / 2) * 2 * (G + I + H) + B * T * T * 5);
  return out;
}
