/**
 * The language-modelling task of `sextant train lm`: next-token prediction on a text corpus with
 * GPT-2, LLaMA, the configurable transformer or the LSTM. Batches are random windows of
 * `context` tokens (see data/text.ts); held-out batches are fixed consecutive windows from the end
 * of the corpus. The loss is the mean cross-entropy per token, in nats.
 *
 * Dimension legend: B batch, T context, V vocabulary.
 */

import {
  type Corpus,
  encodeCorpus,
  RandomWindows,
  sequentialBatches,
  splitTokens,
  type TokenBatch,
} from '../../data/text.js';
import type { Gpt2Config, LlamaConfig } from '../../io/hf-config.js';
import type { Tokenizer } from '../../io/tokenizers/types.js';
import { GPT2 } from '../../models/gpt2.js';
import { Llama } from '../../models/llama.js';
import { LSTMLM } from '../../models/lstm-lm.js';
import { ConfigurableTransformer } from '../../models/transformer.js';
import type { Module } from '../../nn/module.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { JsonValue } from '../checkpoint.js';
import type { TrainLmConfig } from '../config.js';
import type { RandomStreams } from '../random-streams.js';
import type { TrainTask } from '../task.js';
import { hfConfigText } from './common.js';

/** The fields of a `train lm` config that shape the model. */
export type LmModelConfig = Pick<
  TrainLmConfig,
  'model' | 'layers' | 'width' | 'heads' | 'context' | 'dropout'
>;

/** A language model as the task sees it: ids `[B, T]` to logits `[B, T, V]`. */
export interface LanguageModel {
  module: Module;
  logits(ids: Tensor): Tensor;
  /** Hugging Face's config.json for the model, when it has a Hugging Face layout. */
  hfConfig: string | null;
}

/**
 * Builds the model `config.model` for a vocabulary of `vocabSize`. With `random`, weights are
 * drawn from its 'init' stream and dropout masks from its 'dropout' stream; without, weights are
 * zeros to be loaded.
 */
export function buildLanguageModel(
  config: LmModelConfig,
  vocabSize: number,
  random?: RandomStreams,
): LanguageModel {
  const { layers, width, heads, context, dropout } = config;
  const init = random ? { rng: random.fromSeed('init'), dropoutRng: random.stream('dropout') } : {};
  const noIds = { bosTokenId: null, eosTokenIds: [], padTokenId: null };
  switch (config.model) {
    case 'gpt2': {
      const c: Gpt2Config = {
        modelType: 'gpt2',
        vocabSize,
        nPositions: context,
        nEmbd: width,
        nLayer: layers,
        nHead: heads,
        nInner: 4 * width,
        activationFunction: 'gelu_new',
        activation: 'gelu_tanh',
        layerNormEpsilon: 1e-5,
        tieWordEmbeddings: true,
        scaleAttnWeights: true,
        residPdrop: dropout,
        embdPdrop: dropout,
        // LIMITATION: GPT2 does not apply attention dropout; it is recorded for Hugging Face.
        attnPdrop: dropout,
        initializerRange: 0.02,
        ...noIds,
      };
      const m = new GPT2(c, init);
      return { module: m, logits: (ids) => m.call(ids), hfConfig: hfConfigText(c) };
    }
    case 'llama': {
      // LLaMA's feed-forward width: 8/3 of the model width, rounded up to a multiple of 8.
      const intermediate = Math.ceil((8 * width) / 3 / 8) * 8;
      const c: LlamaConfig = {
        modelType: 'llama',
        vocabSize,
        hiddenSize: width,
        intermediateSize: intermediate,
        numHiddenLayers: layers,
        numAttentionHeads: heads,
        numKeyValueHeads: heads,
        headDim: Math.floor(width / heads),
        hiddenAct: 'silu',
        maxPositionEmbeddings: context,
        rmsNormEps: 1e-5,
        ropeTheta: 10000,
        ropeScaling: null,
        tieWordEmbeddings: false,
        attentionBias: false,
        mlpBias: false,
        // LIMITATION: LLaMA has no dropout; the config's dropout is not used for it.
        attentionDropout: 0,
        initializerRange: 0.02,
        ...noIds,
      };
      const m = new Llama(c, init);
      return { module: m, logits: (ids) => m.call(ids), hfConfig: hfConfigText(c) };
    }
    case 'transformer': {
      const m = new ConfigurableTransformer(
        {
          vocabSize,
          contextLength: context,
          dModel: width,
          nLayers: layers,
          nHeads: heads,
          dropout,
        },
        init,
      );
      return { module: m, logits: (ids) => m.call(ids), hfConfig: null };
    }
    case 'lstm': {
      const m = new LSTMLM({ vocabSize, dHidden: width, nLayers: layers, dropout }, init);
      // LIMITATION: each window starts from a zero state (windows are drawn at random, not in
      // sequence), so no state is carried across windows as in truncated BPTT.
      return { module: m, logits: (ids) => m.call(ids), hfConfig: null };
    }
  }
}

