/**
 * The image classification task of `sextant train image`: an MLP on flattened pixels, or a Vision
 * Transformer on patches, trained with cross-entropy on an IDX image set (MNIST, Fashion-MNIST).
 * A seeded random `valFraction` of the images is held out; training batches follow a seeded
 * order per epoch (data/sampler.ts).
 *
 * Dimension legend: B batch, H height, W width, K classes.
 */

import type { ImageSet } from '../../data/idx.js';
import { type EpochPosition, EpochSampler } from '../../data/sampler.js';
import type { VitConfig } from '../../io/hf-config.js';
import { MLP } from '../../models/mlp.js';
import { ViT } from '../../models/vit.js';
import type { Module } from '../../nn/module.js';
import { tensor } from '../../tensor/create.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import { reshape } from '../../tensor/ops/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { JsonValue } from '../checkpoint.js';
import type { TrainImageConfig } from '../config.js';
import { ConfigValidationError } from '../config-resolve.js';
import type { RandomStreams } from '../random-streams.js';
import type { Metrics, TrainTask } from '../task.js';
import {
  classifierMetrics,
  hfConfigText,
  hiddenSizes,
  type LabelledBatch,
  splitIndices,
} from './common.js';

/** The fields of a `train image` config that shape the model. */
export type ImageModelConfig = Pick<
  TrainImageConfig,
  'model' | 'layers' | 'width' | 'heads' | 'patch' | 'dropout'
>;

/** What the model needs to know of the images. */
export interface ImageShape {
  height: number;
  width: number;
  numClasses: number;
}

/** An image classifier as the task sees it: pixels `[B, H, W]` to logits `[B, K]`. */
export interface ImageClassifier {
  module: Module;
  /** Reshapes the batch `[B, H, W]` to what the model reads and returns logits `[B, K]`. */
  logits(pixels: Tensor): Tensor;
  hfConfig: string | null;
}

/**
 * Builds the classifier `config.model` for images of `shape`. With `random`, weights come from
 * its 'init' stream and dropout from its 'dropout' stream; without, zeros to be loaded.
 */
export function buildImageClassifier(
  config: ImageModelConfig,
  shape: ImageShape,
  random?: RandomStreams,
): ImageClassifier {
  const { height: H, width: W, numClasses: K } = shape;
  const init = random ? { rng: random.fromSeed('init'), dropoutRng: random.stream('dropout') } : {};
  if (config.model === 'mlp') {
    const m = new MLP(
      { sizes: [H * W, ...hiddenSizes(config.layers, config.width), K], dropout: config.dropout },
      init,
    );
    return {
      module: m,
      logits: (pixels) => m.call(reshape(pixels, [pixels.shape[0] as number, H * W])), // [B, K]
      hfConfig: null,
    };
  }
  if (H !== W) {
    // LIMITATION: ViT here takes square images (HF's image_size is one number).
    throw new ConfigValidationError([
      `model: vit needs square images, these are ${H} x ${W} pixels (use mlp)`,
    ]);
  }
  if (H % config.patch !== 0) {
    throw new ConfigValidationError([
      `patch: expected a divisor of the image size ${H}, got ${config.patch}`,
    ]);
  }
  if (config.width % config.heads !== 0) {
    throw new ConfigValidationError([
      `heads: expected a divisor of width (${config.width}), got ${config.heads}`,
    ]);
  }
  const c: VitConfig = {
    modelType: 'vit',
    hiddenSize: config.width,
    numHiddenLayers: config.layers,
    numAttentionHeads: config.heads,
    intermediateSize: 4 * config.width,
    hiddenAct: 'gelu',
    activation: 'gelu',
    layerNormEps: 1e-12,
    imageSize: H,
    patchSize: config.patch,
    numChannels: 1,
    qkvBias: true,
    hiddenDropoutProb: config.dropout,
    attentionProbsDropoutProb: 0,
    initializerRange: 0.02,
    id2label: Array.from({ length: K }, (_, k) => `LABEL_${k}`),
  };
  const m = new ViT(c, init);
  return {
    module: m,
    logits: (pixels) => m.call(reshape(pixels, [pixels.shape[0] as number, 1, H, W])), // [B, K]
    hfConfig: hfConfigText(c),
  };
}

