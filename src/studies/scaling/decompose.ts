/**
 * The decomposition calculator (spec A.1.6–A.1.8): which innovations, adopted in which year, give
 * how much compute-equivalent gain at the frontier compute of each year, and how much of the
 * total depends on scale. Pure arithmetic on constants; the defaults are the paper's published
 * constants (the authors' `constants.py` and `utils.py`), from which the tests reproduce the
 * headline 6,926x (2012->2023), 726x, 3.71x and an 89.3 % scale-dependent share.
 *
 * Users replace any constant or the innovation list with a JSON file (`DecompositionInputSchema`).
 */
import { z } from 'zod';
import { cegAtCompute, normaliseToJoint } from './ceg.js';

const law = z.strictObject({
  A: z.number().positive().describe('reducible-loss coefficient'),
  alpha: z.number().negative().describe('compute exponent (< 0)'),
});

const innovation = z.strictObject({
  name: z.string().min(1),
  year: z.number().describe('year of adoption at the frontier'),
  /** 'kaplan': CEG LSTM->retro / chin(C); 'chinchilla': chin(C); 'ablation': the normalised
   * multiplier of `ablation`; 'constant': `multiplier`. */
  kind: z.enum(['kaplan', 'chinchilla', 'ablation', 'constant']),
  ablation: z.string().optional(),
  multiplier: z.number().positive().optional(),
});

/** All inputs of the decomposition; every field defaults to the paper's value. */
export const DecompositionInputSchema = z.strictObject({
  irreducible: z.number().default(1.9).describe('E of the laws below (nats)'),
  lstm: law.default({ A: 36.3, alpha: -0.065 }),
  retro: law.default({ A: 81.7, alpha: -0.091 }),
  modern: law.default({ A: 88.0, alpha: -0.094 }),
  chinchilla: z
    .strictObject({
      A: z.number().positive(),
      B: z.number().positive(),
      a: z.number().positive(),
      b: z.number().positive(),
    })
    .default({ A: 406.4, B: 410.7, a: 0.34, b: 0.28 })
    .describe('Chinchilla approach-3 law without E (Hoffmann et al. 2022)'),
  kaplan: z
    .strictObject({ k: z.number().positive(), exponent: z.number().positive() })
    .default({ k: 3.6332e-6, exponent: 0.73 })
    .describe('Kaplan allocation N = k * C^exponent'),
  frontierCompute: z
    .strictObject({
      c0: z.number().positive(),
      year0: z.number(),
      growth: z.number().positive(),
    })
    .default({ c0: 1e16, year0: 2013, growth: 4.1 })
    .describe('frontier compute C(y) = c0 * growth^(y - year0)'),
  ablations: z
    .record(z.string(), z.number().positive())
    .default({
      'learned->rotary': 1.26,
      'post->pre-LN': 1.87,
      'sqrt->cosine': 1.04,
      'LayerNorm->RMSNorm': 1.09,
      'sinusoidal->learned': 1.44 / 1.26,
      'GELU->SwiGLU': 1.17,
    })
    .describe('measured small-scale ablation multipliers (before normalisation)'),
  joint: z.number().positive().default(1.33).describe('measured joint gain modern vs retro'),
  innovations: z.array(innovation).default([
    { name: 'Kaplan Transformer', year: 2017, kind: 'kaplan' },
    {
      name: 'sinusoidal->learned PE',
      year: 2018,
      kind: 'ablation',
      ablation: 'sinusoidal->learned',
    },
    { name: 'sqrt->cosine schedule', year: 2018, kind: 'ablation', ablation: 'sqrt->cosine' },
    { name: 'post->pre LayerNorm', year: 2019, kind: 'ablation', ablation: 'post->pre-LN' },
    { name: 'LayerNorm->RMSNorm', year: 2020, kind: 'ablation', ablation: 'LayerNorm->RMSNorm' },
    { name: 'learned->rotary PE', year: 2021, kind: 'ablation', ablation: 'learned->rotary' },
    { name: 'Mixture-of-Experts', year: 2021, kind: 'constant', multiplier: 2.0 },
    { name: 'Chinchilla rebalancing', year: 2022, kind: 'chinchilla' },
  ]),
  hoTotal: z.number().positive().default(22000).describe('Ho et al. 2024 total, for the gap'),
});
export type DecompositionInput = z.infer<typeof DecompositionInputSchema>;

