/**
 * Shared test tools: a seeded source of inputs, tolerance checks, and finite-difference gradients.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { beforeEach, describe } from 'node:test';
import { fileURLToPath } from 'node:url';
import { availableBackends, setBackend } from '../src/backends/index.js';
import type { AnyArray } from '../src/backends/kernels.js';
import { type DType, mul, noGrad, sum, type Tensor, tensor } from '../src/index.js';

/**
 * The public data sets some tests read where they lie: `$SEXTANT_TEST_DATA`, or `shared/data`
 * beside the repository (this file runs as `dist/test/helpers.js`).
 */
export const SHARED_DATA =
  process.env.SEXTANT_TEST_DATA ??
  path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');

/** mulberry32: a tiny seeded generator for test inputs (independent of the engine's own). */
export function testRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in `[lo, hi)` of `shape`. */
export function randomTensor(
  shape: number[],
  rng: () => number,
  options: { dtype?: DType; lo?: number; hi?: number; requiresGrad?: boolean } = {},
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const lo = options.lo ?? -1;
  const hi = options.hi ?? 1;
  const values = Array.from({ length: n }, () => lo + (hi - lo) * rng());
  return tensor(values, {
    shape,
    dtype: options.dtype ?? 'float64',
    requiresGrad: options.requiresGrad ?? false,
  });
}

/** Asserts `|actual - expected| <= atol + rtol * |expected|` elementwise, naming the first miss. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol: number },
  what = 'values',
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${what}: length ${actual.length} vs ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const ok = Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
    if (!ok) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (atol ${tol.atol}, rtol ${tol.rtol})`);
    }
  }
}

/**
 * Checks the gradients of `fn` with respect to each input against central finite differences in
 * float64. The output is reduced with fixed random weights, so every output element is tested.
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: { eps?: number; atol?: number; rtol?: number; seed?: number } = {},
): void {
  const eps = options.eps ?? 1e-6;
  const tol = { atol: options.atol ?? 1e-7, rtol: options.rtol ?? 1e-5 };
  for (const x of inputs) {
    if (x.dtype !== 'float64' && x.requiresGrad) throw new Error('gradcheck needs float64 inputs');
  }
  const probe = noGrad(() => fn(...inputs));
  const rng = testRng(options.seed ?? 7);
  const weights = randomTensor([...probe.shape], rng, { dtype: probe.dtype });
  const scalarOf = () => noGrad(() => sum(mul(fn(...inputs), weights)).item());
  for (const x of inputs) x.grad = null;
  const loss = sum(mul(fn(...inputs), weights));
  loss.backward();
  inputs.forEach((x, k) => {
    if (!x.requiresGrad) return;
    assert.ok(x.grad, `input ${k} got no gradient`);
    const numeric = new Float64Array(x.size);
    const data = x.data as AnyArray;
    for (let i = 0; i < x.size; i++) {
      const saved = data[i];
      data[i] = saved + eps;
      const up = scalarOf();
      data[i] = saved - eps;
      const down = scalarOf();
      data[i] = saved;
      numeric[i] = (up - down) / (2 * eps);
    }
    assertClose(x.grad.data, numeric, tol, `gradient of input ${k}`);
  });
}

/**
 * Declares the suite `body` once per backend available in this process; each test runs with
 * that backend active.
 */
export function describeEachBackend(title: string, body: (name: 'js' | 'native') => void): void {
  for (const name of availableBackends()) {
    describe(`${title} [${name}]`, () => {
      beforeEach(() => {
        setBackend(name);
      });
      body(name);
    });
  }
}

export function leaf(shape: number[], rng: () => number, lo = -1, hi = 1): Tensor {
  return randomTensor(shape, rng, { lo, hi, requiresGrad: true });
}
