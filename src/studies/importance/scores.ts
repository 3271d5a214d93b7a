/**
 * From a samples × epochs score matrix to a kept subset (spec E.1.2 and E.1.3): aggregations
 * across epochs, selection rules, stability diagnostics between epochs, and temporal archetypes.
 *
 * A score matrix is stored epoch-major: `epochs[e][i]` is the score of sample i after epoch e
 * (N samples, E epochs). Higher aggregated scores mean more important: selections keep the
 * highest and drop the lowest (as Data Diet's keep_max_scores).
 */

/** How scores of one sample across epochs become one number. */
export const AGGREGATIONS = [
  'mean',
  'normalised-mean',
  'rank-mean',
  'last',
  'max',
  'ema',
  'early',
] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export interface AggregateOptions {
  /** EMA factor β: S = β·S + (1 − β)·g, starting from the first epoch; default 0.5. */
  emaBeta?: number;
  /** The early window: the first k epochs; default max(1, round(E / 3)). */
  earlyEpochs?: number;
}

/** The median of `values` (a copy is sorted). */
export function median(values: ArrayLike<number>): number {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1
    ? (s[(n - 1) / 2] as number)
    : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

/** Ranks 0..N-1 in ascending order of value (ties by index), divided by N. */
export function fractionalRanks(values: ArrayLike<number>): Float64Array {
  const N = values.length;
  const order = Array.from({ length: N }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number) || a - b,
  );
  const out = new Float64Array(N);
  order.forEach((i, r) => {
    out[i] = r / N;
  });
  return out;
}

/** Aggregates `epochs` (E arrays of N scores) into N scores with `how`. */
export function aggregate(
  epochs: readonly ArrayLike<number>[],
  how: Aggregation,
  options: AggregateOptions = {},
): Float64Array {
  const E = epochs.length;
  if (E === 0) throw new RangeError('aggregate: the score matrix has no epochs');
  const N = (epochs[0] as ArrayLike<number>).length;
  const out = new Float64Array(N);
  const meanOver = (cols: readonly ArrayLike<number>[]) => {
    for (const col of cols) for (let i = 0; i < N; i++) out[i] += (col[i] as number) / cols.length;
  };
  switch (how) {
    case 'mean':
      meanOver(epochs);
      break;
    case 'normalised-mean':
      meanOver(
        epochs.map((col) => {
          const m = median(col);
          return Float64Array.from(col, (v) => (m > 0 ? v / m : v));
        }),
      );
      break;
    case 'rank-mean':
      meanOver(epochs.map((col) => fractionalRanks(col)));
      break;
    case 'last':
      out.set(epochs[E - 1] as ArrayLike<number>);
      break;
    case 'max':
      out.fill(Number.NEGATIVE_INFINITY);
      for (const col of epochs)
        for (let i = 0; i < N; i++) out[i] = Math.max(out[i] as number, col[i] as number);
      break;
    case 'ema': {
      const beta = options.emaBeta ?? 0.5;
      out.set(epochs[0] as ArrayLike<number>);
      for (const col of epochs.slice(1)) {
        for (let i = 0; i < N; i++)
          out[i] = beta * (out[i] as number) + (1 - beta) * (col[i] as number);
      }
      break;
    }
    case 'early': {
      const k = Math.min(E, options.earlyEpochs ?? Math.max(1, Math.round(E / 3)));
      meanOver(epochs.slice(0, k));
      break;
    }
  }
  return out;
}

/** Sample indices by descending score (ties by index), so a prefix is the highest scores. */
export function descendingOrder(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[b] as number) - (scores[a] as number) || a - b,
  );
}

/** Keeps the `keepFraction` highest-scoring samples (at least one). Sorted indices. */
export function keepFraction(scores: ArrayLike<number>, fraction: number): Int32Array {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`keepFraction: the kept fraction must be in (0, 1], got ${fraction}`);
  }
  const K = Math.max(1, Math.round(scores.length * fraction));
  return Int32Array.from(descendingOrder(scores).slice(0, K)).sort();
}

/**
 * Cumulative mass: the smallest set of highest scores whose sum reaches `alpha` of the total.
 * Scores must be non-negative (gradient norms, EL2N, losses).
 */
export function keepMass(scores: ArrayLike<number>, alpha: number): Int32Array {
  if (!(alpha > 0 && alpha <= 1)) {
    throw new RangeError(`keepMass: alpha must be in (0, 1], got ${alpha}`);
  }
  const order = descendingOrder(scores);
  let total = 0;
  for (let i = 0; i < scores.length; i++) total += Math.max(0, scores[i] as number);
  let acc = 0;
  let K = 0;
  while (K < order.length && acc < alpha * total) {
    acc += Math.max(0, scores[order[K] as number] as number);
    K += 1;
  }
  return Int32Array.from(order.slice(0, Math.max(1, K))).sort();
}

