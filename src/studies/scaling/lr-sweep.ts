/**
 * The per-width learning-rate sweep (spec A.2, "LR tuning protocol"): at a few widths of each
 * family, train short runs at a grid of peak LRs around the width rule, take the LR with the
 * lowest final held-out loss, and fit
 *
 *   ln lr* = a + b ln width      (ordinary least squares in log–log)
 *
 * which then sets the peak LR of every width of the main sweep. [proposal] When the best grid LR
 * is not at an edge of the grid, it is refined by the vertex of the parabola through it and its
 * two neighbours in (ln lr, loss), clamped to the neighbours (the authors explored parabolic
 * fits too). Pure: no files, no printing.
 */
import type { Family, ScalingRunSpec, SpecInputs } from './config.js';
import { learningRate, runSpec } from './config.js';

/** One short run of the sweep: `family` at `width` and peak LR `lr`, for `budget` of its tokens. */
export function lrProbeSpec(
  family: Family,
  width: number,
  lr: number,
  budget: number,
  inputs: Omit<SpecInputs, 'lr'>,
): ScalingRunSpec {
  const full = runSpec(family, width, { ...inputs, lr });
  const short = runSpec(family, width, {
    ...inputs,
    lr,
    tokensPerParam: inputs.tokensPerParam * budget,
  });
  // One evaluation, at the end: only the final loss matters here.
  const steps = Math.min(short.steps, full.steps);
  return { ...short, steps, evalSteps: [steps], role: 'lr-sweep' };
}

/** The short runs of the sweep: every width and factor, for `budget` of the main tokens. */
export function lrSweepSpecs(
  families: readonly Family[],
  widths: Readonly<Record<Family, number[]>>,
  factors: readonly number[],
  budget: number,
  inputs: Omit<SpecInputs, 'lr'>,
): ScalingRunSpec[] {
  return families.flatMap((family) =>
    widths[family].flatMap((width) =>
      factors.map((f) =>
        lrProbeSpec(family, width, learningRate(family, width) * f, budget, inputs),
      ),
    ),
  );
}

/**
 * Where the grid must grow: for every width whose best LR is the largest (smallest) LR probed
 * there, the LR one grid step `ratio` beyond it. The study trains these and looks again, a few
 * rounds at most, so an optimum outside the first grid is still found.
 */
export function gridExtension(
  probes: readonly LrProbe[],
  best: readonly BestLr[],
  ratio: number,
): { family: string; width: number; lr: number }[] {
  const out: { family: string; width: number; lr: number }[] = [];
  for (const b of best) {
    if (b.how !== 'edge') continue;
    const lrs = probes.filter((p) => p.family === b.family && p.width === b.width).map((p) => p.lr);
    if (b.lr >= Math.max(...lrs)) out.push({ family: b.family, width: b.width, lr: b.lr * ratio });
    else if (b.lr <= Math.min(...lrs)) {
      out.push({ family: b.family, width: b.width, lr: b.lr / ratio });
    }
  }
  return out;
}

/** One probe: a width, an LR and the final held-out loss it reached (null: diverged/missing). */
export interface LrProbe {
  family: string;
  width: number;
  lr: number;
  loss: number | null;
}

/** The best LR at one width. */
export interface BestLr {
  family: string;
  width: number;
  lr: number;
  loss: number;
  /** 'grid': the best grid point; 'parabola': refined between its neighbours; 'edge': the best
   * is the grid's smallest or largest LR, so the optimum may lie outside; 'flat': every LR
   * ended within `FLAT_SPREAD` of the best (a run still on a plateau): left out of the law. */
  how: 'grid' | 'parabola' | 'edge' | 'flat';
}

/** Final losses closer than this (relative) across a width's LRs say nothing about the best. */
export const FLAT_SPREAD = 0.01;

/** The best LR of the probes at one width (see the file comment); null when none trained. */
export function bestLearningRate(probes: readonly LrProbe[]): BestLr | null {
  const ok = probes
    .filter((p) => p.loss !== null && Number.isFinite(p.loss))
    .sort((p, q) => p.lr - q.lr);
  if (ok.length === 0) return null;
  let k = 0;
  for (let i = 1; i < ok.length; i++) {
    if ((ok[i]?.loss as number) < (ok[k]?.loss as number)) k = i;
  }
  const best = ok[k] as LrProbe;
  const base = { family: best.family, width: best.width, loss: best.loss as number };
  const worst = Math.max(...ok.map((p) => p.loss as number));
  if (ok.length > 1 && worst - base.loss < FLAT_SPREAD * base.loss) {
    return { ...base, lr: best.lr, how: 'flat' };
  }
  const all = [...probes].sort((p, q) => p.lr - q.lr);
  const atEdge = best.lr === all[0]?.lr || best.lr === all[all.length - 1]?.lr;
  if (atEdge || k === 0 || k === ok.length - 1) return { ...base, lr: best.lr, how: 'edge' };
  // Vertex of the parabola through three (x = ln lr, y = loss) points.
  const [x0, x1, x2] = [ok[k - 1], best, ok[k + 1]].map((p) => Math.log((p as LrProbe).lr)) as [
    number,
    number,
    number,
  ];
  const [y0, y1, y2] = [ok[k - 1], best, ok[k + 1]].map((p) => (p as LrProbe).loss) as [
    number,
    number,
    number,
  ];
  const den = (x0 - x1) * (x0 - x2) * (x1 - x2);
  const A = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den;
  const B = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den;
  if (!(A > 0)) return { ...base, lr: best.lr, how: 'grid' };
  const x = Math.min(x2, Math.max(x0, -B / (2 * A)));
  return { ...base, lr: Math.exp(x), how: 'parabola' };
}

