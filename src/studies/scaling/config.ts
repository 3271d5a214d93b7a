/**
 * The config of `sextant scaling`: which families and widths to train, on what text, for how
 * long, and how to fit. Each field's `.describe()` is its CLI help (src/cli/schema-options.ts).
 *
 * Families (spec A.2, issue 6):
 *   - lstm:   1-layer LSTM, AdamW, cosine;
 *   - retro:  2017-style Transformer: post-LayerNorm, sinusoidal positions, GELU, Adam,
 *             inverse-square-root schedule;
 *   - modern: pre-RMSNorm, rotary, SwiGLU, AdamW, cosine.
 * Transformers tie depth and heads to width as the paper does: layers = heads = width / 16 (head
 * size 16).
 */
import { z } from 'zod';

export const FAMILIES = ['lstm', 'retro', 'modern'] as const;
export type Family = (typeof FAMILIES)[number];

const int = (min: number) => z.number().int().min(min);

export const ScalingSchema = z.strictObject({
  data: z
    .string()
    .min(1)
    .optional()
    .describe('UTF-8 text file to train on (default: Moby Dick, from npm)'),
  tokenizer: z
    .string()
    .min(1)
    .optional()
    .describe("Hugging Face tokenizer.json (or its folder) for the text, or 'char' (the default)"),
  preset: z
    .enum(['quick', 'full', 'tiny'])
    .default('quick')
    .describe('quick: minutes on 2 cores; full: hours; tiny: seconds (tests)'),
  families: z
    .string()
    .default('lstm,retro,modern')
    .describe('comma-separated families to sweep: lstm, retro, modern'),
  widths: z
    .string()
    .optional()
    .describe("comma-separated widths, same for every family (default: the preset's)"),
  tokensPerParam: z
    .number()
    .positive()
    .optional()
    .describe("training tokens per parameter (default: the preset's)"),
  seed: int(0).default(1).describe('first seed of every run, and the seed of the bootstrap'),
  seeds: int(1)
    .optional()
    .describe("seeds per width in the main sweep (default: the preset's); seeds s, s+1, ..."),
  lr: z
    .number()
    .positive()
    .optional()
    .describe('peak learning rate of every run; skips the LR sweep (default: fitted per family)'),
  lrSweep: z
    .boolean()
    .default(true)
    .describe('sweep the LR at a few widths and fit best LR vs width (off: a width rule)'),
  ablations: z
    .boolean()
    .default(true)
    .describe('train the one-component ablations of the modern Transformer at one width'),
  ablationWidth: int(16)
    .optional()
    .describe("width of the ablation runs, a multiple of 16 (default: the preset's)"),
  ablationSeeds: int(1).optional().describe("seeds per ablation (default: the preset's)"),
  ablationTarget: z
    .number()
    .positive()
    .optional()
    .describe('target loss (nats) of the ablation multipliers (default: the loss all runs reach)'),
  irreducible: z
    .number()
    .min(0)
    .optional()
    .describe('irreducible loss E in nats (default: fitted; the paper fixes 1.9 for C4/BPE)'),
  method: z
    .enum(['linear', 'log', 'huber'])
    .default('linear')
    .describe("the headline fit method (all three are reported); 'linear' is the paper's"),
  windowMin: z.number().positive().optional().describe('fit window lower end, FLOPs'),
  windowMax: z.number().positive().optional().describe('fit window upper end, FLOPs'),
  resamples: int(0).default(200).describe('bootstrap resamples over runs (0: no intervals)'),
  workers: int(1).optional().describe('parallel training processes (default: the CPU count)'),
  out: z.string().optional().describe('folder of report.html, report.md and fits.json'),
  runs: z.string().optional().describe('the run store folder (default: $SEXTANT_RUNS or ./runs)'),
  plan: z.boolean().default(false).describe('print the plan and stop'),
  json: z.boolean().default(false).describe('print one JSON object (the fits) at the end'),
});
export type ScalingConfig = z.infer<typeof ScalingSchema>;

/** Sizes of a preset. */
export interface Preset {
  widths: Record<Family, number[]>;
  tokensPerParam: number;
  context: number;
  batchSize: number;
  /** Evaluations per run, spaced evenly in log steps. */
  evals: number;
  evalBatches: number;
  /** Seeds per width in the main sweep. */
  seeds: number;
  /** Checkpoints written per run (evenly spaced; the last step always has one). */
  checkpoints: number;
  /** The one-component ablations: at which width, with how many seeds. */
  ablation: { width: number; seeds: number };
  /**
   * The LR sweep: at these widths, peak LRs of the width rule times each factor, trained for
   * `budget` of the main run's tokens; up to `extend` rounds of one more probe past the grid's
   * edge where the best LR sits on it. Widths whose probes would be only a few dozen steps are
   * left out: so short a run favours the largest LR, whatever the longer run needs.
   */
  lrSweep: {
    widths: Record<Family, number[]>;
    factors: number[];
    budget: number;
    extend: number;
  };
}

