/**
 * Trains one run of the scaling sweep in this process, as an ordinary run in the run store (kind
 * 'scaling', config = the run spec, so a finished run is found again by its config hash).
 *
 * The held-out loss is logged at the spec's log-spaced `evalSteps` (more points at small compute,
 * where the frontier bends), next to the trainer's cumulative, kernel-counted `train/flops`.
 * Evaluation FLOPs are not counted as training compute.
 *
 * Checkpoints are written every `checkpointEvery` steps into the run's folder. When a sweep finds
 * an interrupted run of the same config (its process was killed), it takes that run over from
 * its newest checkpoint: the metrics logged after that step are dropped and logged again, and the
 * trainer continues bitwise where it stopped, so a killed sweep loses nothing it had written.
 */
import { join } from 'node:path';
import { encodeCorpus, loadCorpus, makeTokenizer, splitTokens } from '../../data/text.js';
import { ConfigurableTransformer } from '../../models/transformer.js';
import { Adam, AdamW } from '../../optim/adam.js';
import { configHash } from '../../runs/canonical.js';
import type { Run } from '../../runs/run.js';
import { RunStore } from '../../runs/store.js';
import { type Checkpoint, latestCheckpoint, readCheckpoint } from '../../train/checkpoint.js';
import { RandomStreams } from '../../train/random-streams.js';
import { makeSchedule } from '../../train/schedule.js';
import type { TrainTask } from '../../train/task.js';
import { buildLanguageModel, type LanguageModel, LanguageModelTask } from '../../train/tasks/lm.js';
import { Trainer } from '../../train/trainer.js';
import { familyParts, type ScalingRunSpec } from './config.js';

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

/** The data of a run, read and tokenized (by characters, or by the spec's tokenizer file). */
export function loadRunData(
  spec: Pick<ScalingRunSpec, 'data' | 'valFraction' | 'context' | 'tokenizer'>,
) {
  const corpus = loadCorpus(spec.data === 'moby-dick' ? undefined : spec.data);
  const tokenizer = makeTokenizer(spec.tokenizer ?? 'char', corpus.text);
  const ids = encodeCorpus(tokenizer, corpus.text, corpus.source);
  const { train, val } = splitTokens(ids, spec.valFraction, spec.context, corpus.source);
  return { corpus, tokenizer, train, val };
}

/** Where a trainer writes checkpoints, and the checkpoint it resumes from. */
interface TrainerDisk {
  run: Run;
  every: number;
  resumeFrom: Checkpoint | null;
}

/** A trainer for `spec`, reporting each step to `onStep`; with `disk`, it checkpoints there. */
function makeTrainer(
  spec: ScalingRunSpec,
  data: ReturnType<typeof loadRunData>,
  steps: number,
  onStep?: (trainer: Trainer<unknown>, step: number, metrics: Record<string, number>) => void,
  disk?: TrainerDisk,
): Trainer<unknown> {
  const random = new RandomStreams(spec.seed, disk?.resumeFrom?.trainer.random);
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
    checkpointDir: disk?.run.checkpointDir() ?? null,
    checkpointEvery: disk?.every ?? 0,
    checkpointFiles: { 'config.json': `${JSON.stringify(spec, null, 2)}\n` },
    callbacks: {
      onStep: (step, metrics) => onStep?.(trainer, step, { ...metrics }),
      onCheckpoint: (step, dir) => disk?.run.checkpointSaved(step, dir),
    },
  });
  if (disk?.resumeFrom) trainer.restore(disk.resumeFrom);
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

/**
 * The name shown by `sextant runs ls` and in the plan: family, width, seed, and what differs
 * from the family's own recipe (an ablation's swap, an LR-sweep probe's LR).
 */
export function runName(spec: ScalingRunSpec): string {
  const diff: string[] = [];
  const own = familyParts(spec.family);
  if (spec.transformer !== null && own !== null) {
    for (const key of ['position', 'norm', 'placement', 'activation'] as const) {
      if (spec.transformer[key] !== own[key]) diff.push(`${key}=${spec.transformer[key]}`);
    }
  }
  const optimizer = spec.family === 'retro' ? 'adam' : 'adamw';
  const schedule = spec.family === 'retro' ? 'inverse_sqrt' : 'cosine';
  if (spec.optimizer !== optimizer) diff.push(`optimizer=${spec.optimizer}`);
  if (spec.schedule !== schedule) diff.push(`schedule=${spec.schedule}`);
  if (spec.role === 'lr-sweep') diff.push(`lr-sweep lr=${spec.lr.toExponential(2)}`);
  const extra = diff.length > 0 ? ` ${diff.join(' ')}` : '';
  return `scaling ${spec.family} w${spec.width} s${spec.seed}${extra}`;
}

/** The newest interrupted run of `spec`'s config that has a checkpoint, with that checkpoint. */
function interruptedRun(store: RunStore, spec: ScalingRunSpec) {
  const runs = store.findByConfigHash(configHash(spec), { status: 'interrupted' }).reverse();
  for (const r of runs) {
    const latest = latestCheckpoint(join(r.dir, 'checkpoints'));
    if (latest !== null) return { id: r.id, checkpoint: readCheckpoint(latest.dir) };
  }
  return null;
}

/**
 * Trains `spec` into the store at `storeRoot`, checkpointing every `checkpointEvery` steps (0:
 * only at the end), or continues its interrupted run; resolves to the run id. A loss that turns
 * non-finite marks the run failed (the analysis lists it as diverged) and rejects.
 */
export async function trainScalingRun(
  spec: ScalingRunSpec,
  storeRoot: string,
  checkpointEvery = 0,
): Promise<string> {
  const store = RunStore.open(storeRoot);
  try {
    const data = loadRunData(spec);
    const previous = interruptedRun(store, spec);
    const run =
      previous !== null
        ? store.resume(previous.id, { fromStep: previous.checkpoint.trainer.step })
        : store.create({
            name: runName(spec),
            kind: 'scaling',
            config: spec as unknown as Record<string, unknown>,
          });
    const evalAt = new Set(spec.evalSteps);
    const disk = { run, every: checkpointEvery, resumeFrom: previous?.checkpoint ?? null };
    try {
      const trainer = makeTrainer(
        spec,
        data,
        spec.steps,
        (t, step, metrics) => {
          const extra = evalAt.has(step) && step !== spec.steps ? t.evaluate() : {};
          run.logMetrics(step, { ...metrics, ...extra });
        },
        disk,
      );
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
