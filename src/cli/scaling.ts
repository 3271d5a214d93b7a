/**
 * `sextant scaling`: the scaling study (spec A, issue 6): sweep LSTM, retro and modern
 * Transformer families, fit their compute frontiers, compare them in compute-equivalent gains,
 * and write report.html, report.md and fits.json. `sextant scaling decompose`: the paper's
 * decomposition of algorithmic progress by innovation, from its constants or the user's.
 *
 * Output: the plan and progress on stderr, the result on stdout (text, or with `--json` one JSON
 * object). Exit status: 0 done, 1 a run or a fit failed, 2 bad config or data.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { kernels } from '../backends/index.js';
import { formatDuration } from '../runs/progress.js';
import type { AblationAnalysis, ArmMultiplier } from '../studies/scaling/ablation.js';
import { familySummary, steepnessFindings } from '../studies/scaling/analysis.js';
import { ScalingSchema } from '../studies/scaling/config.js';
import {
  DecompositionInputSchema,
  decompose,
  gapSensitivity,
} from '../studies/scaling/decompose.js';
import { runScalingStudy, type StudyEvent } from '../studies/scaling/study.js';
import { ConfigValidationError, formatConfig, resolveConfig } from '../train/config-resolve.js';
import { addSchemaOptions, flagValues } from './schema-options.js';
import type { Streams } from './train.js';

export const DecomposeSchema = z.strictObject({
  constants: z
    .string()
    .optional()
    .describe('JSON file of constants and innovations replacing the paper’s (any subset)'),
  from: z.number().int().default(2012).describe('first year'),
  to: z.number().int().default(2023).describe('last year'),
  json: z.boolean().default(false).describe('print one JSON object'),
});

/** Adds `sextant scaling` and `sextant scaling decompose` to `program`. */
export function registerScalingCommands(program: Command): void {
  const cmd = program
    .command('scaling')
    .description('scaling study: LSTM vs Transformer compute frontiers, fits, CEG, report');
  addSchemaOptions(cmd, ScalingSchema);
  cmd.addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  $ sextant scaling                              quick preset on Moby Dick',
      '  $ sextant scaling --data input.txt --plan      the plan only',
      '  $ sextant scaling --lr 3e-3 --no-ablations     one LR for every run, no ablations',
      '  $ sextant scaling --preset full --irreducible 1.0 --method huber',
      '  $ sextant scaling decompose --json             the paper’s 6,926x decomposition',
    ].join('\n'),
  );
  cmd.action(async (options: Record<string, unknown>) => {
    process.exitCode = await scalingCommand(options, {
      stdout: process.stdout,
      stderr: process.stderr,
    });
  });
  const dec = cmd
    .command('decompose')
    .description('decompose algorithmic progress by innovation (paper’s constants or yours)');
  addSchemaOptions(dec, DecomposeSchema);
  // `--json` is also an option of `scaling`, which commander gives to the parent: read both.
  dec.action((_options: Record<string, unknown>, command: Command) => {
    process.exitCode = decomposeCommand(command.optsWithGlobals(), {
      stdout: process.stdout,
      stderr: process.stderr,
    });
  });
}

function failWith(name: string, e: unknown, io: Streams, json: boolean): number {
  const message = e instanceof Error ? e.message : String(e);
  if (json) io.stdout.write(`${JSON.stringify({ error: message })}\n`);
  io.stderr.write(`${name}: ${message}\n`);
  const bad =
    e instanceof ConfigValidationError ||
    e instanceof RangeError ||
    (e as Error).name === 'DataError';
  return bad ? 2 : 1;
}

