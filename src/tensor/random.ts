/**
 * Seeded random numbers. Randomness in sextant is always passed in as a `Generator`, never taken
 * from a global, so a run is reproduced by its seed. Numbers are generated here in TypeScript, so
 * both backends see identical values.
 *
 * The generator is xoshiro128** (Blackman and Vigna, 2018): 128 bits of state in four 32-bit
 * words, period 2^128 - 1, fast with 32-bit integer arithmetic. Its state is filled from the seed
 * by splitmix32 (a Weyl sequence with increment 0x9e3779b9 passed through the MurmurHash3 32-bit
 * finaliser), which never yields an all-zero state.
 */

import { allocateFloat, type FloatDType } from './dtype.js';
import { DTypeError, fmtShape, ShapeError } from './errors.js';
import { numel, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

const TWO_POW_32 = 4294967296;
const TWO_POW_24 = 16777216;
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;
const GOLDEN_GAMMA = 0x9e3779b9;
// Started the high-word stream away from the low-word one, so that a seed whose two halves are
// equal (seed 0 among them) does not give four state words that repeat in pairs.
const HIGH_STREAM_OFFSET = 0x6a09e667;

/** The MurmurHash3 32-bit finaliser: a bijection on uint32 that spreads every input bit. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** The first two outputs of splitmix32 started at `start`. */
function splitmixPair(start: number): [number, number] {
  const a = (start + GOLDEN_GAMMA) >>> 0;
  const b = (a + GOLDEN_GAMMA) >>> 0;
  return [mix32(a), mix32(b)];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** 32-bit FNV-1a over the UTF-8 bytes of `label`. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(label)) h = Math.imul(h ^ byte, 0x01000193);
  return h >>> 0;
}

/** A generator's complete state, plain JSON (for checkpoints). */
export interface GeneratorState {
  algorithm: 'xoshiro128**';
  /** The four state words, unsigned 32-bit integers, not all zero. */
  s: [number, number, number, number];
  /** The second normal of the last Box-Muller pair, not yet returned; null when none is held. */
  spare: number | null;
}

/** An array whose elements can be assigned: plain arrays and typed arrays. */
export interface WritableArrayLike<T> {
  readonly length: number;
  [index: number]: T;
}

/**
 * A seeded stream of random numbers (xoshiro128**, seeded through splitmix32).
 *
 * @example
 * const rng = new Generator(1234);
 * const w = randn([768, 3072], rng, { std: 0.02 });
 * const order = rng.shuffle([...Array(n).keys()]);
 */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  /**
   * @param seed a non-negative safe integer (up to 2^53 - 1). Words 0 and 1 of the state are the
   *   first two splitmix32 outputs started at the seed's low 32 bits; words 2 and 3 those started
   *   at its high 21 bits XOR 0x6a09e667. Distinct seeds give distinct states.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(
        `Generator: the seed must be a non-negative safe integer (0 to 2^53 - 1), got ${seed}`,
      );
    }
    const low = seed >>> 0;
    const high = Math.floor(seed / TWO_POW_32);
    [this.s0, this.s1] = splitmixPair(low);
    [this.s2, this.s3] = splitmixPair((high ^ HIGH_STREAM_OFFSET) >>> 0);
  }

  /** The next 32 random bits, as an integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * A uniform number in [0, 1) with 24 random bits: every value is exactly a float32, so casting to
   * float32 cannot round up to 1. Consumes one 32-bit draw.
   */
  uniform(): number {
    return (this.nextUint32() >>> 8) / TWO_POW_24;
  }

  /** A uniform double in [0, 1) with 53 random bits. Consumes two 32-bit draws. */
  uniform53(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * TWO_POW_26 + lo) / TWO_POW_53;
  }

  /**
   * A standard normal (mean 0, variance 1) by the Box-Muller transform. Each pair of uniform53
   * draws yields two normals; the second is held (in the saved state too) for the next call.
   */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    // 1 - u lies in (0, 1], so the logarithm is finite.
    const u1 = 1 - this.uniform53();
    const u2 = this.uniform53();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * A uniform integer in [lo, hi), without modulo bias (draws that would bias it are rejected).
   * `hi - lo` may be at most 2^32.
   */
  randint(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi <= lo) {
      throw new RangeError(`randint: expected integers lo < hi, got lo=${lo}, hi=${hi}`);
    }
    const n = hi - lo;
    if (n > TWO_POW_32) {
      throw new RangeError(`randint: the range hi - lo may be at most 2^32, got ${n}`);
    }
    // The largest multiple of n that fits in 32 bits: draws at or above it are redrawn.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return lo + (x % n);
  }

  /** Shuffles `array` in place (Fisher-Yates, one `randint` per position) and returns it. */
  shuffle<A extends WritableArrayLike<unknown>>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /**
   * A child generator derived from this one's current state and `label`, for an independent
   * stream (data order, dropout, initialisation) that does not shift when other streams change.
   * This generator is not advanced: forking twice with the same label from the same state gives
   * equal children, so give each stream its own label. The child holds no spare normal.
   */
  fork(label: string): Generator {
    const h = hashLabel(label);
    const [k0, k1] = splitmixPair(h);
    const [k2, k3] = splitmixPair((h ^ HIGH_STREAM_OFFSET) >>> 0);
    const child = Object.create(Generator.prototype) as Generator;
    child.s0 = mix32(this.s0 ^ k0);
    child.s1 = mix32(this.s1 ^ k1);
    child.s2 = mix32(this.s2 ^ k2);
    child.s3 = mix32(this.s3 ^ k3);
    child.spare = null;
    // All four words zero has probability 2^-128, but xoshiro would then emit zeros forever.
    if ((child.s0 | child.s1 | child.s2 | child.s3) === 0) child.s0 = GOLDEN_GAMMA;
    return child;
  }

  /** The complete state as plain JSON-able data; `Generator.fromState` continues the stream. */
  state(): GeneratorState {
    return {
      algorithm: 'xoshiro128**',
      s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0],
      spare: this.spare,
    };
  }

  /** A generator that continues exactly where the one that produced `state` stood. */
  static fromState(state: GeneratorState): Generator {
    const where = 'Generator.fromState';
    if (state === null || typeof state !== 'object') {
      throw new TypeError(`${where}: expected a state object, got ${String(state)}`);
    }
    if (state.algorithm !== 'xoshiro128**') {
      throw new TypeError(
        `${where}: field 'algorithm' must be 'xoshiro128**', got ` +
          JSON.stringify(state.algorithm),
      );
    }
    const s = state.s;
    if (!Array.isArray(s) || s.length !== 4) {
      throw new TypeError(`${where}: field 's' must be an array of 4 words, got ${String(s)}`);
    }
    s.forEach((w, i) => {
      if (!Number.isInteger(w) || w < 0 || w >= TWO_POW_32) {
        throw new RangeError(`${where}: field 's[${i}]' must be a uint32, got ${w}`);
      }
    });
    if ((s[0] | s[1] | s[2] | s[3]) === 0) {
      throw new RangeError(`${where}: field 's' is all zero, which xoshiro128** cannot leave`);
    }
    if (state.spare !== null && !Number.isFinite(state.spare)) {
      throw new TypeError(
        `${where}: field 'spare' must be a finite number or null, got ${state.spare}`,
      );
    }
    const g = Object.create(Generator.prototype) as Generator;
    [g.s0, g.s1, g.s2, g.s3] = s.map((w) => w | 0);
    g.spare = state.spare;
    return g;
  }
}