/**
 * Knee of the descending sorted-score curve (Kneedle, Satopää et al. 2011, simplified): both axes
 * scaled to [0, 1], the knee is the point farthest below the chord from first to last. Keeps the
 * samples up to and including the knee.
 */
export function keepKnee(scores: ArrayLike<number>): Int32Array {
  const order = descendingOrder(scores);
  const N = order.length;
  if (N <= 2) return Int32Array.from(order).sort();
  const hi = scores[order[0] as number] as number;
  const lo = scores[order[N - 1] as number] as number;
  const span = hi - lo || 1;
  let best = N - 1;
  let bestGap = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < N; k++) {
    const x = k / (N - 1);
    const y = ((scores[order[k] as number] as number) - lo) / span; // decreasing 1 -> 0
    const gap = 1 - x - y; // chord y = 1 - x; the knee of a convex decay lies below it
    if (gap > bestGap) {
      bestGap = gap;
      best = k;
    }
  }
  return Int32Array.from(order.slice(0, best + 1)).sort();
}

/** A selection rule. */
export type Selection =
  | { kind: 'fraction'; keep: number }
  | { kind: 'mass'; alpha: number }
  | { kind: 'knee' };

/** Applies `rule` to `scores`, optionally within each stratum (class or group) separately. */
export function select(
  scores: ArrayLike<number>,
  rule: Selection,
  strata?: ArrayLike<number>,
): Int32Array {
  const pick = (s: ArrayLike<number>): Int32Array =>
    rule.kind === 'fraction'
      ? keepFraction(s, rule.keep)
      : rule.kind === 'mass'
        ? keepMass(s, rule.alpha)
        : keepKnee(s);
  if (strata === undefined) return pick(scores);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < scores.length; i++) {
    const g = strata[i] as number;
    const list = groups.get(g) ?? [];
    list.push(i);
    groups.set(g, list);
  }
  const kept: number[] = [];
  for (const members of groups.values()) {
    const local = pick(members.map((i) => scores[i] as number));
    for (const j of local) kept.push(members[j] as number);
  }
  return Int32Array.from(kept).sort();
}

/** Spearman rank correlation of two score vectors (ties broken by index). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ra = fractionalRanks(a);
  const rb = fractionalRanks(b);
  const N = ra.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < N; i++) {
    ma += (ra[i] as number) / N;
    mb += (rb[i] as number) / N;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < N; i++) {
    const da = (ra[i] as number) - ma;
    const db = (rb[i] as number) - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : Number.NaN;
}

/** Jaccard overlap of the top-k sets of two score vectors. */
export function topKOverlap(a: ArrayLike<number>, b: ArrayLike<number>, k: number): number {
  const ta = new Set(descendingOrder(a).slice(0, k));
  const tb = descendingOrder(b).slice(0, k);
  const inter = tb.filter((i) => ta.has(i)).length;
  return inter / (2 * k - inter);
}

/** Stability of the ranking between epochs: E × E Spearman and top-k Jaccard matrices. */
export function stability(
  epochs: readonly ArrayLike<number>[],
  topFraction = 0.2,
): { spearman: number[][]; topK: number[][]; k: number } {
  const N = (epochs[0] as ArrayLike<number>).length;
  const k = Math.max(1, Math.round(N * topFraction));
  const spear = epochs.map((a) => epochs.map((b) => spearman(a, b)));
  const top = epochs.map((a) => epochs.map((b) => topKOverlap(a, b, k)));
  return { spearman: spear, topK: top, k };
}

export type Archetype = 'consistent' | 'transient' | 'never' | 'mixed';

/**
 * Temporal archetypes (spec E.1.2, [proposal]): high in epoch e when the median-normalised score
 * is at or above its 0.75 quantile. Consistent: high in ≥ 80 % of epochs; transient: high in
 * ≥ 50 % of the first third and ≤ 20 % of the last third; never: high in no epoch; else mixed.
 */
export function archetypes(epochs: readonly ArrayLike<number>[]): Archetype[] {
  const E = epochs.length;
  const N = (epochs[0] as ArrayLike<number>).length;
  const high = epochs.map((col) => {
    const q = Float64Array.from(col).sort()[Math.min(N - 1, Math.floor(0.75 * N))] as number;
    return Uint8Array.from(col, (v) => (v >= q ? 1 : 0));
  });
  const third = Math.max(1, Math.floor(E / 3));
  const out: Archetype[] = [];
  for (let i = 0; i < N; i++) {
    let all = 0;
    let first = 0;
    let last = 0;
    for (let e = 0; e < E; e++) {
      const h = (high[e] as Uint8Array)[i] as number;
      all += h;
      if (e < third) first += h;
      if (e >= E - third) last += h;
    }
    if (all === 0) out.push('never');
    else if (all >= 0.8 * E) out.push('consistent');
    else if (first >= 0.5 * third && last <= 0.2 * third) out.push('transient');
    else out.push('mixed');
  }
  return out;
}
