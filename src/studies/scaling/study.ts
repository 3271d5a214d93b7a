/**
 * `sextant scaling` end to end: the sweep's plan, the missing runs trained on a local pool, the
 * curves read back from the run store, the analysis, and the report. Progress and the plan go
 * out through `onEvent`; nothing is printed here.
 *
 * LIMITATION: the ablation sweep (one component swapped at a time at one width, the whole
 * bundle, several seeds) is not run yet. The pieces it needs are written and tested
 * (`byLossMultiplier`, `normaliseToJoint` in ceg.ts), but no ablation runs are planned, and the
 * report has no ablation bar chart, product-vs-joint chart or reference-dependence plot.
 * LIMITATION: no per-width learning-rate sweep (see `learningRate` in config.ts); character-level
 * tokenization only; one seed per width.
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CORPUS } from '../../data/text.js';
import { configHash } from '../../runs/canonical.js';
import { RunStore } from '../../runs/store.js';
import { type AnalysisOptions, analyseSweep, type ScalingAnalysis } from './analysis.js';
import {
  PRESETS,
  parameterCount,
  type ScalingConfig,
  type ScalingRunSpec,
  sweepSpecs,
} from './config.js';
import type { RunCurve } from './frontier.js';
import { writeScalingReport } from './report.js';
import { planSweep, runSweep, type SweepEvent, type SweepPlan } from './sweep.js';
import { loadRunData, measureSecondsPerStep } from './train-run.js';

export type StudyEvent = { event: 'plan'; plan: SweepPlan } | SweepEvent;

export interface StudyResult {
  plan: SweepPlan;
  analysis: ScalingAnalysis | null;
  report: { html: string; markdown: string; fits: string } | null;
  failed: { name: string; error: string }[];
}

/** The training curves of `specs` in `store`: the newest done run of each config. */
export function readCurves(
  store: RunStore,
  specs: readonly ScalingRunSpec[],
): { curves: RunCurve[]; failed: RunCurve[] } {
  const curves: RunCurve[] = [];
  const failed: RunCurve[] = [];
  for (const spec of specs) {
    const hash = configHash(spec);
    const done = store.findByConfigHash(hash, { status: 'done' })[0];
    const record = done ?? store.findByConfigHash(hash, { status: 'failed' })[0];
    if (record === undefined) continue;
    const points = store
      .readMetrics(record.id)
      .records.filter((r) => r['val/loss'] !== undefined && r['train/flops'] !== undefined)
      .map((r) => ({ compute: r['train/flops'] as number, loss: r['val/loss'] as number }));
    const curve = { run: record.id, family: spec.family, label: `w${spec.width}`, points };
    if (done !== undefined) curves.push(curve);
    else failed.push({ ...curve, points: [...points, { compute: Number.NaN, loss: Number.NaN }] });
  }
  return { curves, failed };
}

/** Runs the study (see the file comment). */
export async function runScalingStudy(
  config: ScalingConfig,
  onEvent: (e: StudyEvent) => void = () => {},
): Promise<StudyResult> {
  const runsRoot = path.resolve(config.runs ?? process.env.SEXTANT_RUNS ?? 'runs');
  const data = config.data !== undefined ? path.resolve(config.data) : DEFAULT_CORPUS;
  const preset = PRESETS[config.preset];
  const probe = loadRunData({ data, valFraction: 0.1, context: preset.context });
  const vocab = probe.tokenizer.vocabSize;
  const specs = sweepSpecs(config, data, vocab);
  const workers = config.workers ?? Math.max(1, os.availableParallelism());
  const store = RunStore.open(runsRoot);
  try {
    const pendingLargest = [...specs].sort(
      (a, b) =>
        parameterCount(b.family, b.width, vocab) * b.steps -
        parameterCount(a.family, a.width, vocab) * a.steps,
    )[0] as ScalingRunSpec;
    // The rate in 6ND FLOPs per second, timed on the largest run (the one that bounds the sweep).
    // LIMITATION: timed with this process's kernel threads while each worker runs one thread,
    // and small models are slower per FLOP, so the estimate is optimistic; the plan says so.
    const secondsPerStep = await measureSecondsPerStep(pendingLargest, probe);
    const tokensPerStep = pendingLargest.batchSize * pendingLargest.context;
    const n = parameterCount(pendingLargest.family, pendingLargest.width, vocab);
    const rate = (6 * n * tokensPerStep) / secondsPerStep;
    const plan = planSweep(
      store,
      specs,
      (s) => parameterCount(s.family, s.width, vocab),
      workers,
      rate,
    );
    onEvent({ event: 'plan', plan });
    if (config.plan) return { plan, analysis: null, report: null, failed: [] };
    const { failed } = await runSweep(plan, runsRoot, onEvent);

    const { curves, failed: failedCurves } = readCurves(store, specs);
    const options: AnalysisOptions = {
      method: config.method,
      resamples: config.resamples,
      seed: config.seed,
      ...(config.irreducible !== undefined ? { irreducible: config.irreducible } : {}),
      ...(config.windowMin !== undefined ? { windowMin: config.windowMin } : {}),
      ...(config.windowMax !== undefined ? { windowMax: config.windowMax } : {}),
    };
    const analysis = analyseSweep([...curves, ...failedCurves], options);
    const maxTokens = Math.max(...specs.map((s) => s.steps * s.batchSize * s.context));
    const dir = path.resolve(config.out ?? path.join(runsRoot, 'scaling-study'));
    mkdirSync(dir, { recursive: true });
    const report = await writeScalingReport(dir, analysis, curves, {
      corpus: probe.corpus.source,
      preset: config.preset,
      runsRoot,
      maxEpochs: maxTokens / probe.train.length,
    });
    return { plan, analysis, report, failed };
  } finally {
    store.close();
  }
}
