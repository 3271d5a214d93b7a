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
    .describe('UTF-8 text file to train on, character-level (default: Moby Dick, from npm)'),
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
  seed: int(0).default(1).describe('seed of every run and of the bootstrap'),
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
}

export const PRESETS: Record<ScalingConfig['preset'], Preset> = {
  tiny: {
    widths: { lstm: [8, 16, 32], retro: [16, 32], modern: [16, 32] },
    tokensPerParam: 0.5,
    context: 32,
    batchSize: 4,
    evals: 6,
    evalBatches: 2,
  },
  quick: {
    widths: { lstm: [16, 32, 64, 128], retro: [16, 32, 48, 64], modern: [16, 32, 48, 64] },
    tokensPerParam: 5,
    context: 64,
    batchSize: 16,
    evals: 16,
    evalBatches: 4,
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
  },
};

/** What one run of the sweep trains: saved as the run's config (its hash finds it again). */
export interface ScalingRunSpec {
  study: 'scaling';
  family: Family;
  /** Absolute path of the text, or 'moby-dick' for the default corpus. */
  data: string;
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
  /** Transformer parts; null for the LSTM. */
  transformer: {
    position: 'sinusoidal' | 'rotary';
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
 * Peak learning rate per family and width [proposal]: lr = base * (64 / width)^0.5.
 * LIMITATION: not tuned by the paper's per-width LR sweep; the bases were chosen by hand for
 * character-level models of widths 16–256.
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

/** The run specs of a sweep. */
export function sweepSpecs(config: ScalingConfig, data: string, vocab: number): ScalingRunSpec[] {
  const preset = PRESETS[config.preset];
  const families = config.families.split(',').map((f) => f.trim());
  for (const f of families) {
    if (!(FAMILIES as readonly string[]).includes(f)) {
      throw new RangeError(`families: expected some of ${FAMILIES.join(', ')}, got '${f}'`);
    }
  }
  const given = config.widths?.split(',').map((w) => Number(w.trim()));
  if (given?.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new RangeError(
      `widths: expected comma-separated positive integers, got '${config.widths}'`,
    );
  }
  const tokensPerParam = config.tokensPerParam ?? preset.tokensPerParam;
  const specs: ScalingRunSpec[] = [];
  for (const family of families as Family[]) {
    for (const width of given ?? preset.widths[family]) {
      const params = parameterCount(family, width, vocab);
      const tokensPerStep = preset.batchSize * preset.context;
      const steps = Math.max(20, Math.ceil((tokensPerParam * params) / tokensPerStep));
      const lstm = family === 'lstm';
      if (!lstm && width % 16 !== 0 && width > 16) {
        throw new RangeError(`widths: transformer widths must be multiples of 16, got ${width}`);
      }
      const layers = lstm ? 1 : Math.max(1, Math.round(width / 16));
      specs.push({
        study: 'scaling',
        family,
        data,
        width,
        layers,
        heads: lstm ? 1 : layers,
        context: preset.context,
        batchSize: preset.batchSize,
        steps,
        evalSteps: evalSchedule(steps, preset.evals),
        evalBatches: preset.evalBatches,
        lr: learningRate(family, width),
        warmup: Math.max(1, Math.round(steps * 0.1)),
        optimizer: family === 'retro' ? 'adam' : 'adamw',
        schedule: family === 'retro' ? 'inverse_sqrt' : 'cosine',
        weightDecay: 0.01,
        gradClip: 1,
        seed: config.seed,
        valFraction: 0.1,
        transformer:
          family === 'lstm'
            ? null
            : family === 'retro'
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
                },
      });
    }
  }
  return specs;
}