/** Mean cross-entropy per token of `model` on `batch`: logits `[B, T, V]` against `[B, T]`. */
export function lmLoss(model: LanguageModel, batch: TokenBatch): Tensor {
  return crossEntropy(model.logits(batch.x), batch.y);
}

/** The language-modelling task; see the file comment. */
export class LanguageModelTask implements TrainTask<TokenBatch> {
  readonly itemName = 'tokens';
  readonly model: Module;
  private readonly windows: RandomWindows;
  private readonly heldOut: TokenBatch[];

  constructor(
    readonly lm: LanguageModel,
    train: Int32Array,
    val: Int32Array,
    config: Pick<TrainLmConfig, 'context' | 'batchSize' | 'evalBatches'>,
    random: RandomStreams,
  ) {
    this.model = lm.module;
    this.windows = new RandomWindows(
      train,
      config.context,
      config.batchSize,
      random.fromSeed('data'),
    );
    this.heldOut = sequentialBatches(val, config.context, config.batchSize, config.evalBatches);
  }

  nextBatch(): TokenBatch {
    return this.windows.next();
  }

  lossOnBatch(batch: TokenBatch): Tensor {
    return lmLoss(this.lm, batch);
  }

  batchItems(batch: TokenBatch): number {
    return batch.y.size;
  }

  evalBatches(): readonly TokenBatch[] {
    return this.heldOut;
  }

  dataPosition(): JsonValue {
    return { batches: this.windows.position };
  }

  restoreDataPosition(position: JsonValue): void {
    const batches = (position as { batches?: unknown } | null)?.batches;
    if (typeof batches !== 'number') {
      throw new TypeError(
        `LanguageModelTask: a data position is {batches: n}, got ${JSON.stringify(position)}`,
      );
    }
    this.windows.position = batches;
  }
}

/** Everything `train lm` sets up from its config: the task and what describes it. */
export interface LmSetup {
  task: LanguageModelTask;
  tokenizer: Tokenizer;
  /** Facts for the start of the run and for task.json. */
  facts: {
    corpus: string;
    characters: number;
    tokens: number;
    trainTokens: number;
    heldOutTokens: number;
    vocabSize: number;
    parameters: number;
  };
}

/** Tokenizes `corpus`, splits it and builds the model and the task for `config`. */
export function setupLanguageModel(
  config: TrainLmConfig,
  corpus: Corpus,
  tokenizer: Tokenizer,
  random: RandomStreams,
): LmSetup {
  const ids = encodeCorpus(tokenizer, corpus.text, corpus.source);
  const { train, val } = splitTokens(ids, config.valFraction, config.context, corpus.source);
  const lm = buildLanguageModel(config, tokenizer.vocabSize, random);
  const task = new LanguageModelTask(lm, train, val, config, random);
  return {
    task,
    tokenizer,
    facts: {
      corpus: corpus.source,
      characters: corpus.text.length,
      tokens: ids.length,
      trainTokens: train.length,
      heldOutTokens: val.length,
      vocabSize: tokenizer.vocabSize,
      parameters: lm.module.numParameters(),
    },
  };
}
