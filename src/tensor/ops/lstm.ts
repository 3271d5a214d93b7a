/**
 * The LSTM layer: the input projection of every time step in one matrix product, then one fused
 * gate kernel per step. Gate order and weight layout are PyTorch's (`weight_ih_l0` `[4H, I]`,
 * gates i, f, g, o), so `torch.nn.LSTM` weights load as they are.
 *
 * Dimension legend: B batch, T time, I input size, H hidden size.
 */
import { kernels } from '../../backends/index.js';
import type { FloatArray } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { allocateFloat, assertFloat, type FloatDType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { linear, matmul } from './matmul.js';
import { reshape, slice, stack } from './shape.js';

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
      `lstmCell: gates must be [B, 4H] and the cell [B, H]; got ${gates.describe()} and ${cPrev.describe()}`,
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

/** Runs one LSTM layer over `x` `[B, T, I]` from `h0`, `c0` `[B, H]` (zeros when omitted). */
export function lstm(
  x: Tensor,
  weights: LstmWeights,
  h0?: Tensor | null,
  c0?: Tensor | null,
): LstmResult {
  const { weightIh, weightHh, biasIh, biasHh } = weights;
  const H = weightHh.shape[1];
  if (
    x.rank !== 3 ||
    weightIh.rank !== 2 ||
    weightIh.shape[0] !== 4 * H ||
    weightIh.shape[1] !== x.shape[2]
  ) {
    throw new ShapeError(
      `lstm: input ${x.describe()} must be [B, T, I] with weight_ih [4H, I]; got weight_ih ` +
        `${weightIh.describe()} and weight_hh ${weightHh.describe()}`,
    );
  }
  const [B, T] = x.shape;
  const bias = biasIh && biasHh ? add(biasIh, biasHh) : (biasIh ?? biasHh ?? null);
  // One GEMM for the input side of all T steps: [B*T, I] @ [I, 4H].
  const projected = reshape(linear(x, weightIh, bias), [B, T, 4 * H]); // [B, T, 4H]
  let h = h0 ?? Tensor.zeros([B, H], x.dtype);
  let c = c0 ?? Tensor.zeros([B, H], x.dtype);
  const outputs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const inputGates = reshape(slice(projected, 1, t, t + 1), [B, 4 * H]); // [B, 4H]
    const gates = add(inputGates, matmul(h, weightHh, { transB: true })); // [B, 4H]
    const state = lstmCell(gates, c); // [2, B, H]
    h = reshape(slice(state, 0, 0, 1), [B, H]);
    c = reshape(slice(state, 0, 1, 2), [B, H]);
    outputs.push(h);
  }
  const output = T > 0 ? stack(outputs, 1) : Tensor.zeros([B, 0, H], x.dtype); // [B, T, H]
  return { output, h, c };
}
