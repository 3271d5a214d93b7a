/**
 * Learning-rate schedules: pure functions from the index of an optimiser update to its learning
 * rate, so a resumed run gets exactly the rates an uninterrupted one would.
 *
 * Every schedule starts with an optional linear warmup over `warmupSteps` updates, then follows
 * its shape. Step `s` counts updates from 0 (the first update is `s = 0`):
 *
 *   warmup (s < W):  lr * (s + 1) / W                        (reaches lr at s = W - 1)
 *   constant:        lr
 *   cosine:          min + (lr - min) * (1 + cos(pi * p)) / 2,  p = (s - W) / (S - W) in [0, 1]
 *   linear:          min + (lr - min) * (1 - p)
 *   inverse_sqrt:    lr * sqrt(max(W, 1) / (s + 1))           (continuous with the warmup)
 *
 * where `min = lr * minLrRatio` and `S` is the total number of updates. After `S` updates cosine
 * and linear stay at `min`.
 */

/** The shapes a schedule can take. */
export const SCHEDULE_KINDS = ['cosine', 'linear', 'inverse_sqrt', 'constant'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** A learning-rate schedule: the rate of update `step` (0-based). */
export type Schedule = (step: number) => number;

export interface ScheduleOptions {
  /** The peak learning rate, > 0 (reached at the end of warmup). */
  lr: number;
  /** Updates of linear warmup from lr / W to lr; default 0 (none). */
  warmupSteps?: number;
  /** Total updates of the run; needed by cosine and linear, ignored by the others. */
  totalSteps?: number;
  /** The floor of cosine and linear decay as a fraction of lr, in [0, 1]; default 0.1. */
  minLrRatio?: number;
}

function checkOptions(kind: ScheduleKind, o: ScheduleOptions): Required<ScheduleOptions> {
  const where = `schedule '${kind}'`;
  if (!(typeof o.lr === 'number' && Number.isFinite(o.lr) && o.lr > 0)) {
    throw new RangeError(`${where}: lr must be a finite number > 0, got ${o.lr}`);
  }
  const warmupSteps = o.warmupSteps ?? 0;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new RangeError(`${where}: warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  }
  const minLrRatio = o.minLrRatio ?? 0.1;
  if (!(minLrRatio >= 0 && minLrRatio <= 1)) {
    throw new RangeError(`${where}: minLrRatio must be in [0, 1], got ${minLrRatio}`);
  }
  const decays = kind === 'cosine' || kind === 'linear';
  const totalSteps = o.totalSteps ?? 0;
  if (decays && (!Number.isInteger(totalSteps) || totalSteps < 1)) {
    throw new RangeError(`${where}: totalSteps must be an integer >= 1, got ${o.totalSteps}`);
  }
  return { lr: o.lr, warmupSteps, totalSteps, minLrRatio };
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`schedule: step must be an integer >= 0, got ${step}`);
  }
}

/**
 * The schedule of `kind` with `options` (see the file comment for the formulas).
 * @example
 * const lrAt = makeSchedule('cosine', { lr: 3e-4, warmupSteps: 100, totalSteps: 2000 });
 * optimizer.setLr(lrAt(step));
 */
export function makeSchedule(kind: ScheduleKind, options: ScheduleOptions): Schedule {
  if (!SCHEDULE_KINDS.includes(kind)) {
    throw new RangeError(
      `schedule: kind must be one of ${SCHEDULE_KINDS.join(', ')}, got ${String(kind)}`,
    );
  }
  const { lr, warmupSteps: W, totalSteps: S, minLrRatio } = checkOptions(kind, options);
  const min = lr * minLrRatio;
  // The fraction of the decay phase done at step s, in [0, 1].
  const progress = (s: number) => (S <= W ? 1 : Math.min(1, Math.max(0, (s - W) / (S - W))));
  return (step: number) => {
    checkStep(step);
    if (step < W) return (lr * (step + 1)) / W;
    switch (kind) {
      case 'constant':
        return lr;
      case 'cosine':
        return min + ((lr - min) * (1 + Math.cos(Math.PI * progress(step)))) / 2;
      case 'linear':
        return min + (lr - min) * (1 - progress(step));
      case 'inverse_sqrt':
        return lr * Math.sqrt(Math.max(W, 1) / (step + 1));
    }
  };
}
