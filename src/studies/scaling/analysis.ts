/**
 * The whole analysis of a sweep, from training curves to what `fits.json`, the report and
 * `sextant scaling --json` show: per family the runs kept and left out, the compute window, the
 * fits by every method, bootstrap intervals for the headline method; and CEG(C) with its band
 * between each pair of families that could be fitted. Pure: no files, no printing.
 */
import {
  bootstrapFamily,
  cegBand,
  type FamilyBootstrap,
  type Interval,
  percentileInterval,
} from './bootstrap.js';
import { cegAtCompute } from './ceg.js';
import {
  type ComputeWindow,
  deriveWindow,
  FIT_METHODS,
  type FitMethod,
  fitFamily,
  type PowerLawFit,
  ScalingFitError,
} from './fit.js';
import {
  type ExcludedRun,
  type FrontierPoint,
  frontier,
  pooledPoints,
  type RunCurve,
  splitDiverged,
} from './frontier.js';

export interface AnalysisOptions {
  method: FitMethod;
  irreducible?: number;
  /** Fit window; omitted ends are derived per family (see `deriveWindow`). */
  windowMin?: number;
  windowMax?: number;
  resamples: number;
  seed: number;
}

export interface FamilyAnalysis {
  family: string;
  runs: string[];
  window: ComputeWindow | null;
  /** The frontier inside the window (what the fits saw). */
  frontier: FrontierPoint[];
  /** Every method's fit, or why it could not be made. */
  fits: Partial<Record<FitMethod, PowerLawFit>>;
  errors: string[];
  /** Bootstrap of the headline method; null when not run or the fit failed. */
  bootstrap: {
    A: Interval | null;
    alpha: Interval | null;
    resamples: number;
    failed: number;
  } | null;
}

export interface CegCurve {
  reference: string;
  next: string;
  /** Where both fits are valid: the overlap of their windows. */
  window: { min: number; max: number };
  /** alpha_next − alpha_reference of the headline fits (negative: next is steeper). */
  alphaGap: number;
  /** Its 95 % interval over paired bootstrap resamples; null without a bootstrap. */
  alphaGapInterval: Interval | null;
  points: { compute: number; ceg: number; interval: Interval | null }[];
}

export interface ScalingAnalysis {
  method: FitMethod;
  irreducible: number | 'fitted';
  families: FamilyAnalysis[];
  excluded: ExcludedRun[];
  ceg: CegCurve[];
}

function familyWindow(runs: readonly RunCurve[], o: AnalysisOptions): ComputeWindow {
  const finals = runs.map((r) => r.points[r.points.length - 1]?.compute ?? 0);
  const derived = deriveWindow(finals);
  if (o.windowMin === undefined && o.windowMax === undefined) return derived;
  return {
    min: o.windowMin ?? derived.min,
    max: o.windowMax ?? derived.max,
    source: o.windowMin !== undefined && o.windowMax !== undefined ? 'given' : 'partly given',
  };
}

