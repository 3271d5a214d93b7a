/**
 * The one-component ablations (spec A.1.4, A.1.5 and A.2 "Ablations"): start from the modern
 * Transformer at one width and swap exactly one component for its older alternative, with
 * everything else fixed; add the whole bundle (the retro Transformer at the same width); train
 * each arm with several seeds; and read off by-loss multipliers at one target loss:
 *
 *   m = C_ablated(L*) / C_modern(L*)   (> 1: the modern component saves compute)
 *
 * paired by seed, with the paper's error bar 1.96·SD/√n. The individual multipliers are then
 * shrunk geometrically so that their product equals the measured joint gain (modern vs retro),
 * and fed into the decomposition in place of the paper's.
 *
 * Choices [proposal]: sinusoidal positions come with the sqrt(width) embedding scale the 2017
 * Transformer used beside them (one component: the position scheme); post-LN trains at the
 * lower of the modern and retro learning rates, as the paper lowered it for post-LN; every arm
 * trains the baseline's number of tokens. Pure: no files, no printing.
 */
import { byLossMultiplier, normaliseToJoint, type SeedMultiplier } from './ceg.js';
import type { Family, ScalingRunSpec } from './config.js';
import { type Decomposition, type DecompositionInput, decompose } from './decompose.js';
import type { CurvePoint, RunCurve } from './frontier.js';
import { splitDiverged } from './frontier.js';

/** One component swap: the modern value, the older one, and the innovation older -> modern. */
export interface Ablation {
  id: string;
  component: string;
  modern: string;
  older: string;
  /** The innovation's name, as the decomposition's `ablations` keys name it. */
  innovation: string;
  /** The baseline spec with the component swapped; `retroLr` is the retro family's LR there. */
  apply(spec: ScalingRunSpec, retroLr: number): ScalingRunSpec;
}

function parts(spec: ScalingRunSpec): NonNullable<ScalingRunSpec['transformer']> {
  if (spec.transformer === null) {
    throw new RangeError(`ablations: the baseline must be a transformer, got ${spec.family}`);
  }
  return spec.transformer;
}

const swapPart = (
  spec: ScalingRunSpec,
  change: Partial<NonNullable<ScalingRunSpec['transformer']>>,
): ScalingRunSpec => ({ ...spec, transformer: { ...parts(spec), ...change } });

/** The swaps, in the order the report shows them. */
export const ABLATIONS: readonly Ablation[] = [
  {
    id: 'position-learned',
    component: 'position encoding',
    modern: 'rotary',
    older: 'learned',
    innovation: 'learned->rotary',
    apply: (s) => swapPart(s, { position: 'learned' }),
  },
  {
    id: 'position-sinusoidal',
    component: 'position encoding',
    modern: 'rotary',
    older: 'sinusoidal',
    innovation: 'sinusoidal->rotary',
    apply: (s) => swapPart(s, { position: 'sinusoidal', scaleEmbeddings: true }),
  },
  {
    id: 'norm-layernorm',
    component: 'norm',
    modern: 'RMSNorm',
    older: 'LayerNorm',
    innovation: 'LayerNorm->RMSNorm',
    apply: (s) => swapPart(s, { norm: 'layernorm' }),
  },
  {
    id: 'placement-post',
    component: 'norm placement',
    modern: 'pre',
    older: 'post',
    innovation: 'post->pre-LN',
    apply: (s, retroLr) => ({ ...swapPart(s, { placement: 'post' }), lr: Math.min(s.lr, retroLr) }),
  },
  {
    id: 'activation-gelu',
    component: 'activation',
    modern: 'SwiGLU',
    older: 'GELU',
    innovation: 'GELU->SwiGLU',
    apply: (s) => swapPart(s, { activation: 'gelu' }),
  },
  {
    id: 'schedule-inverse-sqrt',
    component: 'schedule',
    modern: 'cosine',
    older: 'inverse-sqrt',
    innovation: 'sqrt->cosine',
    apply: (s) => ({ ...s, schedule: 'inverse_sqrt' }),
  },
  {
    id: 'optimizer-adam',
    component: 'optimiser',
    modern: 'AdamW',
    older: 'Adam',
    innovation: 'Adam->AdamW',
    apply: (s) => ({ ...s, optimizer: 'adam' }),
  },
];

