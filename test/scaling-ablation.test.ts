/**
 * The ablation sweep and the LR sweep of the scaling study, without training: the planned arms
 * each change exactly one component; by-loss multipliers, their seed intervals, the interaction
 * normalisation and the measured decomposition on synthetic curves whose answers are known (the
 * paper's multipliers give back its 6,926x); an arm that never reaches the target gets a message,
 * not NaN; the LR law is recovered from probes around a known power law; reference dependence
 * reproduces the paper's 2028 figures.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ABLATIONS,
  type ArmCurve,
  ablationRuns,
  analyseAblations,
} from '../src/studies/scaling/ablation.js';
import { PRESETS, runSpec, type ScalingRunSpec } from '../src/studies/scaling/config.js';
import {
  annualGrowth,
  paperConstants,
  referenceDependence,
} from '../src/studies/scaling/decompose.js';
import {
  analyseLrSweep,
  bestLearningRate,
  fitLrLaw,
  gridExtension,
  type LrProbe,
  lawLearningRate,
  lrFromLaw,
  lrSweepSpecs,
} from '../src/studies/scaling/lr-sweep.js';

const near = (got: number, want: number, tol: number, what: string) =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: expected ${want} ± ${tol}, got ${got}`);

const inputs = {
  preset: PRESETS.tiny,
  data: '/tmp/corpus.txt',
  vocab: 65,
  tokensPerParam: 1,
};

/** The fields an ablation may swap, as one flat record. */
function components(s: ScalingRunSpec): Record<string, string> {
  const t = s.transformer;
  return {
    position: `${t?.position}/${t?.scaleEmbeddings}`,
    norm: String(t?.norm),
    placement: String(t?.placement),
    activation: String(t?.activation),
    schedule: s.schedule,
    optimizer: s.optimizer,
  };
}

describe('ablation plan', () => {
  const specAt = (family: 'lstm' | 'retro' | 'modern', seed: number) =>
    runSpec(family, 32, { ...inputs, lr: family === 'retro' ? 1e-3 : 4e-3, seed });
  const runs = ablationRuns([3, 4], specAt);

  test('per seed: the baseline, one run per swap and the bundle', () => {
    assert.equal(runs.length, 2 * (ABLATIONS.length + 2));
    for (const seed of [3, 4]) {
      const arms = runs.filter((r) => r.seed === seed).map((r) => r.arm);
      assert.deepEqual(arms, ['modern', ...ABLATIONS.map((a) => a.id), 'retro']);
      for (const r of runs.filter((x) => x.seed === seed)) assert.equal(r.spec.seed, seed);
    }
  });

  test('each swap changes exactly one component and nothing else but post-LN’s LR', () => {
    const base = runs.find((r) => r.arm === 'modern' && r.seed === 3)?.spec as ScalingRunSpec;
    const expected: Record<string, [string, string]> = {
      'position-learned': ['position', 'learned/false'],
      'position-sinusoidal': ['position', 'sinusoidal/true'],
      'norm-layernorm': ['norm', 'layernorm'],
      'placement-post': ['placement', 'post'],
      'activation-gelu': ['activation', 'gelu'],
      'schedule-inverse-sqrt': ['schedule', 'inverse_sqrt'],
      'optimizer-adam': ['optimizer', 'adam'],
    };
    for (const r of runs.filter((x) => x.seed === 3 && x.arm in expected)) {
      const a = components(base);
      const b = components(r.spec);
      const changed = Object.keys(a).filter((k) => a[k] !== b[k]);
      const [field, value] = expected[r.arm] as [string, string];
      assert.deepEqual(changed, [field], `${r.arm} changed ${changed.join(', ')}`);
      assert.equal(b[field], value, r.arm);
      // Everything outside the components is the baseline's, but post-LN trains at min(lr).
      const strip = (s: ScalingRunSpec) => ({
        ...s,
        transformer: null,
        schedule: '',
        optimizer: '',
      });
      const want = r.arm === 'placement-post' ? { ...strip(base), lr: 1e-3 } : strip(base);
      assert.deepEqual(strip(r.spec), want, r.arm);
    }
    const bundle = runs.find((r) => r.arm === 'retro' && r.seed === 3)?.spec;
    assert.deepEqual(bundle, specAt('retro', 3), 'the bundle is the retro family’s own run');
  });
});

