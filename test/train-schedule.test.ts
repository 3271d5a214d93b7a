/** Learning-rate schedules against values worked out by hand from the formulas in schedule.ts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeSchedule } from '../src/train/schedule.js';

/** Equal within 1e-12 absolute: the formulas are a few double operations. */
function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12, `${what}: got ${actual}, expected ${expected}`);
}

describe('learning-rate schedules', () => {
  test('cosine: warmup to lr, half way at the midpoint, then the floor', () => {
    // lr 1, warmup 10, 110 steps, floor 0.1: decay runs over steps 10..110.
    const lr = makeSchedule('cosine', { lr: 1, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 });
    near(lr(0), 0.1, 'step 0 = 1/10');
    near(lr(4), 0.5, 'step 4 = 5/10');
    near(lr(9), 1, 'step 9 ends warmup');
    near(lr(10), 1, 'step 10 starts decay at lr');
    // p = 0.25: 0.1 + 0.9 * (1 + cos(pi/4)) / 2 = 0.1 + 0.9 * 0.8535533905932737
    near(lr(35), 0.8681980515339464, 'step 35');
    near(lr(60), 0.55, 'step 60: p = 0.5');
    near(lr(110), 0.1, 'step 110: the floor');
    near(lr(500), 0.1, 'past the end stays at the floor');
  });

  test('linear decay to the floor', () => {
    const lr = makeSchedule('linear', { lr: 2, warmupSteps: 10, totalSteps: 110, minLrRatio: 0 });
    near(lr(0), 0.2, 'warmup step 0');
    near(lr(10), 2, 'decay starts at lr');
    near(lr(35), 1.5, 'p = 0.25');
    near(lr(60), 1, 'p = 0.5');
    near(lr(110), 0, 'p = 1');
  });

  test('inverse square root, continuous with the warmup', () => {
    const lr = makeSchedule('inverse_sqrt', { lr: 1, warmupSteps: 4 });
    near(lr(0), 0.25, 'warmup');
    near(lr(3), 1, 'end of warmup');
    near(lr(4), Math.sqrt(4 / 5), 'first decayed step');
    near(lr(15), 0.5, 'sqrt(4/16)');
    near(lr(99), 0.2, 'sqrt(4/100)');
    const noWarmup = makeSchedule('inverse_sqrt', { lr: 1 });
    near(noWarmup(0), 1, 'no warmup: starts at lr');
    near(noWarmup(3), 0.5, 'no warmup: 1/sqrt(4)');
  });

  test('constant, with and without warmup', () => {
    const flat = makeSchedule('constant', { lr: 3e-4 });
    near(flat(0), 3e-4, 'step 0');
    near(flat(10_000), 3e-4, 'step 10000');
    const warm = makeSchedule('constant', { lr: 1, warmupSteps: 2 });
    near(warm(0), 0.5, 'warmup');
    near(warm(1), 1, 'warmup end');
    near(warm(2), 1, 'after');
  });

  test('bad options and steps are refused with the field and value', () => {
    assert.throws(
      () => makeSchedule('cosine', { lr: 1 }),
      /schedule 'cosine': totalSteps must be an integer >= 1, got undefined/,
    );
    assert.throws(
      () => makeSchedule('constant', { lr: -1 }),
      /lr must be a finite number > 0, got -1/,
    );
    assert.throws(
      () => makeSchedule('linear', { lr: 1, totalSteps: 5, minLrRatio: 2 }),
      /minLrRatio must be in \[0, 1\], got 2/,
    );
    assert.throws(
      () => makeSchedule('constant', { lr: 1 })(-1),
      /step must be an integer >= 0, got -1/,
    );
  });
});