/** The paper's constants. */
export function paperConstants(): DecompositionInput {
  return DecompositionInputSchema.parse({});
}

/** Frontier compute in year `y`. */
export function frontierCompute(input: DecompositionInput, year: number): number {
  const f = input.frontierCompute;
  return f.c0 * f.growth ** (year - f.year0);
}

/**
 * Kaplan->Chinchilla rebalancing multiplier at compute C: C / C_chin(l_K(C)), where l_K is the
 * Chinchilla law's loss at Kaplan's allocation and C_chin inverts the Chinchilla-optimal loss.
 */
export function chinchillaMultiplier(input: DecompositionInput, compute: number): number {
  const { A, B, a, b } = input.chinchilla;
  const N = input.kaplan.k * compute ** input.kaplan.exponent;
  const D = compute / (6 * N);
  const lossKaplan = A / N ** a + B / D ** b;
  const gamma = (a * b) / (a + b);
  const G = ((a * A) / (b * B)) ** (1 / (a + b));
  const K = (A * G ** -a + B * G ** b) * 6 ** gamma;
  return compute * (lossKaplan / K) ** (1 / gamma);
}

/** CEG LSTM -> retro Transformer at compute C, from the two laws. */
export function lstmToRetro(input: DecompositionInput, compute: number): number {
  const E = input.irreducible;
  return cegAtCompute({ ...input.lstm, E }, { ...input.retro, E }, compute);
}

/** The "Kaplan Transformer" factor: the LSTM->Transformer CEG with the rebalancing divided out. */
export function kaplanTransformer(input: DecompositionInput, compute: number): number {
  return lstmToRetro(input, compute) / chinchillaMultiplier(input, compute);
}

/** Ablation multipliers normalised so their product is the joint gain. */
export function normalisedAblations(input: DecompositionInput): Record<string, number> {
  return normaliseToJoint(input.ablations, input.joint);
}

/** One innovation's factor at compute C (not yet gated by year). */
export function innovationFactor(
  input: DecompositionInput,
  inn: DecompositionInput['innovations'][number],
  compute: number,
  normalised: Readonly<Record<string, number>> = normalisedAblations(input),
): number {
  switch (inn.kind) {
    case 'kaplan':
      return kaplanTransformer(input, compute);
    case 'chinchilla':
      return chinchillaMultiplier(input, compute);
    case 'constant':
      if (inn.multiplier === undefined) {
        throw new RangeError(`innovation '${inn.name}': kind 'constant' needs a multiplier`);
      }
      return inn.multiplier;
    case 'ablation': {
      const m = inn.ablation !== undefined ? normalised[inn.ablation] : undefined;
      if (m === undefined) {
        throw new RangeError(
          `innovation '${inn.name}': ablation '${inn.ablation}' is not among the ablations ` +
            `(${Object.keys(normalised).join(', ')})`,
        );
      }
      return m;
    }
  }
}

/** What `sextant scaling decompose --json` prints. */
export interface Decomposition {
  from: number;
  to: number;
  computeFrom: number;
  computeTo: number;
  /** Product of every innovation adopted in (from, to], at the frontier compute of `to`. */
  total: number;
  kaplanTransformer: number;
  chinchilla: number;
  scaleDependent: number;
  scaleInvariant: number;
  /** ln(scale-dependent) / ln(total). */
  scaleDependentShare: number;
  annualRate: number;
  gapToHo: number;
  /** Each innovation's factor and log-share. */
  innovations: { name: string; year: number; factor: number; share: number }[];
  normalisedAblations: Record<string, number>;
}