/** A pure power law L = 30 C^-0.1 logged at 20 computes, with compute scaled by `k`. */
function curve(arm: string, seed: number, k: number, floor = 0): ArmCurve {
  const points = Array.from({ length: 20 }, (_, i) => {
    const c = 1e6 * 10 ** (i / 5);
    return { compute: c * k, loss: Math.max(floor, 30 * c ** -0.1) };
  });
  return { arm, seed, points };
}

/** The paper's multipliers as compute factors of each arm (spec A.3, 64d ablations). */
const PAPER_FACTORS: Record<string, number> = {
  modern: 1,
  'position-learned': 1.26,
  'position-sinusoidal': 1.44,
  'norm-layernorm': 1.09,
  'placement-post': 1.87,
  'activation-gelu': 1.17,
  'schedule-inverse-sqrt': 1.04,
  'optimizer-adam': 1,
  retro: 1.33,
};

describe('ablation multipliers on synthetic curves', () => {
  test('the paper’s multipliers come back, normalise to the joint and give its 6,926x', () => {
    const curves = Object.entries(PAPER_FACTORS).flatMap(([arm, k]) => [
      curve(arm, 1, k),
      curve(arm, 2, k),
    ]);
    const a = analyseAblations(curves, {
      width: 64,
      seeds: [1, 2],
      target: 4,
      paper: paperConstants(),
    });
    assert.deepEqual(a.errors, []);
    for (const arm of a.arms) {
      const want =
        arm.arm === 'position-sinusoidal/learned'
          ? 1.44 / 1.26
          : (PAPER_FACTORS[arm.arm] as number);
      near(arm.multiplier?.mean as number, want, 1e-9, arm.arm);
      assert.equal(arm.multiplier?.halfWidth, 0, `${arm.arm}: equal seeds, no spread`);
    }
    near(a.joint.multiplier?.mean as number, 1.33, 1e-9, 'joint');
    near(a.product as number, 1.44 * 1.09 * 1.87 * 1.17 * 1.04, 1e-9, 'product');
    const normalised = Object.values(a.normalised ?? {});
    near(
      normalised.reduce((p, m) => p * m, 1),
      1.33,
      1e-9,
      'normalised product',
    );
    near(a.normalised?.['post->pre-LN'] as number, 1.151, 0.0005, 'post->pre-LN normalised');
    near(a.decomposition.measured?.total as number, 6926, 1, 'measured decomposition total');
    near(a.decomposition.paper.total, 6926, 1, 'paper decomposition total');
  });

  test('seed intervals: mean of the per-seed ratios ± 1.96·SD/√n', () => {
    const curves = [
      curve('modern', 1, 1),
      curve('modern', 2, 1),
      curve('modern', 3, 1),
      curve('norm-layernorm', 1, 1.1),
      curve('norm-layernorm', 2, 1.2),
      curve('norm-layernorm', 3, 1.6),
    ];
    const a = analyseAblations(curves, { width: 32, seeds: [1, 2, 3], paper: paperConstants() });
    const m = a.arms.find((x) => x.arm === 'norm-layernorm')?.multiplier;
    assert.ok(m);
    near(m.mean, 1.3, 1e-9, 'mean');
    const sd = Math.sqrt((0.2 ** 2 + 0.1 ** 2 + 0.3 ** 2) / 2);
    near(m.halfWidth, (1.96 * sd) / Math.sqrt(3), 1e-9, 'half-width');
    // The default target is the highest of the lowest losses: the slowest curve's last point.
    near(a.target.loss, 30 * (1e6 * 10 ** (19 / 5)) ** -0.1, 1e-12, 'target');
  });

  test('a joint gain and a product on opposite sides of 1 are not normalised', () => {
    const factors = { ...PAPER_FACTORS, retro: 0.8 };
    const curves = Object.entries(factors).map(([arm, k]) => curve(arm, 1, k));
    const a = analyseAblations(curves, {
      width: 64,
      seeds: [1],
      target: 4,
      paper: paperConstants(),
    });
    near(a.joint.multiplier?.mean as number, 0.8, 1e-9, 'joint');
    assert.equal(a.normalised, null);
    assert.equal(a.decomposition.measured, null);
    assert.match(a.errors.join('\n'), /\(3\.571x\) and the joint gain \(0\.800x\) lie on opposite/);
  });

  test('an arm that never reaches the target gets a message naming it, not NaN', () => {
    const curves = Object.entries(PAPER_FACTORS).map(([arm, k]) =>
      curve(arm, 1, k, arm === 'norm-layernorm' ? 5 : 0),
    );
    const a = analyseAblations(curves, {
      width: 64,
      seeds: [1],
      target: 4,
      paper: paperConstants(),
    });
    const ln = a.arms.find((x) => x.arm === 'norm-layernorm');
    assert.equal(ln?.multiplier, null);
    const error = String(ln?.error);
    assert.match(
      error,
      /^ablation 'norm-layernorm' vs 'modern': no multiplier at target loss 4\.0000/,
    );
    assert.match(error, /\(seed 1: ablation never reached it\); give a higher --ablation-target/);
    assert.equal(a.product, null);
    assert.equal(a.normalised, null);
    assert.equal(a.decomposition.measured, null);
    assert.ok(a.errors.some((e) => /norm-layernorm/.test(e)));
    assert.doesNotMatch(JSON.stringify(a), /NaN/);
    // The other arms are still measured.
    near(a.arms[0]?.multiplier?.mean as number, 1.26, 1e-9, 'learned');
  });
});

