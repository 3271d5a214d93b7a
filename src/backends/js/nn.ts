/** Reference kernels for the fused network ops: softmax, cross-entropy, norms, LSTM, rotary. */
import type { FloatArray } from '../kernels.js';

export function softmax(
  x: FloatArray,
  rows: number,
  cols: number,
  log: boolean,
  out: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[base + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[base + c] - max);
    const logSum = Math.log(sum);
    for (let c = 0; c < cols; c++) {
      out[base + c] = log ? x[base + c] - max - logSum : Math.exp(x[base + c] - max) / sum;
    }
  }
}

export function softmaxBackward(
  y: FloatArray,
  dy: FloatArray,
  rows: number,
  cols: number,
  log: boolean,
  dx: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let dot = 0;
    // softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy).
    for (let c = 0; c < cols; c++) dot += log ? dy[base + c] : dy[base + c] * y[base + c];
    for (let c = 0; c < cols; c++) {
      const i = base + c;
      dx[i] = log ? dy[i] - Math.exp(y[i]) * dot : y[i] * (dy[i] - dot);
    }
  }
}

export function crossEntropy(
  logits: FloatArray,
  targets: Int32Array,
  rows: number,
  V: number,
  ignoreIndex: number,
  smoothing: number,
  losses: FloatArray,
  lse: FloatArray,
): number {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignoreIndex && (t < 0 || t >= V)) return r;
  }
  for (let r = 0; r < rows; r++) {
    const base = r * V;
    let max = -Infinity;
    let total = 0;
    for (let c = 0; c < V; c++) {
      max = Math.max(max, logits[base + c]);
      total += logits[base + c];
    }
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[base + c] - max);
    const l = max + Math.log(sum);
    lse[r] = l;
    const t = targets[r];
    if (t === ignoreIndex) {
      losses[r] = 0;
      continue;
    }
    losses[r] = (1 - smoothing) * (l - logits[base + t]) + smoothing * (l - total / V);
  }
  return -1;
}

export function crossEntropyBackward(
  logits: FloatArray,
  targets: Int32Array,
  lse: FloatArray,
  rows: number,
  V: number,
  ignoreIndex: number,
  smoothing: number,
  rowScale: FloatArray,
  dlogits: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * V;
    const t = targets[r];
    if (t === ignoreIndex) {
      for (let c = 0; c < V; c++) dlogits[base + c] = 0;
      continue;
    }
    const s = rowScale[r];
    for (let c = 0; c < V; c++) {
      const p = Math.exp(logits[base + c] - lse[r]);
      const target = (c === t ? 1 - smoothing : 0) + smoothing / V;
      dlogits[base + c] = s * (p - target);
    }
  }
}

export function layerNorm(
  x: FloatArray,
  gamma: FloatArray | null,
  beta: FloatArray | null,
  rows: number,
  C: number,
  eps: number,
  y: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    let mu = 0;
    for (let c = 0; c < C; c++) mu += x[base + c];
    mu /= C;
    let variance = 0;
    for (let c = 0; c < C; c++) variance += (x[base + c] - mu) ** 2;
    variance /= C;
    const rs = 1 / Math.sqrt(variance + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < C; c++) {
      const n = (x[base + c] - mu) * rs;
      y[base + c] = n * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
    }
  }
}

export function layerNormBackward(
  x: FloatArray,
  gamma: FloatArray | null,
  mean: FloatArray,
  rstd: FloatArray,
  dy: FloatArray,
  rows: number,
  C: number,
  dx: FloatArray,
  dgamma: FloatArray | null,
  dbeta: FloatArray | null,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    // With n = normalised x and g = dy * gamma: dx = rstd * (g - mean(g) - n * mean(g * n)).
    let meanG = 0;
    let meanGN = 0;
    for (let c = 0; c < C; c++) {
      const n = (x[base + c] - mean[r]) * rstd[r];
      const g = dy[base + c] * (gamma ? gamma[c] : 1);
      meanG += g;
      meanGN += g * n;
      if (dgamma) dgamma[c] += dy[base + c] * n;
      if (dbeta) dbeta[c] += dy[base + c];
    }
    meanG /= C;
    meanGN /= C;
    for (let c = 0; c < C; c++) {
      const n = (x[base + c] - mean[r]) * rstd[r];
      const g = dy[base + c] * (gamma ? gamma[c] : 1);
      dx[base + c] = rstd[r] * (g - meanG - n * meanGN);
    }
  }
}