/** The decomposition between years `from` and `to` (frontier view, spec A.1.8). */
export function decompose(input: DecompositionInput, from: number, to: number): Decomposition {
  if (!(to > from)) throw new RangeError(`decompose: 'to' (${to}) must be after 'from' (${from})`);
  const C = frontierCompute(input, to);
  const normalised = normalisedAblations(input);
  const adopted = input.innovations.filter((i) => i.year > from && i.year <= to);
  const factors = adopted.map((i) => ({
    name: i.name,
    year: i.year,
    kind: i.kind,
    factor: innovationFactor(input, i, C, normalised),
  }));
  const total = factors.reduce((p, f) => p * f.factor, 1);
  const of = (kind: string) =>
    factors.filter((f) => f.kind === kind).reduce((p, f) => p * f.factor, 1);
  const kaplan = of('kaplan');
  const chin = of('chinchilla');
  const scaleDependent = kaplan * chin;
  return {
    from,
    to,
    computeFrom: frontierCompute(input, from),
    computeTo: C,
    total,
    kaplanTransformer: kaplan,
    chinchilla: chin,
    scaleDependent,
    scaleInvariant: total / scaleDependent,
    scaleDependentShare: Math.log(scaleDependent) / Math.log(total),
    annualRate: total ** (1 / (to - from)),
    gapToHo: input.hoTotal / total,
    innovations: factors.map((f) => ({
      name: f.name,
      year: f.year,
      factor: f.factor,
      share: Math.log(f.factor) / Math.log(total),
    })),
    normalisedAblations: normalised,
  };
}

/** Cumulative factor of each innovation at the frontier of each year (the stack plot). */
export function frontierStack(
  input: DecompositionInput,
  years: readonly number[],
): { year: number; compute: number; factors: Record<string, number> }[] {
  const normalised = normalisedAblations(input);
  return years.map((year) => {
    const C = frontierCompute(input, year);
    const factors: Record<string, number> = {};
    for (const inn of input.innovations) {
      factors[inn.name] = inn.year <= year ? innovationFactor(input, inn, C, normalised) : 1;
    }
    return { year, compute: C, factors };
  });
}

/**
 * Sensitivity of the scale-dependent share to the exponent gap (spec A.1.8): alpha_LSTM moved so
 * that alpha_retro - alpha_LSTM is scaled by (1 + delta).
 */
export function gapSensitivity(
  input: DecompositionInput,
  from: number,
  to: number,
  deltas: readonly number[],
): { delta: number; share: number }[] {
  const gap = input.retro.alpha - input.lstm.alpha;
  return deltas.map((delta) => {
    const lstm = { ...input.lstm, alpha: input.retro.alpha - gap * (1 + delta) };
    return { delta, share: decompose({ ...input, lstm }, from, to).scaleDependentShare };
  });
}

/** The CEG of the modern MoE Transformer at the frontier of one year, by reference. */
export interface ReferencePoint {
  year: number;
  compute: number;
  /** Relative to the LSTM: MoE x CEG_{LSTM->modern}(C). */
  lstm: number;
  /** Relative to the Kaplan-allocated Transformer: MoE x chin(C). */
  kaplan: number;
  /** Relative to the dense modern Transformer: MoE alone. */
  dense: number;
}

/**
 * Reference dependence (spec A.1.8, the authors' `reference_dependence.ipynb`): the same model's
 * CEG measured against three references, at the frontier compute of each year. With `joint`
 * (a measured modern-vs-retro gain) the LSTM line uses CEG_{LSTM->retro}(C) x joint instead of
 * the modern law, which is where this sweep's ablations enter.
 */
export function referenceDependence(
  input: DecompositionInput,
  years: readonly number[],
  options: { moe?: number; joint?: number } = {},
): ReferencePoint[] {
  const moe = options.moe ?? 2.0;
  const E = input.irreducible;
  return years.map((year) => {
    const C = frontierCompute(input, year);
    const lstm =
      options.joint === undefined
        ? cegAtCompute({ ...input.lstm, E }, { ...input.modern, E }, C)
        : lstmToRetro(input, C) * options.joint;
    return {
      year,
      compute: C,
      lstm: moe * lstm,
      kaplan: moe * chinchillaMultiplier(input, C),
      dense: moe,
    };
  });
}

/** Annual growth rate d ln CEG / d year by central differences (one-sided at the ends). */
export function annualGrowth(points: readonly { year: number; value: number }[]): number[] {
  return points.map((_, i) => {
    const a = points[Math.max(0, i - 1)] as { year: number; value: number };
    const b = points[Math.min(points.length - 1, i + 1)] as { year: number; value: number };
    return b.year === a.year ? 0 : (Math.log(b.value) - Math.log(a.value)) / (b.year - a.year);
  });
}
