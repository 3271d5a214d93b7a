/**
 * Aggregations, selections, stability and archetypes of the importance study, and its statistics
 * and cost helpers, on small hand-computed cases.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { breakEven, measure, percentSaved } from '../src/studies/importance/cost.js';
import {
  aggregate,
  archetypes,
  keepFraction,
  keepKnee,
  keepMass,
  select,
  spearman,
  topKOverlap,
} from '../src/studies/importance/scores.js';
import {
  classificationMetrics,
  meanInterval,
  pairedDifference,
  regressionMetrics,
  rocAuc,
} from '../src/studies/importance/stats.js';

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

// Three samples, three epochs (epoch-major).
const G = [
  Float64Array.from([1, 2, 4]),
  Float64Array.from([2, 2, 8]),
  Float64Array.from([3, 1, 0]),
];

test('aggregations across epochs', () => {
  const m = aggregate(G, 'mean');
  for (const [i, v] of [2, 5 / 3, 4].entries()) close(m[i] as number, v);
  assert.deepEqual([...aggregate(G, 'last')], [3, 1, 0]);
  assert.deepEqual([...aggregate(G, 'max')], [3, 2, 8]);
  assert.deepEqual([...aggregate(G, 'early', { earlyEpochs: 2 })], [1.5, 2, 6]);
  // EMA β = 0.5: ((1·0.5 + 2·0.5)·0.5 + 3·0.5) = 2.25
  close(aggregate(G, 'ema', { emaBeta: 0.5 })[0] as number, 2.25);
  // Normalised by each epoch's median (2, 2, 1): sample 0 = (0.5 + 1 + 3) / 3.
  close(aggregate(G, 'normalised-mean')[0] as number, 4.5 / 3);
  // Ranks / N per epoch: sample 2 is top in epochs 1 and 2, bottom in 3.
  close(aggregate(G, 'rank-mean')[2] as number, (2 / 3 + 2 / 3 + 0) / 3);
});

test('selections keep the highest scores', () => {
  const s = [0.1, 5, 3, 0.2, 4];
  assert.deepEqual([...keepFraction(s, 0.6)], [1, 2, 4]);
  // Total 12.3; 5 + 4 = 9 < 0.9·12.3 = 11.07; + 3 = 12 reaches it.
  assert.deepEqual([...keepMass(s, 0.9)], [1, 2, 4]);
  assert.deepEqual([...keepMass(s, 0.3)], [1]);
  // A sharp drop after two samples: the elbow is the first point of the flat tail.
  assert.deepEqual([...keepKnee([10, 9.5, 1, 0.9, 0.8, 0.7])], [0, 1, 2]);
  // Stratified: half of each class, rounded (1 of 2, 2 of 3).
  const strata = [0, 0, 1, 1, 1];
  const half = select([1, 2, 3, 1, 2], { kind: 'fraction', keep: 0.5 }, strata);
  assert.deepEqual([...half], [1, 2, 4]);
  assert.throws(() => keepFraction(s, 0), /kept fraction must be in \(0, 1\], got 0/);
});

test('stability: Spearman and top-k overlap; archetypes', () => {
  close(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  close(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  close(topKOverlap([4, 3, 2, 1], [4, 1, 3, 2], 2), 1 / 3);
  // Six epochs, eight samples: sample 0 always top, sample 1 top early only, sample 7 never.
  const epochs = Array.from({ length: 6 }, (_, e) =>
    Float64Array.from([10, e < 2 ? 9 : 0, 1, 1, 1, 1, e >= 3 ? 9 : 1, 0.5]),
  );
  const a = archetypes(epochs);
  assert.equal(a[0], 'consistent');
  assert.equal(a[1], 'transient');
  assert.equal(a[7], 'never');
  assert.equal(a[6], 'mixed');
});

test('intervals, AUC and metrics by hand', () => {
  const i = meanInterval([1, 2, 3]);
  close(i.mean, 2);
  close(i.halfWidth, (4.303 * 1) / Math.sqrt(3), 1e-9);
  close(pairedDifference([3, 5], [1, 2]).mean, 2.5);
  // Positives 0.8 and 0.4 against negatives 0.5 and 0.1: 3 of 4 pairs ordered.
  close(rocAuc([0.8, 0.4, 0.5, 0.1], [1, 1, 0, 0]), 0.75);
  close(rocAuc([0.5, 0.5], [1, 0]), 0.5);
  const m = classificationMetrics([0.2, 0.8, 0.9, 0.1, 0.4, 0.6], [1, 0, 0], 2);
  close(m.accuracy as number, 2 / 3);
  close(m.f1 as number, 2 / 3); // tp 1, fp 1, fn 0
  const r = regressionMetrics([1, 2, 3], [1, 2, 5]);
  close(r.rmse as number, Math.sqrt(4 / 3));
  close(r.mae as number, 2 / 3);
  close(r.r2 as number, 1 - 4 / (78 / 9)); // mean 8/3: (25 + 4 + 49) / 9
});

test('cost: power model, RAPL counters with a wrap, savings and break-even', () => {
  const { cost } = measure(() => ({ value: 0, sampleGrads: 7 }), {
    watts: 100,
    gridIntensity: 500,
    powerModelOnly: true,
  });
  assert.equal(cost.energySource, 'power-model');
  close(cost.joules, 100 * cost.seconds);
  close(cost.grams, (cost.joules / 3.6e6) * 500);
  assert.equal(cost.sampleGrads, 7);
  const root = mkdtempSync(join(tmpdir(), 'rapl-'));
  const dom = join(root, 'intel-rapl:0');
  mkdirSync(dom);
  writeFileSync(join(dom, 'energy_uj'), '999000000');
  writeFileSync(join(dom, 'max_energy_range_uj'), '1000000000');
  const rapl = measure(
    () => {
      writeFileSync(join(dom, 'energy_uj'), '1000000'); // wrapped: 1 J to the top + 1 J
      return { value: 0, sampleGrads: 0 };
    },
    { powercapRoot: root },
  );
  assert.equal(rapl.cost.energySource, 'rapl');
  close(rapl.cost.joules, 2);
  close(percentSaved(75, 100), 25);
  close(breakEven(10, 100, 80), 0.5);
  assert.equal(breakEven(10, 100, 120), Number.POSITIVE_INFINITY);
});
