/**
 * Sampling tests on small hand-made logits: empirical frequencies over many draws against the
 * probabilities computed by hand, within five binomial standard deviations (two-sided).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Generator } from '../src/tensor/random.js';
import { greedy, type SampleOptions, sampleNext } from '../src/tensor/sampling.js';
import { Tensor } from '../src/tensor/tensor.js';

function logitsOf(rows: number[][]): Tensor {
  return new Tensor(Float32Array.from(rows.flat()), [rows.length, rows[0].length]);
}

/** The same row `n` times. */
function repeated(row: number[], n: number): Tensor {
  return logitsOf(Array.from({ length: n }, () => row));
}

/** Draws `n` tokens from one row and checks each token's frequency against `probs`. */
function checkFrequencies(row: number[], options: SampleOptions, probs: number[], seed = 1): void {
  const n = 20000;
  const tokens = sampleNext(repeated(row, n), new Generator(seed), options);
  const counts = probs.map(() => 0);
  for (const t of tokens) counts[t]++;
  probs.forEach((p, i) => {
    const sd = Math.sqrt(n * p * (1 - p));
    const err = Math.abs(counts[i] - n * p);
    assert.ok(
      p === 0 ? counts[i] === 0 : err <= 5 * sd,
      `token ${i}: ${counts[i]} of ${n}, expected ${n * p} +- ${5 * sd}`,
    );
  });
}

// Probabilities 0.5, 0.25, 0.15, 0.1 (the logits are their logarithms).
const P = [0.5, 0.25, 0.15, 0.1];
const ROW = P.map(Math.log);

describe('greedy', () => {
  test('takes the largest logit, the first on ties', () => {
    const ids = greedy(
      logitsOf([
        [1, 3, 3, 0],
        [-1, -2, -0.5, -3],
      ]),
    );
    assert.deepEqual(Array.from(ids), [1, 2]);
  });

  test('refuses NaN and wrong shapes, naming them', () => {
    assert.throws(
      () => greedy(logitsOf([[0, Number.NaN]])),
      /greedy: logits row 0 contains NaN at 1/,
    );
    assert.throws(
      () => greedy(new Tensor(new Float32Array(4), [4])),
      /greedy: logits must have shape \[B, V\] with V >= 1, got \[4\]/,
    );
    assert.throws(
      () => greedy(new Tensor(new Int32Array(4), [2, 2])),
      /float32 or float64, got int32/,
    );
  });
});

describe('sampleNext', () => {
  test('temperature 0 and topK 1 are greedy and draw no random numbers', () => {
    const logits = logitsOf([ROW, [0, 2, 1, 2]]);
    const rng = new Generator(3);
    const before = rng.state();
    assert.deepEqual(Array.from(sampleNext(logits, rng, { temperature: 0 })), [0, 1]);
    assert.deepEqual(Array.from(sampleNext(logits, rng, { topK: 1 })), Array.from(greedy(logits)));
    assert.deepEqual(rng.state(), before);
  });

  test('temperature 1 follows softmax(logits)', () => {
    checkFrequencies(ROW, {}, P);
  });

  test('temperature 2 follows p^(1/2), renormalised', () => {
    const w = P.map(Math.sqrt); // 0.7071, 0.5, 0.3873, 0.3162; sum 1.9106
    const sum = w.reduce((a, b) => a + b, 0);
    checkFrequencies(
      ROW,
      { temperature: 2 },
      w.map((x) => x / sum),
      2,
    );
  });

  test('topK 2 keeps the two largest: 2/3 and 1/3', () => {
    checkFrequencies(ROW, { topK: 2 }, [2 / 3, 1 / 3, 0, 0], 3);
  });

  test('topP cuts the tail: 0.7 keeps two tokens, 0.8 three, 0.3 one', () => {
    // Sorted mass: 0.5, 0.75, 0.9, 1. The first prefix reaching 0.7 is {0, 1}; 0.8 needs {0, 1, 2}.
    checkFrequencies(ROW, { topP: 0.7 }, [2 / 3, 1 / 3, 0, 0], 4);
    checkFrequencies(ROW, { topP: 0.8 }, [0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0], 5);
    checkFrequencies(ROW, { topP: 0.3 }, [1, 0, 0, 0], 6);
  });

  test('topP applies after topK and temperature', () => {
    // topK 3 leaves 0.5, 0.25, 0.15 (mass 0.9), renormalised 0.556, 0.278, 0.167: topP 0.8
    // keeps two (0.833).
    checkFrequencies(ROW, { topK: 3, topP: 0.8 }, [2 / 3, 1 / 3, 0, 0], 7);
  });

  test('-Infinity logits are never drawn; +Infinity logits share all the mass', () => {
    const inf = Number.POSITIVE_INFINITY;
    checkFrequencies([0, -inf, 0, -inf], {}, [0.5, 0, 0.5, 0], 8);
    checkFrequencies([0, inf, 5, inf], { topP: 0.9 }, [0, 0.5, 0, 0.5], 9);
    assert.throws(
      () => sampleNext(logitsOf([[-inf, -inf]]), new Generator(1)),
      /sampleNext: logits row 0 has no finite logit/,
    );
  });

  test('is deterministic and draws exactly one uniform53 per row', () => {
    const logits = repeated(ROW, 50);
    const rng = new Generator(10);
    const a = sampleNext(logits, rng, { temperature: 0.7, topK: 3, topP: 0.9 });
    const b = sampleNext(logits, new Generator(10), { temperature: 0.7, topK: 3, topP: 0.9 });
    assert.deepEqual(a, b);
    const twin = new Generator(10);
    for (let i = 0; i < 50; i++) twin.uniform53();
    assert.deepEqual(rng.state(), twin.state());
  });

  test('bad options are refused with the value', () => {
    const logits = logitsOf([ROW]);
    const rng = new Generator(1);
    assert.throws(() => sampleNext(logits, rng, { topP: 0 }), /topP must be in \(0, 1\], got 0/);
    assert.throws(
      () => sampleNext(logits, rng, { topK: 0 }),
      /topK must be an integer >= 1, got 0/,
    );
    assert.throws(
      () => sampleNext(logits, rng, { temperature: -1 }),
      /temperature must be a finite number >= 0, got -1/,
    );
  });
});
