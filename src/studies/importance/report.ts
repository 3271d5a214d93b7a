/**
 * What the importance study leaves in its run folder and says in its report:
 *
 *     scores/gradnorm.csv, el2n.csv, loss.csv, correct.csv   N × E matrices (row = file line)
 *     scores/aggregated.csv                                  each selector's aggregated score
 *     keep/<selector>_<rule>.txt                             kept file lines, one a line
 *     results.json                                           the summary (as `--json` prints)
 *     report.html, report.md, plots/*.svg                    via src/report
 *
 * The finding (issue 7): at kept fractions ≤ 0.8, does a selector keep the primary metric within
 * 1 % relative of full data (or within the seed-to-seed std), and beat random of the same size
 * with a 95 % interval of the paired difference excluding zero?
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, type Series } from '../../report/chart.js';
import {
  type Figure,
  flattenConfig,
  formatNumber,
  type ReportDocument,
  type ReportSection,
} from '../../report/document.js';
import { renderHtml } from '../../report/html.js';
import { renderMarkdown } from '../../report/markdown.js';
import { type RenderedReport, writeReport } from '../../report/run-report.js';
import type { ImportanceConfig } from './config.js';
import type { StudyResult } from './study.js';

const fmt = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));
const pm = (mean: number, half: number, digits = 4) =>
  Number.isFinite(half) ? `${fmt(mean, digits)} ± ${fmt(half, digits)}` : fmt(mean, digits);

/** The JSON summary: per selector and rule, kept fraction, metric with interval, savings. */
export function resultJson(r: StudyResult): Record<string, unknown> {
  const full = r.conditions.find((c) => c.selector === 'full');
  const fullValues = (full?.metrics ?? []).map((m) => m[r.primary] as number);
  return {
    dataset: r.dataset,
    model: r.model,
    file: r.file,
    task: r.task,
    primary: r.primary,
    seeds: r.seeds,
    rows: r.rows,
    energySource: r.energySource,
    backend: r.backend,
    scoringRun: r.scoring.cost,
    full: { [r.primary]: fullValues },
    selectors: r.summaries.map((s) => ({
      selector: s.selector,
      rule: s.rule,
      keptFraction: s.keptFraction,
      kept: s.kept,
      metric: r.primary,
      mean: s.metrics[r.primary]?.mean,
      interval95: s.metrics[r.primary]?.halfWidth,
      vsFull: { mean: s.vsFull.mean, interval95: s.vsFull.halfWidth },
      vsRandom: s.vsRandom ? { mean: s.vsRandom.mean, interval95: s.vsRandom.halfWidth } : null,
      relativeChangePct: s.relativeChangePct,
      maintained: s.maintained,
      beatsRandom: s.beatsRandom,
      savings: s.savings,
    })),
    finding: finding(r),
  };
}

/** One sentence per data set answering the issue's question, with numbers. */
export function finding(r: StudyResult): string {
  const candidates = r.summaries.filter(
    (s) => s.selector !== 'random' && s.keptFraction <= 0.8 + 1e-3,
  );
  const good = candidates.filter((s) => s.maintained && s.beatsRandom);
  const kept = candidates.filter((s) => s.maintained);
  const describe = (s: (typeof candidates)[number]) =>
    `${s.selector} ${s.rule} (kept ${fmt(s.keptFraction, 3)}): ${r.primary} ` +
    `${pm(
      s.metrics[r.primary]?.mean ?? Number.NaN,
      s.metrics[r.primary]?.halfWidth ?? Number.NaN,
    )}, ` +
    `${fmt(s.relativeChangePct, 2)} % vs full (+ is better), ${r.primary} minus random's ` +
    `${s.vsRandom ? pm(s.vsRandom.mean, s.vsRandom.halfWidth) : 'n/a'} ` +
    `(${r.higherIsBetter ? '+' : '−'} is better)`;
  if (good.length > 0) {
    return (
      `${r.dataset} (${r.model.kind}): yes. Dropping ≥ 20 % keeps ${r.primary} and beats ` +
      'random for ' +
      good.map(describe).join('; ')
    );
  }
  if (kept.length > 0) {
    return (
      `${r.dataset} (${r.model.kind}): partly. Dropping ≥ 20 % keeps ${r.primary} within 1 % ` +
      'or the seed ' +
      `spread for ${kept.map(describe).join('; ')}, ` +
      'but no selector beats random with an interval ' +
      'excluding zero.'
    );
  }
  const best = [...candidates].sort((a, b) => b.relativeChangePct - a.relativeChangePct)[0];
  return (
    `${r.dataset} (${r.model.kind}): no. No selector that drops ≥ 20 % keeps ${r.primary} ` +
    'within 1 % of full ' +
    `data or the seed spread${best ? `; the best was ${describe(best)}` : ''}.`
  );
}

