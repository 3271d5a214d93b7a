/**
 * Small statistics for the study's tables: means with Student-t 95 % intervals over seeds, paired
 * differences, and the held-out metrics of a classifier (accuracy, F1, AUC) or a regressor (RMSE,
 * MAE, R²).
 */

/** Two-sided 95 % Student-t quantiles for 1..30 degrees of freedom; 1.96 beyond. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048,
  2.045, 2.042,
];

/** The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1). */
export function t975(df: number): number {
  return df >= 1 && df <= 30 ? (T95[df - 1] as number) : 1.96;
}

/** A mean with its 95 % interval half-width (NaN for fewer than two values) and its std. */
export interface Interval {
  mean: number;
  halfWidth: number;
  std: number;
  n: number;
}

/** The mean of `values` with a Student-t 95 % interval. */
export function meanInterval(values: readonly number[]): Interval {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, halfWidth: Number.NaN, std: Number.NaN, n };
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { mean, halfWidth: (t975(n - 1) * std) / Math.sqrt(n), std, n };
}

/** The interval of the paired differences `a[s] − b[s]` (same seeds). */
export function pairedDifference(a: readonly number[], b: readonly number[]): Interval {
  return meanInterval(a.map((v, s) => v - (b[s] as number)));
}

/** Whether an interval excludes zero. */
export function excludesZero(i: Interval): boolean {
  return Number.isFinite(i.halfWidth) && Math.abs(i.mean) > i.halfWidth;
}

/**
 * Area under the ROC curve of `scores` for `positive` labels (1) vs the rest: the Mann-Whitney
 * statistic, ties counted one half.
 */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let rankSum = 0;
  let nPos = 0;
  let k = 0;
  while (k < idx.length) {
    let j = k;
    while (j + 1 < idx.length && scores[idx[j + 1] as number] === scores[idx[k] as number]) j++;
    const avgRank = (k + j) / 2 + 1;
    for (let m = k; m <= j; m++) {
      if (positive[idx[m] as number] === 1) {
        rankSum += avgRank;
        nPos += 1;
      }
    }
    k = j + 1;
  }
  const nNeg = idx.length - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * Accuracy, F1 and AUC from class probabilities `probs` `[N, K]` and labels `[N]`. Binary: F1 and
 * AUC of class 1. More classes: macro F1 and macro one-vs-rest AUC.
 */
export function classificationMetrics(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  K: number,
): Record<string, number> {
  const N = labels.length;
  let correct = 0;
  const predicted = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) {
      if ((probs[i * K + k] as number) > (probs[i * K + best] as number)) best = k;
    }
    predicted[i] = best;
    if (best === labels[i]) correct += 1;
  }
  const classes = K === 2 ? [1] : Array.from({ length: K }, (_, k) => k);
  let f1 = 0;
  let auc = 0;
  for (const c of classes) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    const isPos = new Uint8Array(N);
    const score = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const pos = labels[i] === c;
      isPos[i] = pos ? 1 : 0;
      score[i] = probs[i * K + c] as number;
      if (predicted[i] === c && pos) tp++;
      else if (predicted[i] === c) fp++;
      else if (pos) fn++;
    }
    f1 += tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    auc += rocAuc(score, isPos);
  }
  return { accuracy: correct / N, f1: f1 / classes.length, auc: auc / classes.length };
}

/** RMSE, MAE and R² of predictions against targets (both in the target's units). */
export function regressionMetrics(
  predictions: ArrayLike<number>,
  targets: ArrayLike<number>,
): Record<string, number> {
  const N = targets.length;
  let mean = 0;
  for (let i = 0; i < N; i++) mean += (targets[i] as number) / N;
  let sse = 0;
  let sae = 0;
  let sst = 0;
  for (let i = 0; i < N; i++) {
    const d = (predictions[i] as number) - (targets[i] as number);
    sse += d * d;
    sae += Math.abs(d);
    sst += ((targets[i] as number) - mean) ** 2;
  }
  return { rmse: Math.sqrt(sse / N), mae: sae / N, r2: sst > 0 ? 1 - sse / sst : Number.NaN };
}
