/**
 * Per-sample scores of a study model at its current parameters: the gradient norm over all
 * parameters, EL2N and the loss, for every sample of a batch in one forward and one backward pass.
 *
 * The per-example trick for dense layers (spec E.1.1): for `y = x W^T + b` with input `x_i` and
 * back-propagated signal `g_i = dℓ_i/dy_i` of sample i, the sample's gradient is `g_i ⊗ x_i`
 * for W and `g_i` for b, so
 *
 *     ‖∇_W ℓ_i‖² = ‖g_i‖² · ‖x_i‖²        ‖∇_b ℓ_i‖² = ‖g_i‖²
 *
 * summed over layers. The loss is summed over the batch (not averaged), so `g_i` is exactly the
 * signal of sample i alone. A forward hook on each `DenseLayer` captures `x_i`; a backward hook on
 * its `hook_pre` point (the affine output) captures `g_i`. `bruteForceGradNorms` does one backward
 * per sample instead: the reference the batched path is tested against.
 *
 * The LSTM forecaster: its dense head takes the trick above; the LSTM's weights are shared across
 * the steps of a window, so a sample's gradient is a sum over steps and the trick does not apply.
 * Their per-sample part comes from a batched backward through time that keeps each sample's gate
 * gradients at every step (per-sample-lstm.ts); the two parts add up to the full squared norm.
 *
 * Losses per sample: classification cross-entropy; regression squared error of the standardised
 * target. EL2N (Paul et al. 2021): ‖softmax(z_i) − onehot(y_i)‖₂, or |ŷ_i − y_i| for
 * regression.
 *
 * LIMITATION: exact only for the two study models (dense layers applied once per sample, and one
 * LSTM layer under a dense head); convolutions and stacked LSTMs would need their own pass.
 *
 * Dimension legend: B samples, F features (W·F for a flattened window), K outputs.
 */
import { LSTMForecaster } from '../../models/lstm-forecaster.js';
import type { DenseLayer, MLP } from '../../models/mlp.js';
import { backward } from '../../tensor/autograd.js';
import { tensor } from '../../tensor/create.js';
import { countFlops } from '../../tensor/flops.js';
import { square, sub } from '../../tensor/ops/elementwise.js';
import { crossEntropy, softmax } from '../../tensor/ops/nn.js';
import { sum } from '../../tensor/ops/reduce.js';
import { reshape } from '../../tensor/ops/shape.js';
import { noGrad, type Tensor } from '../../tensor/tensor.js';
import { type LstmTape, lstmWeightNorms2, unrolledLstm } from './per-sample-lstm.js';

/** The models the study trains: an MLP on flat rows, or an LSTM over windows of time steps. */
export type StudyModel = MLP | LSTMForecaster;

/** A batch of samples: features `[B, F]`, targets `[B]` (int32 class ids or float values). */
export interface SampleBatch {
  x: Tensor;
  y: Tensor;
}

/** Scores of each sample of a batch, `[B]` each. */
export interface SampleScores {
  gradNorm: Float64Array;
  el2n: Float64Array;
  loss: Float64Array;
  /** Classification: whether the argmax is the target; regression: all false. */
  correct: Uint8Array;
}

/** Per-sample losses `[B]` of outputs `out` `[B, K]`: cross-entropy, or squared error. */
function lossOf(out: Tensor, y: Tensor): Tensor {
  if (y.dtype === 'int32') return crossEntropy(out, y, { reduction: 'none' }); // [B]
  return square(sub(reshape(out, [y.size]), y)); // [B]
}

/** Per-sample losses `[B]` of `model` on `batch`: cross-entropy, or squared error. */
export function perSampleLoss(model: StudyModel, batch: SampleBatch): Tensor {
  return lossOf(model.call(batch.x), batch.y); // [B]
}

/** Squared row norms of a `[B, D]` tensor (any leading dims folded into B); counts 2·B·D FLOPs. */
function rowSquares(t: Tensor, B: number): Float64Array {
  const D = t.size / B;
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let d = 0; d < D; d++) {
      const v = t.data[b * D + d] as number;
      s += v * v;
    }
    out[b] = s;
  }
  countFlops(2 * t.size);
  return out;
}

/**
 * Hooks on dense layers that add each sample's squared gradient norm of the layer's weight and
 * bias into `norms2` `[B]` during the next forward and backward; returns their removers.
 */
function denseNormHooks(
  layers: readonly DenseLayer[],
  B: number,
  norms2: Float64Array,
): (() => void)[] {
  const inputs2 = new Map<DenseLayer, Float64Array>();
  const removers: (() => void)[] = [];
  for (const layer of layers) {
    removers.push(
      layer.registerForwardHook((_m, [x]) => {
        inputs2.set(layer, rowSquares(x, B)); // ‖x_i‖², [B]
        return undefined;
      }),
    );
    removers.push(
      layer.hook_pre.registerBackwardHook((_m, g) => {
        const g2 = rowSquares(g, B); // ‖g_i‖², [B]
        const x2 = inputs2.get(layer) as Float64Array;
        const withBias = layer.bias !== null ? 1 : 0;
        for (let b = 0; b < B; b++) norms2[b] += (g2[b] as number) * ((x2[b] as number) + withBias);
        countFlops(3 * B);
        return undefined;
      }),
    );
  }
  return removers;
}

