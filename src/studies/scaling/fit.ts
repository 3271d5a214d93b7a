/**
 * Fits of the compute scaling law of a family's frontier, on reducible loss:
 *
 *   L(C) = E + A * C^alpha        (alpha < 0; reducible loss l = L - E = A * C^alpha)
 *
 * by three methods side by side (spec A.1.2 and A.4.3):
 *   - 'linear': least squares on l in linear space (the paper's `curve_fit`);
 *   - 'log':    least squares on log residuals;
 *   - 'huber':  Huber loss (delta 1e-3, as Chinchilla) on log residuals.
 * With E given the log residual is ln(L - E) - ln(A C^alpha); with E fitted it is
 * ln L - ln(E + A C^alpha) (Chinchilla's form), so both stay defined.
 *
 * E is given (the paper fixes 1.9 nats for C4 with GPT-2 BPE) or fitted in [0, min L). Every
 * method runs Nelder–Mead from many starting points (a grid over E and alpha seeded by the
 * log-space line) and keeps the best. Parameters are internally a = ln A + alpha ln C0 with C0 the
 * geometric mean compute, so A and alpha are not badly conditioned at 1e15 FLOPs.
 */
import { type FrontierPoint, frontier } from './frontier.js';
import { minimizeFromStarts } from './minimize.js';

export const FIT_METHODS = ['linear', 'log', 'huber'] as const;
export type FitMethod = (typeof FIT_METHODS)[number];

/** A compute range in FLOPs, both ends included. */
export interface ComputeWindow {
  min: number;
  max: number;
  /** How it was chosen, for the report ('derived: ...' or 'given'). */
  source: string;
}

export interface FitOptions {
  method: FitMethod;
  /** The irreducible loss E in nats; omitted: fitted. */
  irreducible?: number;
  /** Only points in this window enter the frontier (window first, then frontier, as the paper). */
  window?: ComputeWindow;
  /** Huber's delta on log residuals (default 1e-3). */
  huberDelta?: number;
}

/** A fitted law and how it was obtained. */
export interface PowerLawFit {
  family: string;
  method: FitMethod;
  A: number;
  alpha: number;
  E: number;
  eFitted: boolean;
  window: ComputeWindow | null;
  /** Frontier points the fit used. */
  points: number;
  /** Frontier points left out because L <= E (only when E is given). */
  belowE: number;
  /** R^2 of the reducible loss in linear space, as the paper reports it. */
  r2: number;
}

/** A fit that cannot be made: too few points, or nothing finite came out. */
export class ScalingFitError extends Error {
  override name = 'ScalingFitError';
  constructor(
    readonly family: string,
    message: string,
  ) {
    super(message);
  }
}

/** The fewest frontier points a fit accepts: one more than its parameters. */
export function minimumPoints(eFitted: boolean): number {
  return eFitted ? 4 : 3;
}

/** Reducible loss predicted by a fit at compute `c`. */
export function reducibleAt(fit: Pick<PowerLawFit, 'A' | 'alpha'>, c: number): number {
  return fit.A * c ** fit.alpha;
}

/** Compute at which a fit reaches total loss `loss`; NaN when `loss <= E` (never reached). */
export function computeAtLoss(fit: Pick<PowerLawFit, 'A' | 'alpha' | 'E'>, loss: number): number {
  const l = loss - fit.E;
  return l > 0 ? (l / fit.A) ** (1 / fit.alpha) : Number.NaN;
}

function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

const sigmoid = (u: number) => 1 / (1 + Math.exp(-u));
const logit = (p: number) => Math.log(p / (1 - p));

