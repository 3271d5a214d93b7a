/**
 * The decomposition calculator from the paper's published constants: the headline figures of
 * spec A.3, each recomputed by the code (tolerances: the last printed digit).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chinchillaMultiplier,
  DecompositionInputSchema,
  decompose,
  frontierCompute,
  gapSensitivity,
  paperConstants,
} from '../src/studies/scaling/decompose.js';

const near = (got: number, want: number, tol: number, what: string) =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: expected ${want} ± ${tol}, got ${got}`);

describe('decomposition from the paper’s constants', () => {
  const p = paperConstants();

  test('2012 -> 2023: 6,926x total, 726x Kaplan, 3.71x Chinchilla, 89.3 % scale-dependent', () => {
    const d = decompose(p, 2012, 2023);
    near(d.computeFrom, 2.44e15, 0.01e15, 'C(2012)');
    near(d.computeTo, 1.34e22, 0.01e22, 'C(2023)');
    near(d.total, 6926, 1, 'total');
    near(d.kaplanTransformer, 726, 0.5, 'Kaplan Transformer');
    near(d.chinchilla, 3.71, 0.005, 'Chinchilla');
    near(d.scaleDependent, 2697, 1, 'scale-dependent');
    near(d.scaleInvariant, 2.57, 0.005, 'scale-invariant');
    near(d.scaleDependentShare, 0.893, 0.0005, 'share');
    near(d.gapToHo, 3.18, 0.005, 'gap to Ho et al.');
  });

  test('2013 -> 2025: 21,416x, Kaplan 848x, Chinchilla 9.84x, share 90.5 %', () => {
    const d = decompose(p, 2013, 2025);
    near(d.total, 21416, 5, 'total');
    near(d.kaplanTransformer, 848, 0.5, 'Kaplan');
    near(d.chinchilla, 9.84, 0.02, 'Chinchilla');
    near(d.scaleDependentShare, 0.905, 0.0005, 'share');
  });

  test('the rebalancing multiplier is non-monotone as the spec tabulates', () => {
    near(chinchillaMultiplier(p, 1e15), 5.53, 0.01, 'chin(1e15)');
    near(chinchillaMultiplier(p, 1e18), 1.07, 0.01, 'chin(1e18)');
    near(chinchillaMultiplier(p, 1e25), 46.4, 0.1, 'chin(1e25)');
    near(frontierCompute(p, 2025), 2.26e23, 0.01e23, 'C(2025)');
  });

  test('a wider exponent gap raises the scale-dependent share', () => {
    const s = gapSensitivity(p, 2012, 2023, [-0.25, 0, 0.25]);
    near(s[1]?.share as number, 0.893, 0.0005, 'baseline share');
    assert.ok((s[0]?.share as number) < (s[1]?.share as number));
    assert.ok((s[2]?.share as number) > (s[1]?.share as number));
  });

  test('user constants replace the defaults; bad ones are refused by field', () => {
    const mine = DecompositionInputSchema.parse({ joint: 2, innovations: [] });
    assert.equal(mine.joint, 2);
    assert.equal(mine.lstm.A, 36.3);
    const r = DecompositionInputSchema.safeParse({ lstm: { A: 36.3, alpha: 0.1 } });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues[0]?.path), /lstm.*alpha/);
  });
});