describe('LR sweep', () => {
  /** Probes at grid factors around lr* = 0.05 w^-0.7, loss a parabola in ln lr. */
  function probes(widths: number[], factors: number[]): LrProbe[] {
    return widths.flatMap((width) => {
      const best = 0.05 * width ** -0.7;
      // The grid is centred off the optimum so the parabola has something to refine.
      return factors.map((f) => {
        const lr = best * 1.3 * f;
        return { family: 'modern', width, lr, loss: 1 + (Math.log(lr) - Math.log(best)) ** 2 };
      });
    });
  }

  test('the parabola refines the best LR and the law recovers lr = 0.05·w^-0.7', () => {
    const r = analyseLrSweep(probes([16, 32, 64, 128], [0.25, 0.5, 1, 2]), 0.1, [0.25, 0.5, 1, 2]);
    assert.deepEqual(r.errors, []);
    for (const b of r.best) {
      assert.equal(b.how, 'parabola');
      near(b.lr, 0.05 * b.width ** -0.7, 1e-12, `best at width ${b.width}`);
    }
    const law = r.laws.modern;
    assert.ok(law);
    near(law.b, -0.7, 1e-9, 'exponent');
    near(Math.exp(law.a), 0.05, 1e-9, 'coefficient');
    near(law.r2, 1, 1e-9, 'R²');
    near(lrFromLaw(law, 256), 0.05 * 256 ** -0.7, 1e-12, 'extrapolated LR');
  });

  test('a best LR at the grid’s edge is flagged; diverged probes are skipped', () => {
    const edge = bestLearningRate([
      { family: 'lstm', width: 8, lr: 1e-3, loss: 3 },
      { family: 'lstm', width: 8, lr: 2e-3, loss: 2.5 },
      { family: 'lstm', width: 8, lr: 4e-3, loss: 2 },
      { family: 'lstm', width: 8, lr: 8e-3, loss: null },
    ]);
    assert.deepEqual(edge && [edge.lr, edge.how], [4e-3, 'edge']);
    assert.equal(bestLearningRate([{ family: 'lstm', width: 8, lr: 1e-3, loss: null }]), null);
    assert.equal(fitLrLaw('lstm', edge ? [edge] : []), null, 'one width: no law');
    const r = analyseLrSweep([{ family: 'lstm', width: 8, lr: 1e-3, loss: null }], 0.1, [1]);
    assert.deepEqual(r.errors, [
      'LR sweep, lstm width 8: every probe diverged',
      'LR sweep, lstm: fewer than 2 widths where the grid brackets the best LR (0 ended at an ' +
        'edge of the grid); the width rule is used',
    ]);
  });

  test('a law through bracketed widths but far steeper than any published one is refused', () => {
    // Width 8: best at 1e-2; width 16: best at 1e-2 / 32, i.e. lr ∝ width^-5.
    const probes: LrProbe[] = [8, 16].flatMap((width) => {
      const best = width === 8 ? 1e-2 : 1e-2 / 32;
      return [0.5, 1, 2].map((f) => ({
        family: 'lstm',
        width,
        lr: best * f,
        loss: f === 1 ? 2 : 2.5,
      }));
    });
    const r = analyseLrSweep(probes, 0.1, [0.5, 1, 2]);
    assert.equal(r.laws.lstm, undefined);
    assert.match(r.errors.join('; '), /lr ∝ width\^-5\.00 lies outside \[-2, 0\.5\] .* too steep/);
  });

  test('the grid grows one step past an edge that holds the best LR, not past a divergence', () => {
    const probes: LrProbe[] = [
      // Width 8: best at the largest LR: one step (x3) up.
      { family: 'lstm', width: 8, lr: 1e-3, loss: 3 },
      { family: 'lstm', width: 8, lr: 3e-3, loss: 2 },
      // Width 16: best at the smallest: one step down.
      { family: 'lstm', width: 16, lr: 1e-3, loss: 2 },
      { family: 'lstm', width: 16, lr: 3e-3, loss: 3 },
      // Width 32: best at the largest that trained, the next diverged: nothing to add.
      { family: 'lstm', width: 32, lr: 1e-3, loss: 3 },
      { family: 'lstm', width: 32, lr: 3e-3, loss: 2 },
      { family: 'lstm', width: 32, lr: 9e-3, loss: null },
    ];
    const r = analyseLrSweep(probes, 0.1, [1, 3]);
    const more = gridExtension(r.probes, r.best, 3);
    assert.equal(more.length, 2);
    near(more[0]?.lr as number, 9e-3, 1e-15, 'width 8 up');
    assert.equal(more[0]?.width, 8);
    near(more[1]?.lr as number, 1e-3 / 3, 1e-15, 'width 16 down');
    assert.equal(more[1]?.width, 16);
  });

  test('a width whose LRs all end on one plateau is left out; the law is clamped', () => {
    const flat = [1e-3, 3e-3, 9e-3].map((lr, i) => ({
      family: 'modern',
      width: 32,
      lr,
      loss: 3.05 + 0.005 * i,
    }));
    const all = [...flat, ...probes([48, 64], [0.25, 0.5, 1, 2])];
    const r = analyseLrSweep(all, 0.1, [1]);
    assert.equal(r.best.find((b) => b.width === 32)?.how, 'flat');
    assert.match(r.errors.join('\n'), /modern width 32: every LR ended within 1 % of the best/);
    const law = r.laws.modern;
    assert.ok(law);
    assert.deepEqual(law.widths, [48, 64], 'the flat width does not enter the law');
    near(law.b, -0.7, 1e-9, 'exponent from the two clear widths');
    // Far outside the probed LRs, the law is held at their ends.
    const lrs = all.map((p) => p.lr);
    assert.deepEqual(law.lrRange, { min: Math.min(...lrs), max: Math.max(...lrs) });
    assert.equal(lawLearningRate(law, 1), law.lrRange.max);
    assert.equal(lawLearningRate(law, 1e6), law.lrRange.min);
    near(lawLearningRate(law, 56), 0.05 * 56 ** -0.7, 1e-12, 'inside the range: the law');
  });

  test('probes are short runs of the family’s recipe at the grid LRs', () => {
    const specs = lrSweepSpecs(['modern'], PRESETS.tiny.lrSweep.widths, [0.5, 2], 0.5, {
      ...inputs,
      tokensPerParam: 40,
      seed: 1,
    });
    assert.equal(specs.length, 2 * PRESETS.tiny.lrSweep.widths.modern.length);
    for (const s of specs) {
      const full = runSpec('modern', s.width, { ...inputs, tokensPerParam: 40, lr: s.lr, seed: 1 });
      assert.equal(s.role, 'lr-sweep');
      assert.ok(s.steps < full.steps && s.steps >= 20, `${s.steps} steps of ${full.steps}`);
      assert.deepEqual(s.evalSteps, [s.steps]);
      assert.deepEqual(s.transformer, full.transformer);
    }
  });
});

describe('reference dependence', () => {
  test('the paper’s 2028 figures: 420,000x, 112.5x, 2.0x; LSTM growth 63 % a year', () => {
    const pts = referenceDependence(paperConstants(), [2027, 2028]);
    const p = pts[1];
    assert.ok(p);
    near(p.compute, 1.56e25, 0.01e25, 'C(2028)');
    near(p.lstm / 1e3, 420, 5, 'vs LSTM (thousands)');
    near(p.kaplan, 112.5, 0.5, 'vs Kaplan Transformer');
    assert.equal(p.dense, 2);
    const g = annualGrowth(pts.map((x) => ({ year: x.year, value: x.lstm })));
    near(g[1] as number, (0.094 / 0.065 - 1) * Math.log(4.1), 1e-9, 'growth vs LSTM');
    // With a measured joint gain the LSTM line is the retro law times it.
    const withJoint = referenceDependence(paperConstants(), [2028], { joint: 1 });
    assert.ok((withJoint[0]?.lstm as number) < p.lstm);
  });
});
