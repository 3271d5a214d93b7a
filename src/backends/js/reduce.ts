/** Reference reductions and index kernels, all on `[outer, n, inner]` views of dense arrays. */
import type { AnyArray, FloatArray, ReduceOp } from '../kernels.js';

export function reduce(
  op: ReduceOp,
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  out: FloatArray,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
      for (let j = 0; j < n; j++) {
        const v = x[base + j * inner];
        if (op === 'sum') acc += v;
        else if (Number.isNaN(v)) acc = v;
        else if (!Number.isNaN(acc)) acc = op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
      }
      out[o * inner + i] = acc;
    }
  }
}

export function argReduce(
  op: 'max' | 'min',
  x: AnyArray,
  outer: number,
  n: number,
  inner: number,
  out: Int32Array,
): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let best = 0;
      let bestValue = x[base];
      for (let j = 1; j < n && !Number.isNaN(bestValue); j++) {
        const v = x[base + j * inner];
        if (Number.isNaN(v) || (op === 'max' ? v > bestValue : v < bestValue)) {
          best = j;
          bestValue = v;
        }
      }
      out[o * inner + i] = best;
    }
  }
}

export function sumSquares(x: FloatArray): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

export function indexSelect(
  x: AnyArray,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  out: AnyArray,
): number {
  for (let m = 0; m < index.length; m++) {
    if (index[m] < 0 || index[m] >= n) return m;
  }
  const M = index.length;
  for (let o = 0; o < outer; o++) {
    for (let m = 0; m < M; m++) {
      const src = (o * n + index[m]) * inner;
      const dst = (o * M + m) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = x[src + i];
    }
  }
  return -1;
}

export function indexAdd(
  dy: FloatArray,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  dx: FloatArray,
): void {
  const M = index.length;
  for (let o = 0; o < outer; o++) {
    for (let m = 0; m < M; m++) {
      const dst = (o * n + index[m]) * inner;
      const src = (o * M + m) * inner;
      for (let i = 0; i < inner; i++) dx[dst + i] += dy[src + i];
    }
  }
}

export function gather(
  x: AnyArray,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  m: number,
  out: AnyArray,
): number {
  for (let p = 0; p < index.length; p++) {
    if (index[p] < 0 || index[p] >= n) return p;
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < inner; i++) {
        const p = (o * m + j) * inner + i;
        out[p] = x[(o * n + index[p]) * inner + i];
      }
    }
  }
  return -1;
}

export function scatterAdd(
  dy: FloatArray,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  m: number,
  dx: FloatArray,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < inner; i++) {
        const p = (o * m + j) * inner + i;
        dx[(o * n + index[p]) * inner + i] += dy[p];
      }
    }
  }
}