function matrixCsv(lines: Int32Array, m: readonly ArrayLike<number>[]): string {
  const head = ['line', ...m.map((_, e) => `epoch_${e + 1}`)].join(',');
  const rows = Array.from(lines, (line, i) => [line, ...m.map((col) => col[i])].join(','));
  return `${head}\n${rows.join('\n')}\n`;
}

/** Writes score matrices, aggregated scores, keep-lists and results.json into `dir`. */
export function writeStudyFiles(dir: string, r: StudyResult): void {
  const scores = join(dir, 'scores');
  const keep = join(dir, 'keep');
  mkdirSync(scores, { recursive: true });
  mkdirSync(keep, { recursive: true });
  const lines = Int32Array.from(r.data.train, (k) => r.data.lines[k] as number);
  const m = r.scoring.matrices;
  writeFileSync(join(scores, 'gradnorm.csv'), matrixCsv(lines, m.gradNorm));
  writeFileSync(join(scores, 'el2n.csv'), matrixCsv(lines, m.el2n));
  writeFileSync(join(scores, 'loss.csv'), matrixCsv(lines, m.loss));
  writeFileSync(join(scores, 'correct.csv'), matrixCsv(lines, m.correct));
  const names = Object.keys(r.scoring.aggregated);
  const agg = Array.from(lines, (line, i) =>
    [line, ...names.map((n) => r.scoring.aggregated[n]?.[i])].join(','),
  );
  writeFileSync(join(scores, 'aggregated.csv'), `line,${names.join(',')}\n${agg.join('\n')}\n`);
  for (const [key, local] of Object.entries(r.keepLists)) {
    const name = key.replace('|', '_').replace(/[^a-z0-9._-]+/gi, '-');
    const kept = Array.from(local, (k) => lines[k]).join('\n');
    writeFileSync(join(keep, `${name}.txt`), `${kept}\n`);
  }
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(resultJson(r), null, 2)}\n`);
}

function fractionSeries(r: StudyResult, value: (s: StudyResult['summaries'][number]) => number) {
  const bySelector = new Map<string, { x: number; y: number }[]>();
  for (const s of r.summaries) {
    if (!s.rule.startsWith('keep') && s.selector !== 'random') continue;
    const list = bySelector.get(s.selector) ?? [];
    list.push({ x: s.keptFraction, y: value(s) });
    bySelector.set(s.selector, list);
  }
  return [...bySelector].map(([name, points]) => ({
    name,
    points: points.sort((a, b) => a.x - b.x),
    dashed: name === 'random',
  }));
}

function quantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

async function figures(r: StudyResult): Promise<Figure[]> {
  const out: Figure[] = [];
  const fullMean =
    r.conditions
      .find((c) => c.selector === 'full')
      ?.metrics.reduce((a, m) => a + (m[r.primary] as number), 0) ?? Number.NaN;
  const fullLine: Series = {
    name: 'full data',
    dashed: true,
    points: [0, 1].map((x) => ({ x, y: fullMean / r.seeds.length })),
  };
  const metric = await lineChartSvg({
    series: [...fractionSeries(r, (s) => s.metrics[r.primary]?.mean ?? Number.NaN), fullLine],
    x: 'kept fraction',
    y: `test ${r.primary}`,
    title: `${r.primary} against kept fraction`,
  });
  out.push({
    id: 'metric-vs-kept',
    title: `Test ${r.primary} against kept fraction`,
    svg: metric.svg,
    caption:
      `Mean over ${r.seeds.length} seeds of the test ${r.primary} after retraining from the same ` +
      'initialisation on the kept subset (fixed-fraction selection); random = a random subset of ' +
      'the same size; the dashed horizontal line is full data.',
  });
  const savings = await lineChartSvg({
    series: fractionSeries(r, (s) => s.savings.timePct),
    x: 'kept fraction',
    y: 'wall time saved, %',
    title: 'Retraining time saved',
  });
  out.push({
    id: 'savings-vs-kept',
    title: 'Retraining wall time saved against kept fraction',
    svg: savings.svg,
    caption:
      '100 · (1 − subset / full) of the wall-clock time of a retrain, ' +
      'mean over seeds, scoring ' +
      'run not included (see the table for end-to-end savings).',
  });
  const m = r.scoring.matrices.gradNorm;
  const dist = await lineChartSvg({
    series: [0.1, 0.5, 0.9].map((q) => ({
      name: `q${q * 100}`,
      points: m.map((col, e) => ({ x: e + 1, y: quantile(col, q) })),
    })),
    x: 'epoch',
    y: 'per-sample gradient norm',
    logY: true,
    title: 'Per-sample gradient norms over epochs',
  });
  out.push({
    id: 'score-distribution',
    title: 'Distribution of per-sample gradient norms by epoch',
    svg: dist.svg,
    caption:
      'The 10th, 50th and 90th percentiles over training samples of the exact per-sample ' +
      'gradient norm (all parameters), scored at the end of each epoch of the scoring run in ' +
      'eval mode; log scale.',
  });
  const E = r.stability.spearman.length;
  const stab = await lineChartSvg({
    series: [
      {
        name: 'vs previous epoch',
        points: r.stability.spearman.slice(1).map((row, e) => ({ x: e + 2, y: row[e] as number })),
      },
      {
        name: 'vs last epoch',
        points: r.stability.spearman.map((row, e) => ({ x: e + 1, y: row[E - 1] as number })),
      },
    ],
    x: 'epoch',
    y: 'Spearman correlation',
    title: 'Rank stability of gradient norms',
  });
  out.push({
    id: 'rank-stability',
    title: 'Rank stability of per-sample gradient norms between epochs',
    svg: stab.svg,
    caption: 'Spearman correlation of the per-sample gradient norms of two epochs.',
  });
  return out;
}

/** How the per-sample gradient norms of the study's model were computed, in words. */
function gradNormMethod(r: StudyResult): string {
  if (r.model.kind === 'lstm') {
    return (
      'the dense head by the batched per-example trick, the LSTM weights (shared across steps) ' +
      "by one batched backward through time that keeps each sample's gate gradients"
    );
  }
  return 'batched per-example trick for dense layers';
}

function summaryTable(r: StudyResult): ReportSection['table'] {
  return {
    columns: [
      'selector',
      'rule',
      'kept',
      `${r.primary} (95 % CI)`,
      'vs full',
      'vs random',
      'maintained',
      'beats random',
      'time saved %',
      'energy saved %',
      'CO2 saved %',
      'sample grads saved %',
      'end-to-end time %',
      'break-even retrains',
    ],
    rows: r.summaries.map((s) => [
      s.selector,
      s.rule,
      fmt(s.keptFraction, 3),
      pm(s.metrics[r.primary]?.mean ?? Number.NaN, s.metrics[r.primary]?.halfWidth ?? Number.NaN),
      pm(s.vsFull.mean, s.vsFull.halfWidth),
      s.vsRandom ? pm(s.vsRandom.mean, s.vsRandom.halfWidth) : '—',
      s.maintained ? 'yes' : 'no',
      s.selector === 'random' ? '—' : s.beatsRandom ? 'yes' : 'no',
      fmt(s.savings.timePct, 1),
      fmt(s.savings.energyPct, 1),
      fmt(s.savings.co2Pct, 1),
      fmt(s.savings.sampleGradsPct, 1),
      fmt(s.savings.endToEndTimePct, 1),
      fmt(s.savings.breakEvenTime, 2),
    ]),
    align: ['left', 'left', ...Array(12).fill('right')],
  };
}

/** Builds the study's report document (both renderings and the figures). */
export async function renderStudyReport(
  r: StudyResult,
  config: ImportanceConfig,
  runId: string,
  now: () => number = Date.now,
): Promise<RenderedReport> {
  const figs = await figures(r);
  const full = r.conditions.find((c) => c.selector === 'full');
  const fullMetrics = Object.keys(full?.metrics[0] ?? {}).map((m) => {
    const values = (full?.metrics ?? []).map((x) => x[m] as number);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return [m, fmt(mean), values.map((v) => fmt(v)).join(', ')];
  });
  const c = r.scoring.cost;
  const sections: ReportSection[] = [
    {
      title: 'Finding',
      paragraphs: [
        finding(r),
        'Maintained: the primary metric is within 1 % relative of full data, or the mean paired ' +
          'difference is within the seed-to-seed standard deviation of full data. Beats random: ' +
          'the 95 % Student-t interval of the paired difference (same seeds) ' +
          'excludes zero in the ' +
          'better direction. Each selector and fraction is tested on its own: no correction for ' +
          'multiple comparisons, so with many rows one interval may exclude zero by chance.',
        `Pruned: the ${config.prune} aggregated scores.`,
      ],
    },
    {
      title: 'Data',
      table: {
        columns: ['field', 'value'],
        rows: [
          ['file', r.file],
          ['data set', r.dataset],
          ['model', `${r.model.description}; ${r.model.parameters} parameters`],
          ['task', r.task],
          ['training rows', String(r.rows.train)],
          ['test rows', String(r.rows.test)],
          ['features', String(r.rows.features)],
          ['backend', r.backend],
          ['groups in split', r.rows.groups > 0 ? String(r.rows.groups) : 'none (stratified)'],
        ],
        keyColumn: true,
      },
    },
    {
      title: 'Full data baseline',
      paragraphs: [`Test metrics of retraining on all training rows, seeds ${r.seeds.join(', ')}.`],
      table: { columns: ['metric', 'mean', 'per seed'], rows: fullMetrics, keyColumn: true },
    },
    {
      title: 'Pruned retraining',
      paragraphs: [
        `Primary metric ${r.primary} (${r.higherIsBetter ? 'higher' : 'lower'} is better). ` +
          'Savings are 100 · (1 − subset / full), means over seeds; ' +
          'end-to-end adds the scoring ' +
          'run to the subset; break-even = scoring-run time / (full − subset retrain time).',
      ],
      table: summaryTable(r),
      figures: figs.slice(0, 2),
    },
    {
      title: 'Scores',
      paragraphs: [
        `Scored at the end of each of ${r.scoring.matrices.gradNorm.length} epochs of the ` +
          `scoring run, all parameters, exact: ${gradNormMethod(r)}. ` +
          `Aggregation: ${config.aggregation}. Top-${r.stability.k} Jaccard overlap between the ` +
          `first and last epoch: ` +
          `${fmt(r.stability.topK[0]?.[r.stability.topK.length - 1] ?? Number.NaN, 3)}.`,
        'Archetypes (spec E.1.2 proposal): high = at or above the 0.75 quantile of the epoch; ' +
          'consistent ≥ 80 % of epochs, transient ≥ 50 % of the first third ' +
          'and ≤ 20 % of the ' +
          'last third, never = no epoch.',
      ],
      table: {
        columns: ['archetype', 'samples'],
        rows: Object.entries(r.archetypes).map(([k, v]) => [k, String(v)]),
        align: ['left', 'right'],
      },
      figures: figs.slice(2),
    },
    {
      title: 'Cost',
      paragraphs: [
        r.energySource === 'rapl'
          ? 'Energy from the CPU RAPL package counters.'
          : `Energy from a power model: ${config.watts} W × wall time × PUE ${config.pue} (no ` +
            'readable RAPL counters on this machine).',
        `Emissions at ${config.gridIntensity} g CO2eq/kWh. FLOPs counted by the engine's kernels ` +
          '(forward, backward, optimiser). Sample-gradient evaluations: rows through backward in ' +
          'training, plus one per scored sample and epoch.',
      ],
      table: {
        columns: ['what', 'seconds', 'FLOPs', 'sample grads', 'joules', 'g CO2eq'],
        rows: [
          ['scoring run', c.seconds, c.flops, c.sampleGrads, c.joules, c.grams].map((v) =>
            typeof v === 'number' ? formatNumber(v) : v,
          ),
        ],
        align: ['left', 'right', 'right', 'right', 'right', 'right'],
      },
    },
    {
      title: 'Config',
      table: { columns: ['field', 'value'], rows: flattenConfig(config), keyColumn: true },
    },
  ];
  const document: ReportDocument = {
    title: `Sample importance: ${r.dataset}, ${r.model.kind.toUpperCase()}`,
    subtitle: `Run \`${runId}\` · importance`,
    sections,
    generatedAt: new Date(now()).toISOString(),
  };
  return {
    document,
    html: renderHtml(document),
    markdown: renderMarkdown(document),
    figures: figs,
  };
}

/** Writes the study's files and its report into `dir`. */
export async function writeStudyReport(
  dir: string,
  r: StudyResult,
  config: ImportanceConfig,
  runId: string,
): Promise<string> {
  writeStudyFiles(dir, r);
  return writeReport(dir, await renderStudyReport(r, config, runId)).html;
}
