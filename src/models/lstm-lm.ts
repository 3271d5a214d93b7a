/**
 * The LSTM language model (the Melis / Merity word-level LM of the scaling study): token
 * embedding, 1..N stacked LSTM layers (PyTorch's gate order and weight layout, through the fused
 * `lstm` op), and a linear head, optionally tied to the embedding.
 *
 * Hook points: `hook_embed` `[B, T, E]`, `lstm.{i}.hook_out` (each layer's hidden states
 * `[B, T, H]`). State-dict names are the module paths: `embed.weight`, `lstm.{i}.weight_ih`,
 * `lstm.{i}.weight_hh`, `lstm.{i}.bias_ih`, `lstm.{i}.bias_hh`, `head.weight` (untied),
 * `head.bias`.
 *
 * Initialisation (with `rng`): LSTM weights and biases uniform in ±1/sqrt(H), as PyTorch's
 * `nn.LSTM`; the embedding and head weights uniform in ±0.1, as PyTorch's word-language-model
 * example; the head bias zero.
 *
 * Dimension legend: B batch, T time, E embedding size, H hidden size, V vocabulary.
 */

import { HookPoint } from '../nn/hook-point.js';
import { Dropout, Embedding, Linear, ModuleList } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { zeros } from '../tensor/create.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/errors.js';
import { lstm } from '../tensor/ops/lstm.js';
import { linear } from '../tensor/ops/matmul.js';
import { type Generator, rand } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConfigError } from './transformer.js';

export interface LSTMConfig {
  vocabSize: number;
  /** Hidden size H of every layer. */
  dHidden: number;
  /** Stacked layers, 1 or more. */
  nLayers: number;
  /** Embedding size E; default H (must be H when tied). */
  dEmbed?: number;
  /** The head reuses the embedding `[V, E]`; default false. */
  tiedEmbeddings?: boolean;
  /** Dropout on the embeddings and on each layer's output; default 0. */
  dropout?: number;
  /** Default 'float32'. */
  dtype?: FloatDType;
}

export type ResolvedLSTMConfig = Readonly<Required<LSTMConfig>>;

/** Each layer's final hidden and cell states, `[B, H]` each: carried across windows in BPTT. */
export interface LSTMState {
  h: readonly Tensor[];
  c: readonly Tensor[];
}

export interface LSTMInit {
  rng?: Generator;
  /** Draws dropout masks; default `rng.fork('dropout')`. */
  dropoutRng?: Generator;
}

const FIELDS = ['vocabSize', 'dHidden', 'nLayers', 'dEmbed', 'tiedEmbeddings', 'dropout', 'dtype'];

/** Fills defaults, checks every field (errors name it) and freezes. */
export function resolveLSTMConfig(input: LSTMConfig): ResolvedLSTMConfig {
  for (const key of Object.keys(input)) {
    if (!FIELDS.includes(key)) {
      throw new ConfigError(
        key,
        `LSTMConfig: unknown field '${key}' (known: ${FIELDS.join(', ')})`,
      );
    }
  }
  const c = {
    tiedEmbeddings: false,
    dropout: 0,
    dtype: 'float32' as FloatDType,
    ...input,
    dEmbed: input.dEmbed ?? input.dHidden,
  };
  for (const field of ['vocabSize', 'dHidden', 'nLayers', 'dEmbed'] as const) {
    if (!Number.isInteger(c[field]) || c[field] < 1) {
      throw new ConfigError(
        field,
        `LSTMConfig.${field}: must be a positive integer, got ${c[field]}`,
      );
    }
  }
  if (c.tiedEmbeddings && c.dEmbed !== c.dHidden) {
    // LIMITATION: no projection between H and E, so tying needs equal sizes.
    throw new ConfigError(
      'dEmbed',
      `LSTMConfig.dEmbed: tied embeddings need dEmbed = dHidden (${c.dHidden}), got ${c.dEmbed}`,
    );
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) {
    throw new ConfigError('dropout', `LSTMConfig.dropout: must be in [0, 1), got ${c.dropout}`);
  }
  if (c.dtype !== 'float32' && c.dtype !== 'float64') {
    throw new ConfigError(
      'dtype',
      `LSTMConfig.dtype: must be 'float32' or 'float64', got ${c.dtype}`,
    );
  }
  return Object.freeze(c);
}

/** One LSTM layer, `[B, T, I]` to `[B, T, H]`, with its output through `hook_out`. */
export class LSTMLayer extends Module<
  [Tensor, Tensor | null, Tensor | null],
  ReturnType<typeof lstm>
> {
  readonly weight_ih: Tensor;
  readonly weight_hh: Tensor;
  readonly bias_ih: Tensor;
  readonly bias_hh: Tensor;
  readonly hook_out = new HookPoint();

  constructor(I: number, H: number, dtype: FloatDType, rng?: Generator) {
    super();
    const bound = 1 / Math.sqrt(H);
    const draw = (shape: number[]) =>
      rng ? rand(shape, rng, { low: -bound, high: bound, dtype }) : zeros(shape, { dtype });
    this.weight_ih = this.registerParameter('weight_ih', draw([4 * H, I]));
    this.weight_hh = this.registerParameter('weight_hh', draw([4 * H, H]));
    this.bias_ih = this.registerParameter('bias_ih', draw([4 * H]));
    this.bias_hh = this.registerParameter('bias_hh', draw([4 * H]));
    this.registerModule('hook_out', this.hook_out);
  }

  /** `x` `[B, T, I]` from `h0`, `c0` `[B, H]` (zeros when null). */
  forward(x: Tensor, h0: Tensor | null, c0: Tensor | null): ReturnType<typeof lstm> {
    const weights = {
      weightIh: this.weight_ih,
      weightHh: this.weight_hh,
      biasIh: this.bias_ih,
      biasHh: this.bias_hh,
    };
    const { output, h, c } = lstm(x, weights, h0, c0); // [B, T, H], [B, H], [B, H]
    return { output: this.hook_out.call(output), h, c }; // [B, T, H], [B, H], [B, H]
  }
}

