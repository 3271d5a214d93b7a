/** Reference elementwise kernels: unary ops and their derivatives, broadcasting binary ops. */
import type { AnyArray, BinaryOp, CompareOp, FloatArray, Strided, UnaryOp } from '../kernels.js';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * Error function to double precision. Below 3 it sums the series
 * `erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))`, whose terms are all
 * positive (no cancellation, unlike the Taylor series); above, a continued fraction for erfc.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  if (ax < 3) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), by Lentz's method.
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function geluTanhInner(x: number): number {
  return SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
}

export function unaryScalar(op: UnaryOp, x: number): number {
  switch (op) {
    case 'neg':
      return -x;
    case 'exp':
      return Math.exp(x);
    case 'log':
      return Math.log(x);
    case 'sqrt':
      return Math.sqrt(x);
    case 'rsqrt':
      return 1 / Math.sqrt(x);
    case 'abs':
      return Math.abs(x);
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return sigmoid(x);
    case 'relu':
      return x > 0 ? x : !Number.isNaN(x) ? 0 : x;
    case 'gelu':
      return 0.5 * x * (1 + erf(x * SQRT1_2));
    case 'geluTanh':
      return 0.5 * x * (1 + Math.tanh(geluTanhInner(x)));
    case 'silu':
      return x * sigmoid(x);
    case 'square':
      return x * x;
  }
}

/** d op(x) / dx, given `x` and `y = op(x)`. */
export function unaryDerivative(op: UnaryOp, x: number, y: number): number {
  switch (op) {
    case 'neg':
      return -1;
    case 'exp':
      return y;
    case 'log':
      return 1 / x;
    case 'sqrt':
      return 0.5 / y;
    case 'rsqrt':
      return -0.5 * y * y * y;
    case 'abs':
      return x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'tanh':
      return 1 - y * y;
    case 'sigmoid':
      return y * (1 - y);
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'gelu':
      return 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'geluTanh': {
      const t = Math.tanh(geluTanhInner(x));
      const dInner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner;
    }
    case 'silu': {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case 'square':
      return 2 * x;
  }
}

export function unary(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  for (let i = 0; i < x.length; i++) out[i] = unaryScalar(op, x[i]);
}

export function unaryBackward(
  op: UnaryOp,
  x: FloatArray,
  y: FloatArray,
  dy: FloatArray,
  dx: FloatArray,
): void {
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * unaryDerivative(op, x[i], y[i]);
}

export function binaryScalar(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
    case 'pow':
      return a ** b;
    case 'maximum':
      return Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b);
    case 'minimum':
      return Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.min(a, b);
  }
}

function compareScalar(op: CompareOp, a: number, b: number): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'ne':
      return a !== b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
  }
}

/**
 * Visits every index of `shape` in row-major order, calling `visit(outIndex, offsets)` with each
 * view's element offset. Offsets are updated incrementally like an odometer.
 */
function forEachIndex(
  shape: Int32Array,
  views: readonly { offset: number; strides: Int32Array }[],
  visit: (i: number, offsets: Int32Array) => void,
): void {
  const rank = shape.length;
  let total = 1;
  for (let d = 0; d < rank; d++) total *= shape[d];
  if (total === 0) return;
  const offsets = new Int32Array(views.length);
  views.forEach((v, j) => {
    offsets[j] = v.offset;
  });
  const counter = new Int32Array(rank);
  for (let i = 0; i < total; i++) {
    visit(i, offsets);
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      for (let j = 0; j < views.length; j++) offsets[j] += views[j].strides[d];
      if (counter[d] < shape[d]) break;
      for (let j = 0; j < views.length; j++) offsets[j] -= views[j].strides[d] * shape[d];
      counter[d] = 0;
    }
  }
}

export function binary(
  op: BinaryOp,
  a: Strided,
  b: Strided,
  out: AnyArray,
  shape: Int32Array,
): void {
  const ad = a.data;
  const bd = b.data;
  const isInt = out instanceof Int32Array;
  forEachIndex(shape, [a, b], (i, o) => {
    const r = binaryScalar(op, ad[o[0]], bd[o[1]]);
    // Integer division and powers truncate towards zero, as C++ integer arithmetic does.
    out[i] = isInt ? Math.trunc(r) : r;
  });
}

export function compare(
  op: CompareOp,
  a: Strided,
  b: Strided,
  out: Int32Array,
  shape: Int32Array,
): void {
  const ad = a.data;
  const bd = b.data;
  forEachIndex(shape, [a, b], (i, o) => {
    out[i] = compareScalar(op, ad[o[0]], bd[o[1]]) ? 1 : 0;
  });
}

export function where(
  cond: Strided<Int32Array>,
  a: Strided,
  b: Strided,
  out: AnyArray,
  shape: Int32Array,
): void {
  const cd = cond.data;
  const ad = a.data;
  const bd = b.data;
  forEachIndex(shape, [cond, a, b], (i, o) => {
    out[i] = cd[o[0]] !== 0 ? ad[o[1]] : bd[o[2]];
  });
}

export function copy(src: Strided, dst: Strided, shape: Int32Array): void {
  const sd = src.data;
  const dd = dst.data;
  forEachIndex(shape, [src, dst], (_, o) => {
    dd[o[1]] = sd[o[0]];
  });
}

export function affine(x: FloatArray, scale: number, shift: number, out: FloatArray): void {
  for (let i = 0; i < x.length; i++) out[i] = x[i] * scale + shift;
}

export function fill(out: AnyArray, value: number): void {
  out.fill(value);
}
