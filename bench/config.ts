/**
 * The benchmark's fixed workloads: the three reference models of issue 3 and the GEMM sizes.
 * One source of truth: bench/step.ts builds the sextant models from these objects and bench/run.ts
 * passes the same objects, as JSON, to bench/peer.py, so the two sides cannot drift apart.
 *
 * Dimension legend: B batch, T context, C width, V vocabulary, H heads, L layers.
 */

/** A GPT-2-style decoder: pre-LN, tanh GELU, tied embeddings, learned positions. */
export interface GptConfig {
  readonly kind: 'gpt';
  /** V */
  readonly vocab: number;
  /** L */
  readonly layers: number;
  /** C */
  readonly width: number;
  /** H; the head size is C / H. */
  readonly heads: number;
  /** T, also the length of the position table. */
  readonly context: number;
  /** B */
  readonly batch: number;
}

/** An LSTM language model: embedding, stacked LSTM layers, linear head. */
export interface LstmConfig {
  readonly kind: 'lstm';
  /** V */
  readonly vocab: number;
  readonly layers: number;
  /** Embedding size (the first layer's input size). */
  readonly embedding: number;
  /** Hidden size of every layer. */
  readonly hidden: number;
  /** T */
  readonly context: number;
  /** B */
  readonly batch: number;
}

export type ModelConfig = GptConfig | LstmConfig;

/** Optimiser settings shared by both sides (torch.optim.AdamW's defaults except lr). */
export const ADAMW = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
  weightDecay: 0.01,
});

export const MODELS = Object.freeze({
  'gpt-tiny': Object.freeze<GptConfig>({
    kind: 'gpt',
    vocab: 65,
    layers: 2,
    width: 64,
    heads: 4,
    context: 64,
    batch: 32,
  }),
  'gpt-small': Object.freeze<GptConfig>({
    kind: 'gpt',
    vocab: 65,
    layers: 6,
    width: 256,
    heads: 8,
    context: 128,
    batch: 16,
  }),
  lstm: Object.freeze<LstmConfig>({
    kind: 'lstm',
    vocab: 65,
    layers: 2,
    embedding: 256,
    hidden: 256,
    context: 128,
    batch: 16,
  }),
});

export type ModelName = keyof typeof MODELS;
export const MODEL_NAMES = Object.keys(MODELS) as ModelName[];

/**
 * Timed steps per model when `--steps` is not given: at least 5 (the median of 5 is the floor the
 * issue sets); the tiny model is cheap, so more steps steady its median.
 */
export const DEFAULT_STEPS: Readonly<Record<ModelName, number>> = Object.freeze({
  'gpt-tiny': 20,
  'gpt-small': 5,
  lstm: 5,
});

/** Untimed steps before timing: the first allocates optimiser state and warms the JIT. */
export const WARMUP_STEPS = 2;

/** Square GEMM sizes, float32. */
export const GEMM_SIZES = Object.freeze([64, 256, 1024]);

/** Each GEMM sample repeats the product until it lasts at least this long. */
export const GEMM_MIN_SAMPLE_MS = 50;

/** Tokens in one training step: B * T. */
export function tokensPerStep(config: ModelConfig): number {
  return config.batch * config.context;
}
