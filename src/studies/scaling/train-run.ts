/**
 * Trains one run of the scaling sweep in this process, as an ordinary run in the run store (kind
 * 'scaling', config = the run spec, so a finished run is found again by its config hash).
 *
 * The held-out loss is logged at the spec's log-spaced `evalSteps` (more points at small compute,
 * where the frontier bends), next to the trainer's cumulative, kernel-counted `train/flops`.
 * Evaluation FLOPs are not counted as training compute.
 *
 * LIMITATION: runs write no checkpoints; an interrupted run is trained again from the start on the
 * next sweep (runs of the quick preset take seconds to minutes).
 */
import { encodeCorpus, loadCorpus, makeTokenizer, splitTokens } from '../../data/text.js';
import { ConfigurableTransformer } from '../../models/transformer.js';
import { Adam, AdamW } from '../../optim/adam.js';
import { RunStore } from '../../runs/store.js';
import { RandomStreams } from '../../train/random-streams.js';
import { makeSchedule } from '../../train/schedule.js';
import type { TrainTask } from '../../train/task.js';
import { buildLanguageModel, type LanguageModel, LanguageModelTask } from '../../train/tasks/lm.js';
import { Trainer } from '../../train/trainer.js';
import type { ScalingRunSpec } from './config.js';

/** The model of `spec` for a vocabulary of `vocab`. */
function buildModel(spec: ScalingRunSpec, vocab: number, random: RandomStreams): LanguageModel {
  if (spec.transformer === null) {
    const c = { model: 'lstm' as const, ...spec, dropout: 0 };
    return buildLanguageModel(c, vocab, random);
  }
  const m = new ConfigurableTransformer(
    {
      vocabSize: vocab,
      contextLength: spec.context,
      dModel: spec.width,
      nLayers: spec.layers,
      nHeads: spec.heads,
      ...spec.transformer,
    },
    { rng: random.fromSeed('init'), dropoutRng: random.stream('dropout') },
  );
  return { module: m, logits: (ids) => m.call(ids), hfConfig: null };
}

/** The data of a run, read and tokenized (character-level). */
export function loadRunData(spec: Pick<ScalingRunSpec, 'data' | 'valFraction' | 'context'>) {
  const corpus = loadCorpus(spec.data === 'moby-dick' ? undefined : spec.data);
  const tokenizer = makeTokenizer('char', corpus.text);
  const ids = encodeCorpus(tokenizer, corpus.text, corpus.source);
  const { train, val } = splitTokens(ids, spec.valFraction, spec.context, corpus.source);
  return { corpus, tokenizer, train, val };
}

/** A trainer for `spec` without a run (for `measureFlopsPerSecond`), or reporting to `onStep`. */
function makeTrainer(
  spec: ScalingRunSpec,
  data: ReturnType<typeof loadRunData>,
  steps: number,
  onStep?: (trainer: Trainer<unknown>, step: number, metrics: Record<string, number>) => void,
): Trainer<unknown> {
  const random = new RandomStreams(spec.seed);
  const lm = buildModel(spec, data.tokenizer.vocabSize, random);
  const task = new LanguageModelTask(lm, data.train, data.val, spec, random);
  const params = task.model.parameters();
  const opt = { lr: spec.lr, weightDecay: spec.weightDecay };
  const optimizer = spec.optimizer === 'adam' ? new Adam(params, opt) : new AdamW(params, opt);
  const trainer: Trainer<unknown> = new Trainer(task as TrainTask<unknown>, optimizer, {
    totalSteps: steps,
    schedule: makeSchedule(spec.schedule, {
      lr: spec.lr,
      warmupSteps: Math.min(spec.warmup, steps),
      totalSteps: steps,
    }),
    random,
    gradClip: spec.gradClip,
    evalEvery: 0,
    checkpointDir: null,
    callbacks: { onStep: (step, metrics) => onStep?.(trainer, step, { ...metrics }) },
  });
  return trainer;
}

/**
 * Seconds per optimiser update of `spec` in this process (2 warm-up steps, then `steps` timed),
 * for the plan's time estimate.
 */
export async function measureSecondsPerStep(
  spec: ScalingRunSpec,
  data: ReturnType<typeof loadRunData>,
  steps = 4,
): Promise<number> {
  let startedAt = 0;
  let seconds = 0;
  const trainer = makeTrainer(spec, data, steps + 2, (_t, step) => {
    if (step === 2) startedAt = performance.now();
    else if (step === steps + 2) seconds = (performance.now() - startedAt) / 1000 / steps;
  });
  await trainer.run();
  return seconds;
}

/** The name shown by `sextant runs ls`. */
export function runName(spec: ScalingRunSpec): string {
  return `scaling ${spec.family} w${spec.width}`;
}

/**
 * Trains `spec` into the store at `storeRoot`; resolves to the run id. A loss that turns
 * non-finite marks the run failed (the analysis lists it as diverged) and rejects.
 */
export async function trainScalingRun(spec: ScalingRunSpec, storeRoot: string): Promise<string> {
  const store = RunStore.open(storeRoot);
  try {
    const data = loadRunData(spec);
    const run = store.create({
      name: runName(spec),
      kind: 'scaling',
      config: spec as unknown as Record<string, unknown>,
    });
    const evalAt = new Set(spec.evalSteps);
    const trainer = makeTrainer(spec, data, spec.steps, (t, step, metrics) => {
      const extra = evalAt.has(step) && step !== spec.steps ? t.evaluate() : {};
      run.logMetrics(step, { ...metrics, ...extra });
    });
    try {
      const result = await trainer.run();
      run.finish(result.finalMetrics);
    } catch (e) {
      run.fail(e);
      throw e;
    }
    return run.id;
  } finally {
    store.close();
  }
}