/** ln lr = a + b ln width, fitted to the best LRs of one family. */
export interface LrLaw {
  family: string;
  /** lr(width) = exp(a) * width^b. */
  a: number;
  b: number;
  /** R^2 in log–log; 1 with two widths. */
  r2: number;
  widths: number[];
  /** The LRs the sweep probed for this family (that trained): the law is clamped to them. */
  lrRange: { min: number; max: number };
  /** How the law was obtained, for the report. */
  method: string;
}

/**
 * The LR law of one family from its best LRs (flat widths left out); null with fewer than 2
 * distinct widths. `lrRange` defaults to the range of the best LRs.
 */
export function fitLrLaw(
  family: string,
  best: readonly BestLr[],
  lrRange?: { min: number; max: number },
): LrLaw | null {
  const pts = best.filter((b) => b.family === family && b.lr > 0 && b.how !== 'flat');
  const widths = [...new Set(pts.map((p) => p.width))].sort((a, b) => a - b);
  if (widths.length < 2) return null;
  const x = pts.map((p) => Math.log(p.width));
  const y = pts.map((p) => Math.log(p.lr));
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const b = sxy / sxx;
  const a = my - b * mx;
  const r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1;
  const lrs = pts.map((p) => p.lr);
  return {
    family,
    a,
    b,
    r2,
    widths,
    lrRange: lrRange ?? { min: Math.min(...lrs), max: Math.max(...lrs) },
    method: 'OLS of ln(best LR) on ln(width) over the swept widths',
  };
}

/** The peak LR a law gives at `width`, unclamped. */
export function lrFromLaw(law: Pick<LrLaw, 'a' | 'b'>, width: number): number {
  return Math.exp(law.a + law.b * Math.log(width));
}

/**
 * The peak LR the main sweep uses at `width`: the law's, clamped to the LRs the sweep probed
 * (an extrapolated law can ask for LRs no probe ever tried).
 */
export function lawLearningRate(law: LrLaw, width: number): number {
  return Math.min(law.lrRange.max, Math.max(law.lrRange.min, lrFromLaw(law, width)));
}

/**
 * Exponents of the LR law believed: published width scalings lie around -1 (muP, Adam) to 0;
 * a fit through a few noisy widths far outside that range says more about the noise.
 */
const LR_EXPONENT_RANGE = { min: -2, max: 0.5 };

/** The whole sweep's result, per family: probes, best LR per width, and the law. */
export interface LrSweepResult {
  probes: LrProbe[];
  best: BestLr[];
  laws: Record<string, LrLaw>;
  /** Families whose law could not be fitted, with the reason (they keep the width rule). */
  errors: string[];
  budget: number;
  factors: number[];
}

/** Best LR per width and the law per family, from the probes' final losses. */
export function analyseLrSweep(
  probes: readonly LrProbe[],
  budget: number,
  factors: readonly number[],
): LrSweepResult {
  const best: BestLr[] = [];
  const errors: string[] = [];
  const families = [...new Set(probes.map((p) => p.family))];
  for (const family of families) {
    const widths = [...new Set(probes.filter((p) => p.family === family).map((p) => p.width))];
    for (const width of widths) {
      const b = bestLearningRate(probes.filter((p) => p.family === family && p.width === width));
      if (b === null) errors.push(`LR sweep, ${family} width ${width}: every probe diverged`);
      else best.push(b);
      if (b?.how === 'flat') {
        errors.push(
          `LR sweep, ${family} width ${width}: every LR ended within ` +
            `${100 * FLAT_SPREAD} % of the best loss ${b.loss.toFixed(3)} (still on a plateau?); ` +
            'left out of the law',
        );
      }
    }
  }
  const laws: Record<string, LrLaw> = {};
  for (const family of families) {
    const trained = probes.filter((p) => p.family === family && p.loss !== null);
    const lrs = trained.map((p) => p.lr);
    const range = lrs.length > 0 ? { min: Math.min(...lrs), max: Math.max(...lrs) } : undefined;
    // Only widths whose best LR the grid brackets locate an optimum; an edge is a bound.
    const bracketed = best.filter(
      (b) => b.family === family && (b.how === 'grid' || b.how === 'parabola'),
    );
    const law = fitLrLaw(family, bracketed, range);
    if (law === null) {
      const edges = best.filter((b) => b.family === family && b.how === 'edge').length;
      errors.push(
        `LR sweep, ${family}: fewer than 2 widths where the grid brackets the best LR ` +
          `(${edges} ended at an edge of the grid); the width rule is used`,
      );
    } else if (law.b < LR_EXPONENT_RANGE.min || law.b > LR_EXPONENT_RANGE.max) {
      errors.push(
        `LR sweep, ${family}: the fitted law lr ∝ width^${law.b.toFixed(2)} lies outside ` +
          `[${LR_EXPONENT_RANGE.min}, ${LR_EXPONENT_RANGE.max}] (from ${law.widths.length} ` +
          'widths), too steep to trust; the width rule is used',
      );
    } else laws[family] = law;
  }
  return { probes: [...probes], best, laws, errors, budget, factors: [...factors] };
}