/** `sextant scaling decompose`; returns the exit status. */
export function decomposeCommand(options: Readonly<Record<string, unknown>>, io: Streams): number {
  const json = options.json === true;
  try {
    const f = flagValues(DecomposeSchema, options);
    const c = resolveConfig(DecomposeSchema, { flags: f.values, flagNames: f.names });
    let raw: unknown = {};
    if (c.constants !== undefined) {
      try {
        raw = JSON.parse(readFileSync(c.constants, 'utf8'));
      } catch (e) {
        throw new ConfigValidationError([
          `constants: cannot read ${c.constants}: ${(e as Error).message}`,
        ]);
      }
    }
    const parsed = DecompositionInputSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigValidationError(
        parsed.error.issues.map(
          (i) => `${c.constants}: ${i.path.join('.') || '(top level)'}: ${i.message}`,
        ),
      );
    }
    const d = decompose(parsed.data, c.from, c.to);
    if (json) {
      const sensitivity = gapSensitivity(parsed.data, c.from, c.to, [-0.25, 0, 0.25]);
      io.stdout.write(`${JSON.stringify({ ...d, sensitivity }, null, 2)}\n`);
      return 0;
    }
    const lines = [
      `Decomposition ${c.from}→${c.to} (frontier compute ${d.computeFrom.toExponential(2)} → ` +
        `${d.computeTo.toExponential(2)} FLOPs), ${c.constants ?? 'the paper’s constants'}:`,
      ...d.innovations.map(
        (i) =>
          `  ${i.year}  ${i.name.padEnd(26)} ${i.factor.toFixed(3).padStart(10)}x  ` +
          `${(100 * i.share).toFixed(1).padStart(5)} %`,
      ),
      `  total ${d.total.toFixed(0)}x; scale-dependent ${d.scaleDependent.toFixed(0)}x ` +
        `(${(100 * d.scaleDependentShare).toFixed(1)} % of the log), scale-invariant ` +
        `${d.scaleInvariant.toFixed(2)}x; ${d.annualRate.toFixed(2)}x a year; ` +
        `gap to Ho et al. ${d.gapToHo.toFixed(2)}x`,
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (e) {
    return failWith('sextant scaling decompose', e, io, json);
  }
}

function describeEvent(e: StudyEvent): string {
  if (e.event === 'plan') {
    const p = e.plan;
    const rows = p.runs.map(
      (r) =>
        `  ${r.name.padEnd(42)} ${r.group.padEnd(13)} ${String(r.spec.steps).padStart(7)} steps  ` +
        `lr ${r.spec.lr.toExponential(2)}  ${r.estimatedFlops.toExponential(1)} FLOPs  ` +
        (r.doneRun !== null
          ? `done (${r.doneRun})`
          : r.resumeStep !== null
            ? `resume from step ${r.resumeStep}`
            : 'to train'),
    );
    const title = e.phase === 'lr-sweep' ? 'LR sweep plan' : 'plan (main sweep and ablations)';
    return [
      `${title}: ${p.runs.length} runs, ${p.toTrain} to train, ` +
        `~${p.estimatedFlops.toExponential(2)} ` +
        `FLOPs (6ND), ~${formatDuration(p.estimatedSeconds)} on ${p.workers} worker(s) ` +
        `(${kernels().name} backend) at ` +
        `${(p.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s (6ND, timed here on the largest run; ` +
        'optimistic: small models are slower per FLOP)',
      `  learning rates: ${e.lr}`,
      ...rows,
    ].join('\n');
  }
  if (e.event === 'run-start') return `[${e.index + 1}/${e.total}] ${e.name}: training`;
  return `${e.name}: ${e.ok ? 'done' : `failed (${e.error})`} in ${formatDuration(e.seconds)}`;
}

/** The ablation lines of the text summary. */
function ablationLines(a: AblationAnalysis): string[] {
  const one = (m: ArmMultiplier) =>
    m.multiplier === null
      ? `  ${m.change}: ${m.error}`
      : `  ${`${m.component}: ${m.change}`.padEnd(40)} ${m.multiplier.mean.toFixed(3)}x` +
        (m.multiplier.n > 1 ? ` ± ${m.multiplier.halfWidth.toFixed(3)}` : '') +
        ` (n ${m.multiplier.n})` +
        (m.multiplier.missing.length > 0 ? `; ${m.multiplier.missing.join('; ')}` : '');
  return [
    `ablations at width ${a.width}, target loss ${a.target.loss.toFixed(4)} (${a.target.source}):`,
    ...[...a.arms, a.joint].map(one),
    `  product of one-component multipliers ${a.product?.toFixed(3) ?? '—'}x; ` +
      `joint ${a.joint.multiplier?.mean.toFixed(3) ?? '—'}x`,
  ];
}

/** `sextant scaling`; returns the exit status. */
export async function scalingCommand(
  options: Readonly<Record<string, unknown>>,
  io: Streams,
): Promise<number> {
  const json = options.json === true;
  try {
    const f = flagValues(ScalingSchema, options);
    const config = resolveConfig(ScalingSchema, { flags: f.values, flagNames: f.names });
    if (!json) io.stderr.write(`sextant scaling: config\n${formatConfig(config)}\n`);
    const result = await runScalingStudy(config, (e) => io.stderr.write(`${describeEvent(e)}\n`));
    if (result.analysis === null) {
      const plans = { lrPlan: result.lrPlan, plan: result.plan, lr: result.lrSource };
      if (json) io.stdout.write(`${JSON.stringify(plans, null, 2)}\n`);
      return 0;
    }
    const a = result.analysis;
    const summary = {
      families: familySummary(a),
      findings: steepnessFindings(a),
      ceg: a.ceg,
      excluded: a.excluded,
      lr: { source: result.lrSource, sweep: result.lrSweep },
      ablations: result.ablations,
      failedRuns: result.failed,
      report: result.report,
    };
    if (json) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      const lines = summary.families.map((s) =>
        s.error !== undefined
          ? `  ${s.family}: ${s.error}`
          : `  ${s.family}: A ${Number(s.A).toPrecision(4)}, alpha ${Number(s.alpha).toFixed(4)}` +
            `${s.alphaInterval ? ` (95 % ${intervalText(s.alphaInterval as Interval)})` : ''}, ` +
            `${s.frontierPoints} frontier points`,
      );
      const gaps = a.ceg.map(
        (c) =>
          `  alpha_${c.next} - alpha_${c.reference} = ${c.alphaGap.toFixed(4)}` +
          (c.alphaGapInterval ? ` (95 % ${intervalText(c.alphaGapInterval)})` : ''),
      );
      const abl = result.ablations ? ablationLines(result.ablations) : [];
      io.stdout.write(
        [
          `fits (${a.method}):`,
          ...lines,
          ...gaps,
          ...abl,
          ...steepnessFindings(a).map((f) => `finding: ${f}`),
          `report: ${result.report?.html}`,
        ]
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
    const anyFitMissing = a.families.some((fam) => fam.fits[a.method] === undefined);
    return result.failed.length > 0 || anyFitMissing ? 1 : 0;
  } catch (e) {
    return failWith('sextant scaling', e, io, json);
  }
}

type Interval = { lo: number; hi: number };

/** An interval as "lo to hi", four decimals. */
function intervalText(interval: Interval): string {
  return `${interval.lo.toFixed(4)} to ${interval.hi.toFixed(4)}`;
}