export const PRESETS: Record<ScalingConfig['preset'], Preset> = {
  tiny: {
    widths: { lstm: [8, 16, 32], retro: [16, 32], modern: [16, 32] },
    tokensPerParam: 0.5,
    context: 32,
    batchSize: 4,
    evals: 6,
    evalBatches: 2,
    seeds: 1,
    checkpoints: 2,
    ablation: { width: 16, seeds: 2 },
    lrSweep: {
      widths: { lstm: [8, 16], retro: [16, 32], modern: [16, 32] },
      factors: [0.5, 1, 2],
      budget: 0.5,
      extend: 1,
    },
  },
  quick: {
    widths: { lstm: [16, 32, 64, 128], retro: [16, 32, 48], modern: [16, 32, 48] },
    tokensPerParam: 12,
    context: 64,
    batchSize: 16,
    evals: 16,
    evalBatches: 4,
    seeds: 1,
    checkpoints: 4,
    ablation: { width: 32, seeds: 3 },
    lrSweep: {
      widths: { lstm: [32, 64, 128], retro: [32, 48], modern: [32, 48] },
      factors: [1 / 3, 1, 3],
      budget: 0.2,
      extend: 1,
    },
  },
  full: {
    widths: {
      lstm: [32, 64, 96, 128, 192, 256, 384, 512],
      retro: [32, 48, 64, 96, 128, 160, 192, 256],
      modern: [32, 48, 64, 96, 128, 160, 192, 256],
    },
    tokensPerParam: 40,
    context: 128,
    batchSize: 32,
    evals: 30,
    evalBatches: 16,
    seeds: 2,
    checkpoints: 10,
    ablation: { width: 64, seeds: 3 },
    lrSweep: {
      widths: { lstm: [64, 128, 256, 512], retro: [64, 96, 128], modern: [64, 96, 128] },
      factors: [0.25, 0.5, 1, 2, 4],
      budget: 0.1,
      extend: 2,
    },
  },
};

/** What one run of the sweep trains: saved as the run's config (its hash finds it again). */
export interface ScalingRunSpec {
  study: 'scaling';
  family: Family;
  /** Absolute path of the text, or 'moby-dick' for the default corpus. */
  data: string;
  /** Absolute path of a tokenizer.json (or its folder); absent: character-level. */
  tokenizer?: string;
  width: number;
  layers: number;
  heads: number;
  context: number;
  batchSize: number;
  steps: number;
  /** Steps after which the held-out loss is logged (increasing; the last is `steps`). */
  evalSteps: number[];
  evalBatches: number;
  lr: number;
  warmup: number;
  optimizer: 'adam' | 'adamw';
  schedule: 'cosine' | 'inverse_sqrt';
  weightDecay: number;
  gradClip: number;
  seed: number;
  valFraction: number;
  /** Set on the short runs of the LR sweep only (the main and ablation runs have no role, so an
   * ablation's baseline is the main sweep's run with the same config). */
  role?: 'lr-sweep';
  /** Transformer parts; null for the LSTM. */
  transformer: {
    position: 'sinusoidal' | 'learned' | 'rotary';
    norm: 'layernorm' | 'rmsnorm';
    placement: 'pre' | 'post';
    activation: 'gelu' | 'swiglu';
    /** Multiply token embeddings by sqrt(width), as the 2017 Transformer did next to its
     * additive sinusoidal positions (without it the positions drown the tokens at init). */
    scaleEmbeddings: boolean;
  } | null;
}

/** Parameter count of a family at a width for a vocabulary (for planning). */
export function parameterCount(family: Family, width: number, vocab: number): number {
  if (family === 'lstm') return 4 * width * (2 * width + 1) + vocab * width + vocab;
  const layers = Math.max(1, Math.round(width / 16));
  // Attention 4 w^2; MLP 8 w^2 (GELU, 4w hidden) or 12 w^2 (SwiGLU, 4w hidden); tied embedding.
  const mlp = family === 'modern' ? 12 : 8;
  return layers * (4 + mlp) * width * width + vocab * width;
}

/**
 * Peak learning rate per family and width by a fixed rule [proposal]: lr = base * (64 / width)^0.5.
 * The LR sweep (lr-sweep.ts) replaces it with a fitted law unless `lrSweep` is off; the bases
 * were chosen by hand for character-level models of widths 16–256 and set the sweep's centre.
 */
export function learningRate(family: Family, width: number): number {
  const base = family === 'lstm' ? 1e-2 : family === 'retro' ? 2e-3 : 4e-3;
  return base * Math.sqrt(64 / width);
}