export function rmsNorm(
  x: FloatArray,
  gamma: FloatArray | null,
  rows: number,
  C: number,
  eps: number,
  y: FloatArray,
  rstd: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[base + c] * x[base + c];
    const rs = 1 / Math.sqrt(ms / C + eps);
    rstd[r] = rs;
    for (let c = 0; c < C; c++) y[base + c] = x[base + c] * rs * (gamma ? gamma[c] : 1);
  }
}

export function rmsNormBackward(
  x: FloatArray,
  gamma: FloatArray | null,
  rstd: FloatArray,
  dy: FloatArray,
  rows: number,
  C: number,
  dx: FloatArray,
  dgamma: FloatArray | null,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * C;
    const rs = rstd[r];
    // With n = x * rstd and g = dy * gamma: dx = rstd * (g - n * mean(g * n)).
    let meanGN = 0;
    for (let c = 0; c < C; c++) {
      const n = x[base + c] * rs;
      const g = dy[base + c] * (gamma ? gamma[c] : 1);
      meanGN += g * n;
      if (dgamma) dgamma[c] += dy[base + c] * n;
    }
    meanGN /= C;
    for (let c = 0; c < C; c++) {
      const n = x[base + c] * rs;
      const g = dy[base + c] * (gamma ? gamma[c] : 1);
      dx[base + c] = rs * (g - n * meanGN);
    }
  }
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function lstmCell(
  gates: FloatArray,
  cPrev: FloatArray,
  B: number,
  H: number,
  h: FloatArray,
  c: FloatArray,
  act: FloatArray,
): void {
  for (let b = 0; b < B; b++) {
    const g0 = b * 4 * H;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(gates[g0 + j]);
      const f = sigmoid(gates[g0 + H + j]);
      const g = Math.tanh(gates[g0 + 2 * H + j]);
      const o = sigmoid(gates[g0 + 3 * H + j]);
      act[g0 + j] = i;
      act[g0 + H + j] = f;
      act[g0 + 2 * H + j] = g;
      act[g0 + 3 * H + j] = o;
      const cNew = f * cPrev[b * H + j] + i * g;
      c[b * H + j] = cNew;
      h[b * H + j] = o * Math.tanh(cNew);
    }
  }
}

export function lstmCellBackward(
  act: FloatArray,
  cPrev: FloatArray,
  c: FloatArray,
  dh: FloatArray,
  dc: FloatArray,
  B: number,
  H: number,
  dgates: FloatArray,
  dcPrev: FloatArray,
): void {
  for (let b = 0; b < B; b++) {
    const g0 = b * 4 * H;
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const i = act[g0 + j];
      const f = act[g0 + H + j];
      const g = act[g0 + 2 * H + j];
      const o = act[g0 + 3 * H + j];
      const tc = Math.tanh(c[k]);
      const dcTotal = dc[k] + dh[k] * o * (1 - tc * tc);
      dgates[g0 + j] = dcTotal * g * i * (1 - i);
      dgates[g0 + H + j] = dcTotal * cPrev[k] * f * (1 - f);
      dgates[g0 + 2 * H + j] = dcTotal * i * (1 - g * g);
      dgates[g0 + 3 * H + j] = dh[k] * tc * o * (1 - o);
      dcPrev[k] = dcTotal * f;
    }
  }
}

export function rope(
  x: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  B: number,
  H: number,
  T: number,
  D: number,
  perBatch: boolean,
  inverse: boolean,
  out: FloatArray,
): void {
  const half = D / 2;
  const sign = inverse ? -1 : 1;
  for (let b = 0; b < B; b++) {
    const table = perBatch ? b * T * half : 0;
    for (let hh = 0; hh < H; hh++) {
      for (let t = 0; t < T; t++) {
        const base = ((b * H + hh) * T + t) * D;
        for (let d = 0; d < half; d++) {
          const cs = cos[table + t * half + d];
          const sn = sign * sin[table + t * half + d];
          const x1 = x[base + d];
          const x2 = x[base + d + half];
          out[base + d] = x1 * cs - x2 * sn;
          out[base + d + half] = x2 * cs + x1 * sn;
        }
      }
    }
  }
}
