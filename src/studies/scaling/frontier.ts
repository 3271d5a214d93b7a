/**
 * The compute-loss frontier of a family of runs: pool every logged (compute, loss) point of every
 * run, keep the lower envelope (spec A.1.2 step 2), and split off runs that diverged.
 *
 * Compute is the run's cumulative `train/flops` (counted by the kernels) at the step where its
 * `val/loss` was logged.
 */

/** One logged evaluation of one run. */
export interface CurvePoint {
  /** Cumulative training FLOPs when the loss was measured. */
  compute: number;
  /** Held-out loss, nats per token (total loss L, not reducible). */
  loss: number;
}

/** One run's training curve, as the analysis sees it. */
export interface RunCurve {
  /** The run's id (or any unique name). */
  run: string;
  family: string;
  /** Free label for tables ('width 64'). */
  label?: string;
  points: readonly CurvePoint[];
}

/** A frontier point remembers the run it came from. */
export interface FrontierPoint extends CurvePoint {
  run: string;
}

/**
 * The Pareto frontier of `points`: a point stays unless another has no more compute and less
 * loss, or less compute and no more loss. Sorted by compute; loss strictly falls along it.
 * Non-finite and non-positive values are dropped first.
 */
export function frontier(points: readonly FrontierPoint[]): FrontierPoint[] {
  const ok = points.filter(
    (p) => Number.isFinite(p.compute) && Number.isFinite(p.loss) && p.compute > 0 && p.loss > 0,
  );
  ok.sort((p, q) => p.compute - q.compute || p.loss - q.loss);
  const out: FrontierPoint[] = [];
  let lowest = Number.POSITIVE_INFINITY;
  for (const p of ok) {
    if (p.loss < lowest) {
      out.push(p);
      lowest = p.loss;
    }
  }
  return out;
}

/** Every point of every run, tagged with its run. */
export function pooledPoints(runs: readonly RunCurve[]): FrontierPoint[] {
  return runs.flatMap((r) => r.points.map((p) => ({ ...p, run: r.run })));
}

/** Why a run was left out of the fits. */
export interface ExcludedRun {
  run: string;
  family: string;
  reason: string;
}

/**
 * Splits `runs` into those that trained and those that diverged: a run is left out when a logged
 * loss is not finite, when it logged fewer than 2 points, or when its last loss is above its
 * first (it got worse overall).
 */
export function splitDiverged(runs: readonly RunCurve[]): {
  kept: RunCurve[];
  excluded: ExcludedRun[];
} {
  const kept: RunCurve[] = [];
  const excluded: ExcludedRun[] = [];
  for (const r of runs) {
    const bad = r.points.find((p) => !Number.isFinite(p.loss) || !Number.isFinite(p.compute));
    const first = r.points[0];
    const last = r.points[r.points.length - 1];
    let reason: string | null = null;
    if (bad !== undefined) reason = `non-finite loss or compute at ${bad.compute} FLOPs`;
    else if (first === undefined || last === undefined || r.points.length < 2) {
      reason = `only ${r.points.length} logged point(s)`;
    } else if (last.loss > first.loss) {
      reason = `loss rose from ${first.loss.toFixed(3)} to ${last.loss.toFixed(3)}`;
    }
    if (reason === null) kept.push(r);
    else excluded.push({ run: r.run, family: r.family, reason });
  }
  return { kept, excluded };
}
