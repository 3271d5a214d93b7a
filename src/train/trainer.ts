/**
 * The trainer: runs optimiser updates on a `TrainTask` with a learning-rate schedule, gradient
 * accumulation and clipping, evaluates on the task's fixed held-out set at an interval, reports
 * metrics through callbacks, and writes checkpoints that a resume continues from bitwise.
 *
 * One step (update `s`, 1-based) is:
 *   1. set the learning rate to `schedule(s - 1)`;
 *   2. for each of `gradAccumSteps` micro-batches: draw it, compute its mean loss, stop if that
 *      is not finite, and backpropagate loss / k (gradients add up over the micro-batches);
 *   3. clip the global gradient norm (when asked) and stop if the norm is not finite;
 *   4. take the optimiser step;
 *   5. evaluate every `evalEvery` steps and at the last, and report the step's metrics;
 *   6. checkpoint every `checkpointEvery` steps, at the last, and when a stop was requested.
 *
 * Metrics (names with slashes, as the run store and the report expect): `train/loss` (mean over
 * the step's items), `train/lr`, `train/grad_norm` (before clipping), `train/flops` (cumulative
 * FLOPs of training steps as the engine counted them: forward, backward, optimiser; evaluation
 * excluded), `train/<items>` (cumulative tokens or samples), `train/<items>_per_s` (this step's
 * throughput by the wall clock), and the task's held-out metrics (`val/loss`...) when evaluated.
 *
 * The trainer never prints; the CLI draws progress from `onStep`. It yields to the event loop
 * between steps, so a SIGINT handler can call `requestStop()`, which ends the run at the next step
 * boundary with a checkpoint.
 */

import { clipGradNorm } from '../optim/clip.js';
import type { GroupHypers, Optimizer } from '../optim/optimizer.js';
import { backward } from '../tensor/autograd.js';
import { readFlops } from '../tensor/flops.js';
import { affine } from '../tensor/ops/elementwise.js';
import { tensorScope } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Checkpoint, type JsonValue, writeCheckpoint } from './checkpoint.js';
import { NonFiniteLossError, ResumeError } from './errors.js';
import type { RandomStreams } from './random-streams.js';
import type { Schedule } from './schedule.js';
import { evaluateLoss, inEvalMode, type Metrics, type TrainTask } from './task.js';

/** What the trainer needs of an optimiser (`SGD`, `Adam`, `AdamW` all fit). */
export type TrainerOptimizer = Pick<
  Optimizer<GroupHypers>,
  'setLr' | 'zeroGrad' | 'step' | 'stateDict' | 'loadStateDict'
>;

/** What the trainer reports as it goes. Every callback is optional. */
export interface TrainerCallbacks {
  /** After every step, with that step's metrics (held-out ones too when it evaluated). */
  onStep?(step: number, metrics: Metrics): void;
  /** After a checkpoint folder is complete on disk. */
  onCheckpoint?(step: number, dir: string): void;
}

export interface TrainerOptions {
  /** Optimiser updates in the whole run (a resumed run counts those already done). */
  totalSteps: number;
  /** The learning rate of each update (0-based index). */
  schedule: Schedule;
  /** The run's random streams: the seed and, on a resume, the restored states. */
  random: RandomStreams;
  /** Micro-batches per update, their gradients summed (each loss scaled by 1/k); default 1. */
  gradAccumSteps?: number;
  /** Clip the global gradient norm to this; null or absent: no clipping. */
  gradClip?: number | null;
  /** Evaluate every this many steps (and always at the last); 0: only at the last. Default 0. */
  evalEvery?: number;
  /** Checkpoint every this many steps (and at the last, and on a stop); 0: only then. */
  checkpointEvery?: number;
  /** Where checkpoints go (`<run>/checkpoints`); null or absent: none are written. */
  checkpointDir?: string | null;
  /** Checkpoints kept on disk, the newest; default 2. */
  keepCheckpoints?: number;
  /** Text files added to every checkpoint (the run's config, the tokenizer), by file name. */
  checkpointFiles?: Readonly<Record<string, string>>;
  callbacks?: TrainerCallbacks;
}

/** How `run()` ended. */
export interface TrainResult {
  /** 'done': all steps ran; 'stopped': `requestStop()` ended it early. */
  status: 'done' | 'stopped';
  /** Updates done. */
  step: number;
  /** The last held-out metrics and the last training loss (`train/loss`), FLOPs, items. */
  finalMetrics: Metrics;
  /** The last checkpoint written, or null. */
  checkpoint: { step: number; dir: string } | null;
  /** Why it stopped early, as given to `requestStop`. */
  stopReason?: string;
}

