/**
 * Compute-equivalent gains (spec A.1.3–A.1.5): how many times more compute a reference family R
 * needs to reach the loss a new family N reaches; small-scale ablation multipliers read off the
 * training curves at a target loss; and the interaction normalisation that shrinks individual
 * multipliers so their product equals the measured joint gain.
 */

import { computeAtLoss, type PowerLawFit } from './fit.js';
import type { CurvePoint } from './frontier.js';

type Law = Pick<PowerLawFit, 'A' | 'alpha' | 'E'>;

/**
 * CEG_{R->N}(C) = C_R(L_N(C)) / C: the compute R needs for the loss N reaches with `compute`.
 * With equal E this is (A_N/A_R)^(1/alpha_R) * C^(alpha_N/alpha_R - 1). NaN when R never reaches
 * that loss (it lies at or below E_R).
 */
export function cegAtCompute(reference: Law, next: Law, compute: number): number {
  const loss = next.E + next.A * compute ** next.alpha;
  return computeAtLoss(reference, loss) / compute;
}

/** CEG at a fixed total loss: C_R(L) / C_N(L); NaN when either never reaches it. */
export function cegAtLoss(reference: Law, next: Law, loss: number): number {
  return computeAtLoss(reference, loss) / computeAtLoss(next, loss);
}

/**
 * The compute at which a training curve first reaches `loss`, interpolating ln C linearly in
 * ln L between the two logged points that bracket it (spec A.4.6). Null when the curve never
 * gets that low, or starts below it (no bracket).
 */
export function computeToReach(curve: readonly CurvePoint[], loss: number): number | null {
  const pts = [...curve].sort((p, q) => p.compute - q.compute);
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1] as CurvePoint;
    const b = pts[i] as CurvePoint;
    if (a.loss >= loss && b.loss <= loss) {
      if (a.loss === b.loss) return a.compute;
      const t = (Math.log(a.loss) - Math.log(loss)) / (Math.log(a.loss) - Math.log(b.loss));
      return Math.exp(Math.log(a.compute) + t * (Math.log(b.compute) - Math.log(a.compute)));
    }
  }
  return null;
}

/** A by-loss multiplier over seeds: C_ablated(L*) / C_baseline(L*), paired by seed. */
export interface SeedMultiplier {
  mean: number;
  /** 1.96 * SD / sqrt(n) (the paper's error bar); 0 with one seed. */
  halfWidth: number;
  n: number;
  perSeed: number[];
  /** Seeds where a curve never reached the target, with which one. */
  missing: string[];
}

/**
 * The multiplier of an innovation at `targetLoss`: for each seed the compute the ablated (older)
 * curve needs over what the baseline needs. Pairs are matched by seed key.
 */
export function byLossMultiplier(
  baseline: ReadonlyMap<string, readonly CurvePoint[]>,
  ablated: ReadonlyMap<string, readonly CurvePoint[]>,
  targetLoss: number,
): SeedMultiplier {
  const perSeed: number[] = [];
  const missing: string[] = [];
  for (const [seed, base] of baseline) {
    const abl = ablated.get(seed);
    if (abl === undefined) continue;
    const cb = computeToReach(base, targetLoss);
    const ca = computeToReach(abl, targetLoss);
    if (cb === null || ca === null) {
      missing.push(`seed ${seed}: ${cb === null ? 'baseline' : 'ablation'} never reached it`);
      continue;
    }
    perSeed.push(ca / cb);
  }
  const n = perSeed.length;
  const mean = n > 0 ? perSeed.reduce((s, v) => s + v, 0) / n : Number.NaN;
  const sd = n > 1 ? Math.sqrt(perSeed.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, halfWidth: n > 1 ? (1.96 * sd) / Math.sqrt(n) : 0, n, perSeed, missing };
}

/**
 * Shrinks (or stretches) multipliers geometrically so their product equals `joint`:
 * m_i' = m_i ^ (ln joint / ln prod m_j) (spec A.1.5). Throws when the product is 1 (no gain to
 * share out) or a multiplier is not positive.
 */
export function normaliseToJoint(
  multipliers: Readonly<Record<string, number>>,
  joint: number,
): Record<string, number> {
  let logProduct = 0;
  for (const [name, m] of Object.entries(multipliers)) {
    if (!(m > 0)) throw new RangeError(`normaliseToJoint: multiplier '${name}' is ${m}, not > 0`);
    logProduct += Math.log(m);
  }
  if (!(joint > 0)) throw new RangeError(`normaliseToJoint: joint gain is ${joint}, not > 0`);
  if (Math.abs(logProduct) < 1e-12) {
    throw new RangeError('normaliseToJoint: the multipliers multiply to 1; nothing to normalise');
  }
  const k = Math.log(joint) / logProduct;
  return Object.fromEntries(Object.entries(multipliers).map(([n, m]) => [n, m ** k]));
}