/** The tied head: logits `h E^T + bias` with the embedding `E` `[V, H]`; owns only the bias. */
class TiedHead extends Module<[Tensor, Tensor], Tensor> {
  readonly bias: Tensor;
  constructor(V: number, dtype: FloatDType) {
    super();
    this.bias = this.registerParameter('bias', zeros([V], { dtype }));
  }
  forward(x: Tensor, embedding: Tensor): Tensor {
    return linear(x, embedding, this.bias); // [B, T, V]
  }
}

/**
 * The LSTM language model; see the file comment.
 *
 * @example
 * const model = new LSTMLM({ vocabSize: 1000, dHidden: 64, nLayers: 2, tiedEmbeddings: true },
 *   { rng: new Generator(1) });
 * let state = null;
 * for (const window of windows) {          // truncated BPTT
 *   const out = model.step(window, state); // logits [B, T, V]
 *   state = detachState(out.state);
 * }
 */
export class LSTMLM extends Module<[Tensor, LSTMState?], Tensor> {
  readonly config: ResolvedLSTMConfig;
  readonly embed: Embedding;
  readonly hook_embed = new HookPoint();
  readonly lstm: ModuleList<LSTMLayer>;
  readonly head: Linear | TiedHead;
  private readonly dropout: Dropout;

  constructor(config: LSTMConfig, init: LSTMInit = {}) {
    super();
    const c = resolveLSTMConfig(config);
    this.config = c;
    const { vocabSize: V, dEmbed: E, dHidden: H, dtype, nLayers } = c;
    const { rng } = init;
    const uniform = (shape: number[]) =>
      rng ? rand(shape, rng, { low: -0.1, high: 0.1, dtype }) : zeros(shape, { dtype });
    this.embed = this.registerModule('embed', new Embedding(V, E, { dtype }));
    this.embed.weight.data.set(uniform([V, E]).data);
    this.registerModule('hook_embed', this.hook_embed);
    const layers = Array.from(
      { length: nLayers },
      (_, i) => new LSTMLayer(i === 0 ? E : H, H, dtype, rng),
    );
    this.lstm = this.registerModule('lstm', new ModuleList(layers));
    if (c.tiedEmbeddings) {
      this.head = this.registerModule('head', new TiedHead(V, dtype));
    } else {
      const head = new Linear(H, V, { dtype });
      head.weight.data.set(uniform([V, H]).data);
      this.head = this.registerModule('head', head);
    }
    const dropoutRng = init.dropoutRng ?? rng?.fork('dropout') ?? null;
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout, dropoutRng));
  }

  /** Token ids int32 `[B, T]` to logits `[B, T, V]`, from `state` (zeros when absent). */
  forward(ids: Tensor, state?: LSTMState): Tensor {
    return this.step(ids, state ?? null).logits;
  }

  /** Logits `[B, T, V]` and each layer's final state, for carrying into the next window. */
  step(ids: Tensor, state: LSTMState | null): { logits: Tensor; state: LSTMState } {
    if (ids.rank !== 2 || ids.dtype !== 'int32') {
      throw new ShapeError(`LSTMLM: ids must be int32 [B, T], got ${ids.describe()}`);
    }
    const L = this.lstm.length;
    if (state && (state.h.length !== L || state.c.length !== L)) {
      throw new ShapeError(`LSTMLM: the state has ${state.h.length} layers, the model ${L}`);
    }
    let x = this.dropout.call(this.hook_embed.call(this.embed.call(ids))); // [B, T, E]
    const h: Tensor[] = [];
    const c: Tensor[] = [];
    this.lstm.items.forEach((layer, i) => {
      const out = layer.call(x, state?.h[i] ?? null, state?.c[i] ?? null); // output [B, T, H]
      x = this.dropout.call(out.output); // [B, T, H]
      h.push(out.h); // [B, H]
      c.push(out.c); // [B, H]
    });
    const logits = // [B, T, V]
      this.head instanceof TiedHead ? this.head.call(x, this.embed.weight) : this.head.call(x);
    return { logits, state: { h, c } };
  }

  /** Total, embedding (the embedding and an untied head weight) and non-embedding counts. */
  parameterCounts(): { total: number; embedding: number; nonEmbedding: number } {
    const total = this.numParameters();
    let embedding = this.embed.weight.size;
    if (this.head instanceof Linear) embedding += this.head.weight.size;
    return { total, embedding, nonEmbedding: total - embedding };
  }
}

/** The state cut from the tape (truncated backpropagation through time). */
export function detachState(state: LSTMState): LSTMState {
  return { h: state.h.map((t) => t.detach()), c: state.c.map((t) => t.detach()) };
}