/**
 * Per-sample gradient norms over all parameters of `model`, batched: one forward, one backward of
 * the summed loss. Dense layers by the per-example trick; the LSTM's weights by the batched
 * backward through time of per-sample-lstm.ts. The model's own `.grad` fields are left untouched.
 */
export function batchedGradNorms(model: StudyModel, batch: SampleBatch): Float64Array {
  const B = batch.y.size;
  const norms2 = new Float64Array(B);
  const lstm = model instanceof LSTMForecaster;
  const dense = lstm ? [model.head] : model.layers.items;
  const removers = denseNormHooks(dense, B, norms2);
  const params = model.parameters();
  const saved = params.map((p) => p.grad);
  let tape: LstmTape | null = null;
  try {
    let out: Tensor; // [B, K]
    if (lstm) {
      const unrolled = unrolledLstm(model.lstm, model.sequence(batch.x)); // h [B, H]
      tape = unrolled.tape;
      out = model.head.call(unrolled.h); // [B, K]
    } else {
      out = model.call(batch.x); // [B, K]
    }
    backward(sum(lossOf(out, batch.y)));
    if (tape !== null) {
      const lstmNorms2 = lstmWeightNorms2(tape); // [B]
      for (let b = 0; b < B; b++) norms2[b] += lstmNorms2[b] as number;
    }
  } finally {
    for (const remove of removers) remove();
    params.forEach((p, k) => {
      p.grad = saved[k] ?? null;
    });
  }
  return norms2.map(Math.sqrt);
}

/** The reference: one backward per sample, the norm of every parameter's full gradient. */
export function bruteForceGradNorms(model: StudyModel, batch: SampleBatch): Float64Array {
  const B = batch.y.size;
  const F = batch.x.size / B;
  const params = model.parameters();
  const saved = params.map((p) => p.grad);
  const out = new Float64Array(B);
  try {
    for (let b = 0; b < B; b++) {
      const xi = tensor(batch.x.data.slice(b * F, (b + 1) * F), {
        shape: [1, F],
        dtype: batch.x.dtype,
      }); // [1, F]
      const yi = tensor(batch.y.data.slice(b, b + 1), { shape: [1], dtype: batch.y.dtype }); // [1]
      for (const p of params) p.grad = null;
      backward(sum(perSampleLoss(model, { x: xi, y: yi })));
      let s = 0;
      for (const p of params) {
        const g = p.grad as Tensor | null;
        if (g === null) continue;
        for (let k = 0; k < g.size; k++) s += (g.data[k] as number) ** 2;
      }
      out[b] = Math.sqrt(s);
    }
  } finally {
    params.forEach((p, k) => {
      p.grad = saved[k] ?? null;
    });
  }
  return out;
}

/** EL2N, loss and correctness of each sample, without gradients. */
export function errorScores(
  model: StudyModel,
  batch: SampleBatch,
): Pick<SampleScores, 'el2n' | 'loss' | 'correct'> {
  const B = batch.y.size;
  return noGrad(() => {
    const out = model.call(batch.x); // [B, K]
    const K = out.size / B;
    const el2n = new Float64Array(B);
    const loss = new Float64Array(B);
    const correct = new Uint8Array(B);
    if (batch.y.dtype === 'int32') {
      const p = softmax(out, -1); // [B, K]
      const ce = crossEntropy(out, batch.y, { reduction: 'none' }); // [B]
      for (let b = 0; b < B; b++) {
        const y = batch.y.data[b] as number;
        let s = 0;
        let best = 0;
        for (let k = 0; k < K; k++) {
          const v = p.data[b * K + k] as number;
          s += (v - (k === y ? 1 : 0)) ** 2;
          if (v > (p.data[b * K + best] as number)) best = k;
        }
        el2n[b] = Math.sqrt(s);
        loss[b] = ce.data[b] as number;
        correct[b] = best === y ? 1 : 0;
      }
    } else {
      for (let b = 0; b < B; b++) {
        const d = (out.data[b] as number) - (batch.y.data[b] as number);
        el2n[b] = Math.abs(d);
        loss[b] = d * d;
      }
    }
    return { el2n, loss, correct };
  });
}

/** All scores of a batch: the batched gradient norm (eval mode), EL2N, loss, correctness. */
export function sampleScores(model: StudyModel, batch: SampleBatch): SampleScores {
  const wasTraining = model.training;
  model.eval();
  try {
    return { gradNorm: batchedGradNorms(model, batch), ...errorScores(model, batch) };
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Forgetting events (Toneva et al. 2019) from a samples × epochs matrix of correctness: the count
 * of correct-to-wrong transitions between consecutive epochs; never correct gives +Infinity.
 */
export function forgettingEvents(correct: readonly Uint8Array[], N: number): Float64Array {
  const out = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let events = 0;
    let ever = false;
    for (let e = 0; e < correct.length; e++) {
      const now = (correct[e] as Uint8Array)[i] === 1;
      if (now) ever = true;
      if (e > 0 && (correct[e - 1] as Uint8Array)[i] === 1 && !now) events += 1;
    }
    out[i] = ever ? events : Number.POSITIVE_INFINITY;
  }
  return out;
}