/** The arm names beside the swaps: the baseline and the whole bundle. */
export const BASELINE = 'modern';
export const BUNDLE = 'retro';

/** One planned ablation run. */
export interface AblationRun {
  /** 'modern' (baseline), an `Ablation.id`, or 'retro' (the bundle). */
  arm: string;
  seed: number;
  spec: ScalingRunSpec;
}

/**
 * The ablation runs: for each seed the baseline, each swap and the bundle. `specAt(family, seed)`
 * builds the main sweep's spec of a family at the ablation width, so the baseline and the bundle
 * are the main sweep's own runs when it has that width and seed (the same config hash).
 */
export function ablationRuns(
  seeds: readonly number[],
  specAt: (family: Family, seed: number) => ScalingRunSpec,
): AblationRun[] {
  const runs: AblationRun[] = [];
  for (const seed of seeds) {
    const baseline = specAt('modern', seed);
    const retro = specAt('retro', seed);
    runs.push({ arm: BASELINE, seed, spec: baseline });
    for (const a of ABLATIONS) runs.push({ arm: a.id, seed, spec: a.apply(baseline, retro.lr) });
    runs.push({ arm: BUNDLE, seed, spec: retro });
  }
  return runs;
}

/** A multiplier as the report and `--json` show it: null with the reason when not measured. */
export interface ArmMultiplier {
  arm: string;
  component: string;
  change: string;
  innovation: string;
  multiplier: SeedMultiplier | null;
  error: string | null;
}

export interface AblationAnalysis {
  width: number;
  seeds: number[];
  /** The loss every multiplier is read at, and how it was chosen. */
  target: { loss: number; source: string };
  /** Every swap, then the derived sinusoidal -> learned, each with its seed interval. */
  arms: ArmMultiplier[];
  /** The whole bundle: modern vs retro at the same width. */
  joint: ArmMultiplier;
  /** Raw mean multipliers of the innovations the bundle spans (position split in two steps). */
  innovations: Record<string, number>;
  /** Their product (what the bundle would give if the gains did not interact). */
  product: number | null;
  /** Each innovation shrunk so the product equals the joint gain; null with `errors`. */
  normalised: Record<string, number> | null;
  /** The decomposition 2012->2023 with these multipliers and joint, beside the paper's. */
  decomposition: { measured: Decomposition | null; paper: Decomposition };
  /** Runs left out because they diverged, and every reason a number is missing. */
  excluded: { arm: string; seed: number; reason: string }[];
  errors: string[];
}

/** The curve of one arm and seed, as read from the run store. */
export interface ArmCurve {
  arm: string;
  seed: number;
  points: readonly CurvePoint[];
}

/**
 * The default target loss [proposal]: the highest of the lowest losses the arms reached, so that
 * every run that trained reaches it (the paper fixed L* = 5.277 for C4 with BPE).
 */
export function defaultTarget(curves: readonly ArmCurve[]): number {
  const lows = curves.map((c) => Math.min(...c.points.map((p) => p.loss)));
  return Math.max(...lows.filter(Number.isFinite));
}

const describe = (a: Ablation) => `${a.modern} → ${a.older}`;

function armMultiplier(
  byArm: ReadonlyMap<string, Map<string, CurvePoint[]>>,
  reference: string,
  arm: string,
  target: number,
  label: Omit<ArmMultiplier, 'multiplier' | 'error'>,
): ArmMultiplier {
  const base = byArm.get(reference) ?? new Map();
  const abl = byArm.get(arm) ?? new Map();
  const m = byLossMultiplier(base, abl, target);
  if (m.n > 0) return { ...label, multiplier: m, error: null };
  const why =
    m.missing.length > 0
      ? m.missing.join('; ')
      : `no seed has both a '${reference}' and a '${arm}' run that trained`;
  return {
    ...label,
    multiplier: null,
    error:
      `ablation '${arm}' vs '${reference}': no multiplier at target loss ${target.toFixed(4)} ` +
      `(${why}); give a higher --ablation-target, or train longer`,
  };
}

/**
 * Multipliers, normalisation and the measured decomposition from the arms' curves (see the file
 * comment). `paper` is the decomposition input whose ablations and joint are replaced.
 */