function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${op}: invalid shape ${Array.isArray(shape) ? fmtShape(shape) : shape}`);
  }
}

function checkFloatDType(op: string, dtype: string): void {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new DTypeError(`${op}: dtype must be 'float32' or 'float64', got '${dtype}'`);
  }
}

export interface RandnOptions {
  /** Default 'float32'. */
  dtype?: FloatDType;
  /** Default 0. */
  mean?: number;
  /** Standard deviation, default 1. */
  std?: number;
  /** Default false. */
  requiresGrad?: boolean;
}

/**
 * A tensor of `shape` with independent normal values `mean + std * z`, `z` from `rng.normal()`,
 * filled in row-major order.
 */
export function randn(shape: Shape, rng: Generator, options: RandnOptions = {}): Tensor {
  const { dtype = 'float32', mean = 0, std = 1, requiresGrad = false } = options;
  checkShape('randn', shape);
  checkFloatDType('randn', dtype);
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) {
    throw new RangeError(`randn: expected finite mean and std >= 0, got mean=${mean}, std=${std}`);
  }
  const data = allocateFloat(dtype, numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = mean + std * rng.normal();
  return new Tensor(data, shape, { requiresGrad });
}

export interface RandOptions {
  /** Default 'float32'. */
  dtype?: FloatDType;
  /** Default 0. */
  low?: number;
  /** Default 1. */
  high?: number;
  /** Default false. */
  requiresGrad?: boolean;
}

/**
 * A tensor of `shape` with values uniform in [low, high): float32 from `rng.uniform()` (24 bits),
 * float64 from `rng.uniform53()`. (Rounding of `low + (high - low) * u` can reach `high` when the
 * range is wide relative to float32 precision, as in PyTorch.)
 */
export function rand(shape: Shape, rng: Generator, options: RandOptions = {}): Tensor {
  const { dtype = 'float32', low = 0, high = 1, requiresGrad = false } = options;
  checkShape('rand', shape);
  checkFloatDType('rand', dtype);
  if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) {
    throw new RangeError(`rand: expected finite low <= high, got low=${low}, high=${high}`);
  }
  const data = allocateFloat(dtype, numel(shape));
  const width = high - low;
  if (dtype === 'float32')
    for (let i = 0; i < data.length; i++) data[i] = low + width * rng.uniform();
  else for (let i = 0; i < data.length; i++) data[i] = low + width * rng.uniform53();
  return new Tensor(data, shape, { requiresGrad });
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** An int32 tensor of `shape` with integers uniform in [low, high), from `rng.randint`. */
export function randint(shape: Shape, low: number, high: number, rng: Generator): Tensor {
  checkShape('randint', shape);
  if (!Number.isInteger(low) || !Number.isInteger(high) || low >= high) {
    throw new RangeError(`randint: expected integers low < high, got low=${low}, high=${high}`);
  }
  if (low < INT32_MIN || high - 1 > INT32_MAX) {
    throw new RangeError(
      `randint: values must fit int32 ([${INT32_MIN}, ${INT32_MAX}]), got [${low}, ${high})`,
    );
  }
  const data = new Int32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.randint(low, high);
  return new Tensor(data, shape);
}

/**
 * A float tensor of `shape` holding 1 with probability `keepProb` and 0 otherwise (a dropout
 * mask; scale it by `1 / keepProb` where needed). One `rng.uniform()` per element: 1 when
 * `u < keepProb`.
 */
export function bernoulliMask(
  shape: Shape,
  keepProb: number,
  rng: Generator,
  dtype: FloatDType = 'float32',
): Tensor {
  checkShape('bernoulliMask', shape);
  checkFloatDType('bernoulliMask', dtype);
  if (!(keepProb >= 0 && keepProb <= 1)) {
    throw new RangeError(`bernoulliMask: keepProb must be in [0, 1], got ${keepProb}`);
  }
  const data = allocateFloat(dtype, numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform() < keepProb ? 1 : 0;
  return new Tensor(data, shape);
}