function checkCount(value: number, field: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`Trainer: ${field} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Counters that survive resumes (saved in every checkpoint). */
interface Counters {
  flops: number;
  items: number;
  trainSeconds: number;
}

/** Trains one task; see the file comment. */
export class Trainer<Batch> {
  private stepsDone = 0;
  private counters: Counters = { flops: 0, items: 0, trainSeconds: 0 };
  private lastCheckpoint: { step: number; dir: string } | null = null;
  private stopReason: string | null = null;
  private lastEval: Metrics = {};
  private lastTrainLoss = Number.NaN;
  private readonly parameters: Tensor[];
  private readonly accum: number;
  private readonly evalEvery: number;
  private readonly checkpointEvery: number;
  private readonly itemName: string;

  constructor(
    readonly task: TrainTask<Batch>,
    readonly optimizer: TrainerOptimizer,
    readonly options: TrainerOptions,
  ) {
    checkCount(options.totalSteps, 'totalSteps', 1);
    this.accum = checkCount(options.gradAccumSteps ?? 1, 'gradAccumSteps', 1);
    this.evalEvery = checkCount(options.evalEvery ?? 0, 'evalEvery', 0);
    this.checkpointEvery = checkCount(options.checkpointEvery ?? 0, 'checkpointEvery', 0);
    checkCount(options.keepCheckpoints ?? 2, 'keepCheckpoints', 1);
    const clip = options.gradClip;
    if (clip !== null && clip !== undefined && !(clip > 0 && Number.isFinite(clip))) {
      throw new RangeError(`Trainer: gradClip must be a finite number > 0 or null, got ${clip}`);
    }
    this.parameters = task.parameters?.() ?? task.model.parameters();
    this.itemName = task.itemName ?? 'samples';
  }

  /** Updates done so far (the checkpoint's step after `restore`). */
  get step(): number {
    return this.stepsDone;
  }

  /** The newest checkpoint written or resumed from, or null. */
  get latestCheckpoint(): { step: number; dir: string } | null {
    return this.lastCheckpoint;
  }

  /**
   * Continues from `checkpoint`: loads the model's and the optimiser's states, the data position
   * and the counters. The random streams must already have been built from
   * `checkpoint.trainer.random` (before the task, so the model's dropout stream is the restored
   * one); this is checked. The seed and total steps must match (the schedule depends on them).
   */
  restore(checkpoint: Checkpoint): void {
    const saved = checkpoint.trainer;
    const at = `resume from ${checkpoint.dir}`;
    if (saved.seed !== this.options.random.seed) {
      throw new ResumeError(
        `${at}: the checkpoint's seed is ${saved.seed}, this run's ${this.options.random.seed}`,
      );
    }
    if (saved.totalSteps !== this.options.totalSteps) {
      throw new ResumeError(
        `${at}: the checkpoint is of a run of ${saved.totalSteps} steps, this one has ` +
          `${this.options.totalSteps} (the schedule depends on it)`,
      );
    }
    if (saved.step > this.options.totalSteps) {
      throw new ResumeError(`${at}: step ${saved.step} is past the run's ${saved.totalSteps}`);
    }
    const current = this.options.random.state();
    for (const [label, state] of Object.entries(saved.random)) {
      if (JSON.stringify(current[label]) !== JSON.stringify(state)) {
        throw new ResumeError(
          `${at}: random stream '${label}' does not continue from the checkpoint; build the ` +
            'RandomStreams from checkpoint.trainer.random before the task and the model',
        );
      }
    }
    this.task.model.loadStateDict(checkpoint.model);
    this.optimizer.loadStateDict(checkpoint.optimizer);
    this.task.restoreDataPosition(saved.data);
    this.counters = { ...saved.counters };
    this.stepsDone = saved.step;
    this.lastCheckpoint = { step: saved.step, dir: checkpoint.dir };
  }

  /** Asks the run to checkpoint and stop at the next step boundary (a SIGINT handler calls it). */
  requestStop(reason = 'stop requested'): void {
    this.stopReason ??= reason;
  }

  /** The task's held-out metrics now, without gradients and in eval mode. */
  evaluate(): Metrics {
    return tensorScope(() => this.evaluateInScope());
  }

  private evaluateInScope(): Metrics {
    return inEvalMode(this.task.model, () =>
      this.task.evaluate !== undefined
        ? this.task.evaluate()
        : { 'val/loss': evaluateLoss(this.task, this.task.evalBatches()) },
    );
  }

  /** Runs the remaining steps (see the file comment). Rejects with `NonFiniteLossError`. */
  async run(): Promise<TrainResult> {
    const total = this.options.totalSteps;
    this.task.model.train();
    while (this.stepsDone < total && this.stopReason === null) {
      const metrics = this.trainStep();
      const step = this.stepsDone;
      const last = step === total;
      if (last || (this.evalEvery > 0 && step % this.evalEvery === 0)) {
        this.lastEval = this.evaluate();
        Object.assign(metrics, this.lastEval);
      }
      this.options.callbacks?.onStep?.(step, metrics);
      // Let signal handlers and timers run: a SIGINT arrives as an event between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const periodic = this.checkpointEvery > 0 && step % this.checkpointEvery === 0;
      if (last || periodic || this.stopReason !== null) this.saveCheckpoint();
    }
    const stopped = this.stepsDone < total;
    if (stopped && this.lastCheckpoint?.step !== this.stepsDone) this.saveCheckpoint();
    // A run resumed from its last step trains no more, but still reports held-out metrics.
    if (!stopped && Object.keys(this.lastEval).length === 0) this.lastEval = this.evaluate();
    return {
      status: stopped ? 'stopped' : 'done',
      step: this.stepsDone,
      finalMetrics: this.finalMetrics(),
      checkpoint: this.lastCheckpoint,
      ...(stopped ? { stopReason: this.stopReason ?? 'stopped' } : {}),
    };
  }

  /**
   * One optimiser update (steps 1 to 4 of the file comment); returns its training metrics. The
   * step runs in a tensorScope: the next step reuses the memory of this one's activations and
   * temporary gradients instead of waiting for the garbage collector.
   */
  private trainStep(): Metrics {
    return tensorScope(() => this.trainStepInScope());
  }

  private trainStepInScope(): Metrics {
    const step = this.stepsDone + 1;
    const lr = this.options.schedule(step - 1);
    this.optimizer.setLr(lr);
    const flopsBefore = totalFlops();
    const started = performance.now();
    this.optimizer.zeroGrad();
    let lossSum = 0;
    let items = 0;
    for (let micro = 0; micro < this.accum; micro++) {
      const batch = this.task.nextBatch();
      const n = this.task.batchItems(batch);
      const loss = this.task.lossOnBatch(batch);
      const value = loss.item();
      if (!Number.isFinite(value)) {
        const where = this.accum > 1 ? ` (micro-batch ${micro + 1} of ${this.accum})` : '';
        throw new NonFiniteLossError(step, 'loss', value, this.lastCheckpoint, where);
      }
      backward(this.accum > 1 ? affine(loss, 1 / this.accum) : loss);
      lossSum += value * n;
      items += n;
    }
    // Without clipping the norm is still measured (a limit no norm reaches), for the metrics.
    const gradNorm = clipGradNorm(this.parameters, this.options.gradClip ?? Number.MAX_VALUE);
    if (!Number.isFinite(gradNorm)) {
      throw new NonFiniteLossError(step, 'gradient norm', gradNorm, this.lastCheckpoint);
    }
    this.optimizer.step();
    const seconds = (performance.now() - started) / 1000;
    this.counters.flops += totalFlops() - flopsBefore;
    this.counters.items += items;
    this.counters.trainSeconds += seconds;
    this.stepsDone = step;
    this.lastTrainLoss = lossSum / items;
    return {
      'train/loss': this.lastTrainLoss,
      'train/lr': lr,
      'train/grad_norm': gradNorm,
      'train/flops': this.counters.flops,
      [`train/${this.itemName}`]: this.counters.items,
      [`train/${this.itemName}_per_s`]: seconds > 0 ? items / seconds : 0,
    };
  }

  /** Writes a checkpoint of the current step, if a folder was given; returns it or null. */
  saveCheckpoint(): string | null {
    const dir = this.options.checkpointDir;
    if (dir === null || dir === undefined) return null;
    const written = writeCheckpoint({
      dir,
      trainer: {
        step: this.stepsDone,
        totalSteps: this.options.totalSteps,
        seed: this.options.random.seed,
        random: this.options.random.state(),
        data: this.task.dataPosition() as JsonValue,
        counters: { ...this.counters },
      },
      model: this.task.model.stateDict(),
      optimizer: this.optimizer.stateDict(),
      extraFiles: this.options.checkpointFiles,
      keep: this.options.keepCheckpoints ?? 2,
    });
    this.lastCheckpoint = { step: this.stepsDone, dir: written };
    this.options.callbacks?.onCheckpoint?.(this.stepsDone, written);
    return written;
  }

  private finalMetrics(): Metrics {
    const out: Metrics = { ...this.lastEval };
    if (Number.isFinite(this.lastTrainLoss)) out['train/loss'] = this.lastTrainLoss;
    out['train/flops'] = this.counters.flops;
    out[`train/${this.itemName}`] = this.counters.items;
    out['train/seconds'] = this.counters.trainSeconds;
    return out;
  }
}

function totalFlops(): number {
  const f = readFlops();
  return f.forward + f.backward + f.optimizer;
}