export function analyseAblations(
  curves: readonly ArmCurve[],
  o: { width: number; seeds: number[]; target?: number; paper: DecompositionInput },
): AblationAnalysis {
  const asRuns: RunCurve[] = curves.map((c) => ({
    run: `${c.arm}#${c.seed}`,
    family: c.arm,
    points: c.points,
  }));
  const { kept, excluded } = splitDiverged(asRuns);
  const keptCurves = curves.filter((c) => kept.some((k) => k.run === `${c.arm}#${c.seed}`));
  const errors: string[] = [];
  const byArm = new Map<string, Map<string, CurvePoint[]>>();
  for (const c of keptCurves) {
    const m = byArm.get(c.arm) ?? new Map<string, CurvePoint[]>();
    m.set(String(c.seed), [...c.points]);
    byArm.set(c.arm, m);
  }
  const target =
    o.target !== undefined
      ? { loss: o.target, source: 'given' }
      : {
          loss: keptCurves.length > 0 ? defaultTarget(keptCurves) : Number.NaN,
          source: 'derived: the highest of the lowest held-out losses the runs reached',
        };
  const arms = ABLATIONS.map((a) =>
    armMultiplier(byArm, BASELINE, a.id, target.loss, {
      arm: a.id,
      component: a.component,
      change: describe(a),
      innovation: a.innovation,
    }),
  );
  // sinusoidal -> learned: how much more the sinusoidal arm needs than the learned one.
  arms.push(
    armMultiplier(byArm, 'position-learned', 'position-sinusoidal', target.loss, {
      arm: 'position-sinusoidal/learned',
      component: 'position encoding',
      change: 'learned → sinusoidal',
      innovation: 'sinusoidal->learned',
    }),
  );
  const joint = armMultiplier(byArm, BASELINE, BUNDLE, target.loss, {
    arm: BUNDLE,
    component: 'whole bundle',
    change: 'modern → retro',
    innovation: 'retro->modern',
  });
  for (const a of [...arms, joint]) if (a.error !== null) errors.push(a.error);

  // The bundle spans these steps: sinusoidal -> learned -> rotary, and one step per other part.
  const spanned = [
    'sinusoidal->learned',
    'learned->rotary',
    'LayerNorm->RMSNorm',
    'post->pre-LN',
    'GELU->SwiGLU',
    'sqrt->cosine',
    'Adam->AdamW',
  ];
  const innovations: Record<string, number> = {};
  for (const name of spanned) {
    const m = arms.find((a) => a.innovation === name)?.multiplier;
    if (m) innovations[name] = m.mean;
  }
  const complete = Object.keys(innovations).length === spanned.length;
  const product = complete ? Object.values(innovations).reduce((p, m) => p * m, 1) : null;
  let normalised: Record<string, number> | null = null;
  if (complete && joint.multiplier !== null && product !== null) {
    const j = joint.multiplier.mean;
    if (Math.log(j) * Math.log(product) < 0) {
      // The exponent ln(joint)/ln(product) would be negative and turn every gain into a loss.
      errors.push(
        `interaction normalisation not done: the product of the one-component multipliers ` +
          `(${product.toFixed(3)}x) and the joint gain (${j.toFixed(3)}x) lie on opposite sides ` +
          'of 1, so no common shrinking maps one onto the other',
      );
    } else {
      try {
        normalised = normaliseToJoint(innovations, j);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  } else {
    errors.push('interaction normalisation not done: a multiplier or the joint gain is missing');
  }
  let measured: Decomposition | null = null;
  if (normalised !== null && joint.multiplier !== null) {
    measured = decompose(
      { ...o.paper, ablations: innovations, joint: joint.multiplier.mean },
      2012,
      2023,
    );
  }
  return {
    width: o.width,
    seeds: o.seeds,
    target,
    arms,
    joint,
    innovations,
    product,
    normalised,
    decomposition: { measured, paper: decompose(o.paper, 2012, 2023) },
    excluded: excluded.map((e) => {
      const [arm, seed] = e.run.split('#') as [string, string];
      return { arm, seed: Number(seed), reason: e.reason };
    }),
    errors,
  };
}