/** Analyses the curves of every family in `curves` (families in first-seen order). */
export function analyseSweep(curves: readonly RunCurve[], o: AnalysisOptions): ScalingAnalysis {
  const { kept, excluded } = splitDiverged(curves);
  const names = [...new Set(curves.map((c) => c.family))];
  const boots = new Map<string, FamilyBootstrap>();
  const families = names.map((family, fi): FamilyAnalysis => {
    const runs = kept.filter((r) => r.family === family);
    const out: FamilyAnalysis = {
      family,
      runs: runs.map((r) => r.run),
      window: null,
      frontier: [],
      fits: {},
      errors: [],
      bootstrap: null,
    };
    if (runs.length === 0) {
      out.errors.push(`family '${family}': no run trained without diverging; nothing to fit`);
      return out;
    }
    const window = familyWindow(runs, o);
    out.window = window;
    const pts = pooledPoints(runs);
    out.frontier = frontier(pts.filter((p) => p.compute >= window.min && p.compute <= window.max));
    const fitOptions = {
      window,
      ...(o.irreducible !== undefined ? { irreducible: o.irreducible } : {}),
    };
    for (const method of FIT_METHODS) {
      try {
        out.fits[method] = fitFamily(family, pts, { ...fitOptions, method });
      } catch (e) {
        if (!(e instanceof ScalingFitError)) throw e;
        if (!out.errors.includes(e.message)) out.errors.push(e.message);
      }
    }
    if (out.fits[o.method] !== undefined && o.resamples > 0) {
      const b = bootstrapFamily(
        family,
        runs,
        { ...fitOptions, method: o.method },
        { resamples: o.resamples, seed: o.seed + 1000 * (fi + 1) },
      );
      boots.set(family, b);
      out.bootstrap = { A: b.A, alpha: b.alpha, resamples: o.resamples, failed: b.failed };
    }
    return out;
  });

  // CEG between every ordered pair (earlier family as reference) that has a headline fit.
  const ceg: CegCurve[] = [];
  for (let i = 0; i < families.length; i++) {
    for (let j = i + 1; j < families.length; j++) {
      const r = families[i] as FamilyAnalysis;
      const n = families[j] as FamilyAnalysis;
      const fr = r.fits[o.method];
      const fn = n.fits[o.method];
      if (fr === undefined || fn === undefined || r.window === null || n.window === null) continue;
      const lo = Math.max(r.window.min, n.window.min);
      const hi = Math.min(r.window.max, n.window.max);
      if (!(hi > lo)) continue;
      const grid = Array.from({ length: 9 }, (_, k) => lo * (hi / lo) ** (k / 8));
      const br = boots.get(r.family);
      const bn = boots.get(n.family);
      const band = br && bn ? cegBand(br, bn, grid) : grid.map(() => ({ interval: null }));
      const pairs = br && bn ? Math.min(br.fits.length, bn.fits.length) : 0;
      const gaps = Array.from(
        { length: pairs },
        (_, k) => (bn?.fits[k] as PowerLawFit).alpha - (br?.fits[k] as PowerLawFit).alpha,
      );
      ceg.push({
        reference: r.family,
        next: n.family,
        window: { min: lo, max: hi },
        alphaGap: fn.alpha - fr.alpha,
        alphaGapInterval: percentileInterval(gaps),
        points: grid.map((c, k) => ({
          compute: c,
          ceg: cegAtCompute(fr, fn, c),
          interval: band[k]?.interval ?? null,
        })),
      });
    }
  }
  return {
    method: o.method,
    irreducible: o.irreducible ?? 'fitted',
    families,
    excluded,
    ceg,
  };
}

/** What `sextant scaling --json` prints per family. */
export function familySummary(a: ScalingAnalysis): Record<string, unknown>[] {
  return a.families.map((f) => {
    const fit = f.fits[a.method];
    return {
      family: f.family,
      method: a.method,
      A: fit?.A ?? null,
      alpha: fit?.alpha ?? null,
      E: fit?.E ?? null,
      AInterval: f.bootstrap?.A ?? null,
      alphaInterval: f.bootstrap?.alpha ?? null,
      frontierPoints: f.frontier.length,
      window: f.window,
      runs: f.runs.length,
      ...(fit === undefined ? { error: f.errors.join('; ') } : {}),
    };
  });
}

/**
 * The study's question in words, one sentence per Transformer family measured against the
 * LSTM: is its frontier steeper (a more negative exponent), by how much, and does the interval
 * of the gap exclude zero.
 */
export function steepnessFindings(a: ScalingAnalysis): string[] {
  return a.ceg
    .filter((c) => c.reference === 'lstm')
    .map((c) => {
      const gap = c.alphaGap;
      const ci = c.alphaGapInterval;
      const range = ci ? ` (95 % interval ${ci.lo.toFixed(3)} to ${ci.hi.toFixed(3)})` : '';
      const direction = gap < 0 ? 'steeper than' : gap > 0 ? 'shallower than' : 'as steep as';
      let verdict: string;
      if (ci === null) {
        verdict = 'no bootstrap interval was computed, so this sweep cannot say how sure that is';
      } else if (ci.lo > 0 || ci.hi < 0) {
        verdict = `the interval excludes zero: the ${c.next} frontier is ${direction} the LSTM's`;
      } else {
        verdict =
          'the interval includes zero: at this compute this sweep does not show a difference ' +
          'in steepness';
      }
      return (
        `${c.next} vs LSTM (window [${c.window.min.toExponential(2)}, ` +
        `${c.window.max.toExponential(2)}] FLOPs, ${a.method} fit): α_${c.next} − α_lstm = ` +
        `${gap.toFixed(4)}${range}, the point estimate is ${direction} the LSTM's ` +
        `(negative: steeper); ${verdict}.`
      );
    });
}
