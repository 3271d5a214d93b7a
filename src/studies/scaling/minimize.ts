/**
 * A small Nelder–Mead simplex minimiser, enough for the two- and three-parameter scaling-law fits
 * of `fit.ts`. No gradients, no bounds: callers reparametrise (log A, a sigmoid for E) so every
 * real vector is a valid point, and return `Infinity` for points they reject.
 */

/** Where the search ended. */
export interface Minimum {
  x: number[];
  value: number;
  iterations: number;
}

export interface NelderMeadOptions {
  /** Initial simplex edge per coordinate (default 0.1 each). */
  step?: readonly number[];
  /** Most iterations (default 2000). */
  maxIterations?: number;
  /** Stop when the simplex's values differ by less than this (default 1e-14, absolute). */
  tolerance?: number;
}

/** Minimises `f` from `start` with the standard coefficients (1, 2, 0.5, 0.5). */
export function nelderMead(
  f: (x: readonly number[]) => number,
  start: readonly number[],
  options: NelderMeadOptions = {},
): Minimum {
  const n = start.length;
  const maxIterations = options.maxIterations ?? 2000;
  const tolerance = options.tolerance ?? 1e-14;
  const value = (x: number[]): number => {
    const v = f(x);
    return Number.isFinite(v) ? v : Number.POSITIVE_INFINITY;
  };
  // The simplex: the start and one point moved along each coordinate.
  let simplex: { x: number[]; v: number }[] = [{ x: [...start], v: value([...start]) }];
  for (let i = 0; i < n; i++) {
    const x = [...start];
    x[i] = (x[i] as number) + (options.step?.[i] ?? 0.1);
    simplex.push({ x, v: value(x) });
  }
  const along = (a: number[], b: number[], t: number) =>
    a.map((ai, i) => ai + t * ((b[i] as number) - ai));
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    simplex.sort((p, q) => p.v - q.v);
    const best = simplex[0] as { x: number[]; v: number };
    const worst = simplex[n] as { x: number[]; v: number };
    if (Number.isFinite(worst.v) && Math.abs(worst.v - best.v) <= tolerance) break;
    // Centroid of all but the worst point.
    const centroid = new Array<number>(n).fill(0);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++)
        centroid[i] = (centroid[i] as number) + (simplex[j]?.x[i] as number) / n;
    }
    const reflected = along(centroid, worst.x, -1);
    const vr = value(reflected);
    const second = simplex[n - 1]?.v as number;
    if (vr < best.v) {
      const expanded = along(centroid, worst.x, -2);
      const ve = value(expanded);
      simplex[n] = ve < vr ? { x: expanded, v: ve } : { x: reflected, v: vr };
    } else if (vr < second) {
      simplex[n] = { x: reflected, v: vr };
    } else {
      const contracted =
        vr < worst.v ? along(centroid, reflected, 0.5) : along(centroid, worst.x, 0.5);
      const vc = value(contracted);
      if (vc < Math.min(vr, worst.v)) {
        simplex[n] = { x: contracted, v: vc };
      } else {
        // Shrink every point towards the best.
        simplex = simplex.map((p, j) => {
          if (j === 0) return p;
          const x = along(best.x, p.x, 0.5);
          return { x, v: value(x) };
        });
      }
    }
  }
  simplex.sort((p, q) => p.v - q.v);
  const best = simplex[0] as { x: number[]; v: number };
  return { x: best.x, value: best.v, iterations };
}

/** Runs `nelderMead` from every start (then once more from the best) and keeps the lowest. */
export function minimizeFromStarts(
  f: (x: readonly number[]) => number,
  starts: readonly (readonly number[])[],
  options: NelderMeadOptions = {},
): Minimum {
  let best: Minimum | null = null;
  for (const s of starts) {
    const m = nelderMead(f, s, options);
    if (best === null || m.value < best.value) best = m;
  }
  if (best === null) throw new RangeError('minimizeFromStarts: no starting point given');
  const polished = nelderMead(f, best.x, { ...options, step: best.x.map(() => 0.01) });
  return polished.value <= best.value ? polished : best;
}
