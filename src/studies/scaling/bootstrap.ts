/**
 * Bootstrap over runs (issue 6): resample a family's runs with replacement, re-extract the
 * frontier, refit; percentile intervals for A, alpha and CEG(C). Resampling whole runs (not
 * points) respects that consecutive points of one run are strongly correlated.
 */
import { Generator } from '../../tensor/random.js';
import { cegAtCompute } from './ceg.js';
import { type FitOptions, fitFamily, type PowerLawFit, ScalingFitError } from './fit.js';
import { pooledPoints, type RunCurve } from './frontier.js';

/** A central interval. */
export interface Interval {
  lo: number;
  hi: number;
  /** The coverage, e.g. 0.95. */
  level: number;
}

/** Percentile interval of `values` (finite ones) at `level`; null with fewer than 2 values. */
export function percentileInterval(values: readonly number[], level = 0.95): Interval | null {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length < 2) return null;
  const q = (p: number) => {
    const h = (v.length - 1) * p;
    const i = Math.floor(h);
    const f = h - i;
    return (v[i] as number) + f * ((v[Math.min(i + 1, v.length - 1)] as number) - (v[i] as number));
  };
  return { lo: q((1 - level) / 2), hi: q((1 + level) / 2), level };
}

/** Fits of one family on `resamples` bootstrap resamples of its runs. */
export interface FamilyBootstrap {
  family: string;
  fits: PowerLawFit[];
  /** Resamples whose frontier was too small to fit. */
  failed: number;
  A: Interval | null;
  alpha: Interval | null;
}

export interface BootstrapOptions {
  resamples: number;
  /** Seed of the resampling stream. */
  seed: number;
  level?: number;
}

/** Resamples `runs` (one family) and refits each resample with `fit`. */
export function bootstrapFamily(
  family: string,
  runs: readonly RunCurve[],
  fit: FitOptions,
  options: BootstrapOptions,
): FamilyBootstrap {
  const rng = new Generator(options.seed);
  const fits: PowerLawFit[] = [];
  let failed = 0;
  for (let b = 0; b < options.resamples; b++) {
    const sample: RunCurve[] = [];
    for (let i = 0; i < runs.length; i++) {
      const pick = runs[Math.floor(rng.uniform53() * runs.length)] as RunCurve;
      sample.push({ ...pick, run: `${pick.run}#${i}` });
    }
    try {
      fits.push(fitFamily(family, pooledPoints(sample), fit));
    } catch (e) {
      if (!(e instanceof ScalingFitError)) throw e;
      failed += 1;
    }
  }
  const level = options.level ?? 0.95;
  return {
    family,
    fits,
    failed,
    A: percentileInterval(
      fits.map((f) => f.A),
      level,
    ),
    alpha: percentileInterval(
      fits.map((f) => f.alpha),
      level,
    ),
  };
}

/** CEG_{R->N}(C) with its interval from paired bootstrap fits, at each compute in `grid`. */
export function cegBand(
  reference: FamilyBootstrap,
  next: FamilyBootstrap,
  grid: readonly number[],
  level = 0.95,
): { compute: number; interval: Interval | null }[] {
  const n = Math.min(reference.fits.length, next.fits.length);
  return grid.map((c) => {
    const values: number[] = [];
    for (let i = 0; i < n; i++) {
      values.push(cegAtCompute(reference.fits[i] as PowerLawFit, next.fits[i] as PowerLawFit, c));
    }
    return { compute: c, interval: percentileInterval(values, level) };
  });
}
