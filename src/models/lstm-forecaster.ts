/**
 * A small LSTM for windowed series: one LSTM layer reads the window step by step, and a dense
 * head maps its last hidden state to the outputs (one regression value, or class logits). The
 * importance study forecasts the next value of a trace from its previous W steps with it.
 *
 * Input: `[B, T, I]`, or `[B, T·I]` with the steps laid out one after another (step-major, as a
 * windowed table row holds them); the second form is reshaped with the configured input size.
 *
 * Hook points: `lstm.hook_out` (the hidden state at every step, `[B, T, H]`), `head.hook_pre`
 * (the outputs, `[B, K]`). State-dict names: `lstm.weight_ih` `[4H, I]`, `lstm.weight_hh`
 * `[4H, H]`, `lstm.bias_ih`, `lstm.bias_hh` `[4H]` (PyTorch's `nn.LSTM` layout and gate order),
 * `head.weight` `[K, H]`, `head.bias` `[K]`.
 *
 * Initialisation (with `rng`): the LSTM uniform in ±1/sqrt(H), as PyTorch's `nn.LSTM`; the head
 * normal with std 1/sqrt(H), bias zero, as the MLP's layers.
 *
 * Dimension legend: B batch, T time steps, I input features per step, H hidden size, K outputs.
 */

import { Module } from '../nn/module.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/errors.js';
import { reshape } from '../tensor/ops/shape.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { LSTMLayer } from './lstm-lm.js';
import { DenseLayer } from './mlp.js';
import { ConfigError } from './transformer.js';

export interface LSTMForecasterConfig {
  /** Features per time step, I. */
  inputSize: number;
  /** Hidden size H of the LSTM. */
  dHidden: number;
  /** Outputs K (1 for regression, the classes for classification). */
  outputs: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

export type ResolvedLSTMForecasterConfig = Readonly<Required<LSTMForecasterConfig>>;

const FIELDS = ['inputSize', 'dHidden', 'outputs', 'dtype'];

/** Fills defaults, checks every field (errors name it) and freezes. */
export function resolveLSTMForecasterConfig(
  input: LSTMForecasterConfig,
): ResolvedLSTMForecasterConfig {
  for (const key of Object.keys(input)) {
    if (!FIELDS.includes(key)) {
      throw new ConfigError(
        key,
        `LSTMForecasterConfig: unknown field '${key}' (known: ${FIELDS.join(', ')})`,
      );
    }
  }
  const c = { dtype: 'float32' as FloatDType, ...input };
  for (const field of ['inputSize', 'dHidden', 'outputs'] as const) {
    if (!Number.isInteger(c[field]) || c[field] < 1) {
      throw new ConfigError(
        field,
        `LSTMForecasterConfig.${field}: must be a positive integer, got ${c[field]}`,
      );
    }
  }
  if (c.dtype !== 'float32' && c.dtype !== 'float64') {
    throw new ConfigError(
      'dtype',
      `LSTMForecasterConfig.dtype: must be 'float32' or 'float64', got ${c.dtype}`,
    );
  }
  return Object.freeze(c);
}

/** The LSTM forecaster; see the file comment. */
export class LSTMForecaster extends Module<[Tensor], Tensor> {
  readonly config: ResolvedLSTMForecasterConfig;
  readonly lstm: LSTMLayer;
  readonly head: DenseLayer;

  constructor(config: LSTMForecasterConfig, init: { rng?: Generator } = {}) {
    super();
    const c = resolveLSTMForecasterConfig(config);
    this.config = c;
    const { inputSize: I, dHidden: H, outputs: K, dtype } = c;
    this.lstm = this.registerModule('lstm', new LSTMLayer(I, H, dtype, init.rng));
    this.head = this.registerModule(
      'head',
      new DenseLayer(H, K, null, { rng: init.rng, bias: true, dtype }),
    );
  }

  /** The input as `[B, T, I]`: unchanged, or unflattened from `[B, T·I]`. */
  sequence(x: Tensor): Tensor {
    const I = this.config.inputSize;
    if (x.rank === 3 && x.shape[2] === I) return x; // [B, T, I]
    if (x.rank === 2 && x.shape[1] % I === 0 && x.shape[1] > 0) {
      return reshape(x, [x.shape[0], x.shape[1] / I, I]); // [B, T, I]
    }
    throw new ShapeError(
      `LSTMForecaster: input must be [B, T, ${I}] or [B, T·${I}] (steps one after another), ` +
        `got ${x.describe()}`,
    );
  }

  /** `x` `[B, T, I]` (or `[B, T·I]`) to outputs `[B, K]` from the last hidden state. */
  forward(x: Tensor): Tensor {
    const { h } = this.lstm.call(this.sequence(x), null, null); // h [B, H]
    return this.head.call(h); // [B, K]
  }
}