/** The batch of images at `indices`: pixels `[B, H, W]` and labels `[B]`. */
export function imageBatch(set: ImageSet, indices: ArrayLike<number>): LabelledBatch {
  const { height: H, width: W } = set;
  const B = indices.length;
  const pixels = new Float32Array(B * H * W);
  const labels = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const i = indices[b] as number;
    pixels.set(set.pixels.subarray(i * H * W, (i + 1) * H * W), b * H * W);
    labels[b] = set.labels[i] as number;
  }
  return { x: tensor(pixels, { shape: [B, H, W] }), y: tensor(labels, { shape: [B] }) };
}

/** Consecutive batches over `indices` (the last may be smaller), at most `maxBatches`. */
export function batchesOver<T>(
  indices: ArrayLike<number>,
  batchSize: number,
  maxBatches: number,
  make: (slice: number[]) => T,
): T[] {
  const out: T[] = [];
  for (let start = 0; start < indices.length && out.length < maxBatches; start += batchSize) {
    out.push(make(Array.from(indices).slice(start, start + batchSize)));
  }
  return out;
}

/** The image classification task; see the file comment. */
export class ImageTask implements TrainTask<LabelledBatch> {
  readonly model: Module;
  private readonly sampler: EpochSampler;
  private readonly heldOut: LabelledBatch[];

  constructor(
    readonly classifier: ImageClassifier,
    private readonly set: ImageSet,
    private readonly trainIndices: Int32Array,
    valIndices: Int32Array,
    private readonly config: Pick<TrainImageConfig, 'batchSize' | 'evalBatches'>,
    random: RandomStreams,
  ) {
    this.model = classifier.module;
    this.sampler = new EpochSampler(trainIndices.length, random.fromSeed('data'));
    this.heldOut = batchesOver(valIndices, config.batchSize, config.evalBatches, (slice) =>
      imageBatch(set, slice),
    );
  }

  nextBatch(): LabelledBatch {
    const picks = this.sampler
      .next(this.config.batchSize)
      .map((k) => this.trainIndices[k] as number);
    return imageBatch(this.set, picks);
  }

  lossOnBatch(batch: LabelledBatch): Tensor {
    return crossEntropy(this.classifier.logits(batch.x), batch.y);
  }

  batchItems(batch: LabelledBatch): number {
    return batch.y.size;
  }

  evalBatches(): readonly LabelledBatch[] {
    return this.heldOut;
  }

  evaluate(): Metrics {
    return classifierMetrics(this.heldOut, (x) => this.classifier.logits(x));
  }

  dataPosition(): JsonValue {
    return { ...this.sampler.position };
  }

  restoreDataPosition(position: JsonValue): void {
    this.sampler.position = position as unknown as EpochPosition;
  }
}

/** Splits `set`, builds the classifier and the task for `config`. */
export function setupImageTask(
  config: TrainImageConfig,
  set: ImageSet,
  random: RandomStreams,
): { task: ImageTask; facts: Record<string, number | string> } {
  if (set.count < 2) {
    throw new ConfigValidationError([
      `data: expected at least 2 images (one to train on, one to hold out), got ${set.count}`,
    ]);
  }
  const { train, val } = splitIndices(set.count, config.valFraction, random.fromSeed('split'));
  const classifier = buildImageClassifier(config, set, random);
  const task = new ImageTask(classifier, set, train, val, config, random);
  return {
    task,
    facts: {
      images: set.source.images,
      labels: set.source.labels,
      examples: set.count,
      trainExamples: train.length,
      heldOutExamples: val.length,
      imageSize: `${set.height} x ${set.width}`,
      classes: set.numClasses,
      parameters: classifier.module.numParameters(),
    },
  };
}