/** Log-spaced evaluation steps: `n` distinct steps from about 1 % of `steps` to `steps`. */
export function evalSchedule(steps: number, n: number): number[] {
  const first = Math.max(1, Math.round(steps / 100));
  const out = new Set<number>();
  for (let i = 0; i < n; i++) {
    out.add(Math.round(first * (steps / first) ** (i / Math.max(1, n - 1))));
  }
  out.add(steps);
  return [...out].sort((a, b) => a - b);
}

/** The families of `config`, checked. */
export function parseFamilies(config: Pick<ScalingConfig, 'families'>): Family[] {
  const families = config.families.split(',').map((f) => f.trim());
  for (const f of families) {
    if (!(FAMILIES as readonly string[]).includes(f)) {
      throw new RangeError(`families: expected some of ${FAMILIES.join(', ')}, got '${f}'`);
    }
  }
  return families as Family[];
}

/** The transformer parts of a family (null for the LSTM). */
export function familyParts(family: Family): ScalingRunSpec['transformer'] {
  if (family === 'lstm') return null;
  return family === 'retro'
    ? {
        position: 'sinusoidal',
        norm: 'layernorm',
        placement: 'post',
        activation: 'gelu',
        scaleEmbeddings: true,
      }
    : {
        position: 'rotary',
        norm: 'rmsnorm',
        placement: 'pre',
        activation: 'swiglu',
        scaleEmbeddings: false,
      };
}

/** What a run spec is built from beside its family and width. */
export interface SpecInputs {
  preset: Preset;
  data: string;
  /** A tokenizer file; absent: character-level (and absent from the spec, so hashes stay). */
  tokenizer?: string;
  vocab: number;
  tokensPerParam: number;
  lr: number;
  seed: number;
}

/** The run spec of `family` at `width`: tokens from the budget, the family's parts. */
export function runSpec(family: Family, width: number, o: SpecInputs): ScalingRunSpec {
  const lstm = family === 'lstm';
  // Heads are width / 16 (at least one), so a transformer narrower than 16 would have a head
  // size that does not divide its width.
  if (!lstm && (width % 16 !== 0 || width < 16)) {
    throw new RangeError(
      `widths: transformer widths must be multiples of 16 (16, 32, 48, ...), got ${width}`,
    );
  }
  const params = parameterCount(family, width, o.vocab);
  const tokensPerStep = o.preset.batchSize * o.preset.context;
  const steps = Math.max(20, Math.ceil((o.tokensPerParam * params) / tokensPerStep));
  const layers = lstm ? 1 : Math.max(1, Math.round(width / 16));
  return {
    study: 'scaling',
    family,
    data: o.data,
    ...(o.tokenizer !== undefined ? { tokenizer: o.tokenizer } : {}),
    width,
    layers,
    heads: lstm ? 1 : layers,
    context: o.preset.context,
    batchSize: o.preset.batchSize,
    steps,
    evalSteps: evalSchedule(steps, o.preset.evals),
    evalBatches: o.preset.evalBatches,
    lr: o.lr,
    warmup: Math.max(1, Math.round(steps * 0.1)),
    optimizer: family === 'retro' ? 'adam' : 'adamw',
    schedule: family === 'retro' ? 'inverse_sqrt' : 'cosine',
    weightDecay: 0.01,
    gradClip: 1,
    seed: o.seed,
    valFraction: 0.1,
    transformer: familyParts(family),
  };
}

/** The widths of `family` in the main sweep: `--widths` or the preset's. */
export function sweepWidths(config: ScalingConfig, family: Family): number[] {
  const given = config.widths?.split(',').map((w) => Number(w.trim()));
  if (given?.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new RangeError(
      `widths: expected comma-separated positive integers, got '${config.widths}'`,
    );
  }
  return given ?? PRESETS[config.preset].widths[family];
}

/**
 * The run specs of the main sweep: every family at every width, with `seeds` seeds from
 * `config.seed`; `lrOf` gives the peak LR (given, fitted by the LR sweep, or the width rule).
 */
export function sweepSpecs(
  config: ScalingConfig,
  data: string,
  vocab: number,
  lrOf: (family: Family, width: number) => number = (f, w) => config.lr ?? learningRate(f, w),
  tokenizer?: string,
): ScalingRunSpec[] {
  const preset = PRESETS[config.preset];
  const tokensPerParam = config.tokensPerParam ?? preset.tokensPerParam;
  const seeds = config.seeds ?? preset.seeds;
  const specs: ScalingRunSpec[] = [];
  for (const family of parseFamilies(config)) {
    for (const width of sweepWidths(config, family)) {
      for (let k = 0; k < seeds; k++) {
        const lr = lrOf(family, width);
        const seed = config.seed + k;
        const o = { preset, data, vocab, tokensPerParam, lr, seed };
        specs.push(runSpec(family, width, tokenizer !== undefined ? { ...o, tokenizer } : o));
      }
    }
  }
  return specs;
}