/** Ordinary least squares of y on x: [intercept, slope]. */
function line(x: readonly number[], y: readonly number[]): [number, number] {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((x[i] as number) - mx) * ((y[i] as number) - my);
    sxx += ((x[i] as number) - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return [my - slope * mx, slope];
}

/**
 * Fits the law to the frontier of `points` (all logged points of a family's runs). Throws
 * `ScalingFitError` naming `family` when the window leaves too few frontier points.
 */
export function fitFamily(
  family: string,
  points: readonly FrontierPoint[],
  options: FitOptions,
): PowerLawFit {
  const w = options.window;
  const inWindow = w ? points.filter((p) => p.compute >= w.min && p.compute <= w.max) : points;
  const front = frontier(inWindow);
  return fitPowerLaw(family, front, options);
}

/** Fits the law to `front` (already a frontier, or any points); see the file comment. */
export function fitPowerLaw(
  family: string,
  front: readonly { compute: number; loss: number }[],
  options: FitOptions,
): PowerLawFit {
  const eFitted = options.irreducible === undefined;
  const givenE = options.irreducible ?? 0;
  const used = eFitted ? [...front] : front.filter((p) => p.loss - givenE > 0);
  const belowE = front.length - used.length;
  const need = minimumPoints(eFitted);
  const where = options.window
    ? ` in the window [${options.window.min.toExponential(2)}, ` +
      `${options.window.max.toExponential(2)}] FLOPs`
    : '';
  if (used.length < need) {
    throw new ScalingFitError(
      family,
      `scaling fit of family '${family}': ${used.length} frontier point(s)${where}` +
        (belowE > 0 ? ` (${belowE} more at or below E = ${givenE})` : '') +
        `, need at least ${need} to fit ${eFitted ? 'A, alpha and E' : 'A and alpha'}; ` +
        'widen the window, log evaluations more often, or add runs',
    );
  }
  const C0 = Math.exp(used.reduce((s, p) => s + Math.log(p.compute), 0) / used.length);
  const x = used.map((p) => Math.log(p.compute / C0));
  const L = used.map((p) => p.loss);
  const minL = Math.min(...L);
  const delta = options.huberDelta ?? 1e-3;
  const eOf = (u: number | undefined) => (eFitted ? minL * sigmoid(u as number) : givenE);

  const objective = (p: readonly number[]): number => {
    const [a, alpha] = p as [number, number];
    const E = eOf(p[2]);
    let total = 0;
    for (let i = 0; i < x.length; i++) {
      const red = Math.exp(a + alpha * (x[i] as number));
      const Li = L[i] as number;
      if (options.method === 'linear') {
        total += (Li - E - red) ** 2;
        continue;
      }
      const r = eFitted ? Math.log(Li) - Math.log(E + red) : Math.log(Li - E) - Math.log(red);
      total += options.method === 'log' ? r * r : huber(r, delta);
    }
    return total;
  };

  // Starting points: for each E on a grid, the log-space line, and alpha nudged around it.
  const eGrid = eFitted ? [0.01, 0.25, 0.5, 0.75, 0.9, 0.97] : [null];
  const starts: number[][] = [];
  for (const frac of eGrid) {
    const E = frac === null ? givenE : frac * minL;
    const [a0, s0] = line(
      x,
      L.map((v) => Math.log(v - E)),
    );
    for (const alpha of [s0, s0 * 0.5, s0 * 2, -0.05, -0.3]) {
      const start = [a0, alpha];
      if (frac !== null) start.push(logit(frac));
      starts.push(start);
    }
  }
  const best = minimizeFromStarts(objective, starts, { maxIterations: 4000 });
  const [a, alpha] = best.x as [number, number];
  const E = eOf(best.x[2]);
  const A = Math.exp(a - alpha * Math.log(C0));
  if (!Number.isFinite(A) || !Number.isFinite(alpha) || !Number.isFinite(best.value)) {
    throw new ScalingFitError(
      family,
      `scaling fit of family '${family}' (${options.method}): no finite optimum found from ` +
        `${starts.length} starting points on ${used.length} frontier points`,
    );
  }
  // R^2 of the reducible loss in linear space.
  const obs = L.map((v) => v - E);
  const mean = obs.reduce((s, v) => s + v, 0) / obs.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < obs.length; i++) {
    ssRes += ((obs[i] as number) - Math.exp(a + alpha * (x[i] as number))) ** 2;
    ssTot += ((obs[i] as number) - mean) ** 2;
  }
  return {
    family,
    method: options.method,
    A,
    alpha,
    E,
    eFitted,
    window: options.window ?? null,
    points: used.length,
    belowE,
    r2: ssTot > 0 ? 1 - ssRes / ssTot : 1,
  };
}

/**
 * The compute window derived from a family's runs [proposal]: from a tenth of the smallest run's
 * final compute (past every run's first transient) to the largest run's final compute.
 */
export function deriveWindow(finalComputes: readonly number[]): ComputeWindow {
  const ok = finalComputes.filter((c) => Number.isFinite(c) && c > 0);
  if (ok.length === 0) {
    throw new RangeError('deriveWindow: no run has a positive final compute');
  }
  const lo = Math.min(...ok);
  const hi = Math.max(...ok);
  return {
    min: lo / 10,
    max: hi,
    source: 'derived: from 1/10 of the smallest run’s final compute to the largest run’s',
  };
}
