/**
 * The report of one run: what it was (config), where it ran (reproducibility facts), how it ended
 * (final metrics) and how it went (plots of loss against steps and FLOPs, learning rate, gradient
 * norm). `renderRunReport` builds it from the store's record and metrics; `writeRunReport` puts
 * report.html, report.md and plots/*.svg in the run's folder. Studies add their own sections.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord } from '../runs/db.js';
import { lastValues, type MetricRecord, mergeByStep } from '../runs/metrics.js';
import { lineChartSvg, type Series } from './chart.js';
import {
  type Figure,
  flattenConfig,
  formatNumber,
  type ReportDocument,
  type ReportSection,
} from './document.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

export interface RunReportOptions {
  /** The run's metric lines (`store.readMetrics(id).records`). */
  metrics: readonly MetricRecord[];
  /** Lines skipped when reading them (`store.readMetrics(id).warnings`); listed in the report. */
  metricWarnings?: readonly string[];
  /** Sections a study adds after the plots (its own tables and figures). */
  sections?: readonly ReportSection[];
  /** Default: the run's name. */
  title?: string;
  /** The clock, ms (injected by tests). */
  now?: () => number;
}

/** A report in both forms, with the figures the Markdown links to. */
export interface RenderedReport {
  document: ReportDocument;
  html: string;
  markdown: string;
  /** Every figure of the document, to be written as plots/<id>.svg beside report.md. */
  figures: Figure[];
}

/** Where `writeReport` put things. */
export interface ReportPaths {
  html: string;
  markdown: string;
  plots: string[];
}

/** Builds the report of `run` (see the file comment). Resolves once every plot is rendered. */
export async function renderRunReport(
  run: RunRecord,
  options: RunReportOptions,
): Promise<RenderedReport> {
  const { figures, notes } = await runFigures(options.metrics);
  const finished = run.finalMetrics !== null;
  const finals = run.finalMetrics ?? lastValues(options.metrics);
  const sections: ReportSection[] = [
    { title: 'Summary', table: keyValue(summaryRows(run, options.metrics)) },
    {
      title: 'Final metrics',
      paragraphs: [
        finished
          ? 'As reported by the trainer when the run finished.'
          : `The run has not finished (status ${run.status}): ` +
            'the last logged value of each metric.',
      ],
      table: {
        columns: ['metric', 'value'],
        rows: Object.entries(finals)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => [k, formatNumber(v)]),
        align: ['left', 'right'],
        keyColumn: true,
      },
    },
    { title: 'Plots', paragraphs: notes, figures },
    ...(options.sections ?? []),
    {
      title: 'Config',
      paragraphs: [
        `The resolved config, as saved in \`config.json\`. Its hash (sha256 of the canonical ` +
          `JSON) is \`${run.configHash}\`.`,
      ],
      table: { columns: ['field', 'value'], rows: flattenConfig(run.config), keyColumn: true },
    },
    {
      title: 'Reproducibility',
      paragraphs: reproNotes(run),
      table: keyValue(reproRows(run)),
    },
  ];
  if ((options.metricWarnings ?? []).length > 0) {
    sections.push({
      title: 'Warnings',
      paragraphs: ['Lines of `metrics.jsonl` that could not be read and were left out:'],
      table: { columns: ['warning'], rows: (options.metricWarnings ?? []).map((w) => [w]) },
    });
  }
  const now = options.now ?? Date.now;
  const document: ReportDocument = {
    title: options.title ?? run.name,
    subtitle: `Run \`${run.id}\` · ${run.kind} · created ${run.createdAt}`,
    sections,
    generatedAt: new Date(now()).toISOString(),
  };
  const all = document.sections.flatMap((s) => s.figures ?? []);
  return {
    document,
    html: renderHtml(document, { status: run.status }),
    markdown: renderMarkdown(document),
    figures: all,
  };
}

/** Renders the report of `run` and writes it into the run's folder (see `writeReport`). */
export async function writeRunReport(
  run: RunRecord,
  options: RunReportOptions,
): Promise<ReportPaths> {
  return writeReport(run.dir, await renderRunReport(run, options));
}

/**
 * Writes `report.html`, `report.md` and `plots/<id>.svg` into `dir`, each through a temporary
 * file and a rename. SVGs in plots/ left from an earlier report and no longer drawn are removed.
 */
export function writeReport(dir: string, report: RenderedReport): ReportPaths {
  const plotsDir = join(dir, 'plots');
  mkdirSync(plotsDir, { recursive: true });
  const plots = report.figures.map((f) => {
    const path = join(plotsDir, `${f.id}.svg`);
    writeAtomic(
      path,
      f.svg.startsWith('<?xml') ? f.svg : `<?xml version="1.0" encoding="UTF-8"?>\n${f.svg}\n`,
    );
    return path;
  });
  const keep = new Set(report.figures.map((f) => `${f.id}.svg`));
  for (const name of readdirSync(plotsDir)) {
    if (name.endsWith('.svg') && !keep.has(name)) rmSync(join(plotsDir, name), { force: true });
  }
  const html = join(dir, 'report.html');
  const markdown = join(dir, 'report.md');
  writeAtomic(markdown, report.markdown);
  writeAtomic(html, report.html);
  return { html, markdown, plots };
}

/**
 * The standard figures of a training run, from its metric lines, and a note for each one that
 * could not be drawn because its metric was never logged.
 */
export async function runFigures(
  metrics: readonly MetricRecord[],
): Promise<{ figures: Figure[]; notes: string[] }> {
  const rows = mergeByStep(metrics);
  const series = (name: string, x: string): Series => ({
    name,
    points: rows.flatMap((r) => {
      const xv = r[x];
      const yv = r[name];
      return xv === undefined || yv === undefined ? [] : [{ x: xv, y: yv }];
    }),
  });
  const figures: Figure[] = [];
  const notes: string[] = [];
  const present = (s: Series) => s.points.length > 0;

  const lossByStep = [series('train/loss', 'step'), series('val/loss', 'step')].filter(present);
  if (lossByStep.length === 0) {
    notes.push('No `train/loss` or `val/loss` was logged, so there is no loss plot.');
  } else {
    const chart = await lineChartSvg({
      series: lossByStep,
      x: 'step',
      y: 'loss',
      title: 'Loss against steps',
    });
    figures.push({
      id: 'loss-vs-step',
      title: 'Loss against steps',
      svg: chart.svg,
      caption:
        'Losses as the trainer logged them: `train/loss` on the batch of each logged step, ' +
        '`val/loss` on the fixed held-out set at each evaluation. ' +
        'Steps are counted by the trainer.' +
        chartNote(chart),
    });
  }

  const lossByFlops = [
    series('train/loss', 'train/flops'),
    series('val/loss', 'train/flops'),
  ].filter(present);
  if (lossByFlops.length === 0) {
    notes.push(
      'No `train/flops` was logged with the losses, so there is no loss-against-FLOPs plot.',
    );
  } else {
    const chart = await lineChartSvg({
      series: lossByFlops,
      x: { title: 'training FLOPs (cumulative)', format: '~s' },
      y: 'loss',
      logX: true,
      title: 'Loss against compute',
    });
    figures.push({
      id: 'loss-vs-flops',
      title: 'Loss against compute',
      svg: chart.svg,
      caption:
        "FLOPs counted by the engine's kernels as they ran (`train/flops`, cumulative since the " +
        'start of training), not estimated from the parameter count. Logarithmic x axis; ' +
        'validation points are those logged at a step that also logged `train/flops`.' +
        chartNote(chart),
    });
  }

  const lr = series('train/lr', 'step');
  if (!present(lr)) {
    notes.push('No `train/lr` was logged, so there is no learning-rate plot.');
  } else {
    const chart = await lineChartSvg({
      series: [lr],
      x: 'step',
      y: { title: 'learning rate', format: '.1e' },
      title: 'Learning rate',
    });
    figures.push({
      id: 'learning-rate',
      title: 'Learning rate',
      svg: chart.svg,
      caption:
        'The learning rate the optimiser used at each logged step (`train/lr`), as the ' +
        'schedule set it.' +
        chartNote(chart),
    });
  }

  const grad = series('train/grad_norm', 'step');
  if (!present(grad)) {
    notes.push('No `train/grad_norm` was logged, so there is no gradient-norm plot.');
  } else {
    const ys = grad.points.map((p) => p.y).filter((y) => Number.isFinite(y));
    // Gradient norms can span decades (a spike, an early transient): then a log axis shows both.
    const logY = ys.length > 0 && Math.min(...ys) > 0 && Math.max(...ys) / Math.min(...ys) > 100;
    const chart = await lineChartSvg({
      series: [grad],
      x: 'step',
      y: 'gradient norm (L2)',
      logY,
      title: 'Gradient norm',
    });
    figures.push({
      id: 'grad-norm',
      title: 'Gradient norm',
      svg: chart.svg,
      caption:
        'The global L2 norm of all parameter gradients at each logged step, before clipping ' +
        `(\`train/grad_norm\`).${logY ? ' Logarithmic y axis.' : ''}` +
        chartNote(chart),
    });
  }
  return { figures, notes };
}

function chartNote(chart: { dropped: number; thinned: boolean }): string {
  const parts: string[] = [];
  if (chart.dropped > 0) {
    parts.push(
      `${chart.dropped} points were not drawn (not finite, or not positive on a log axis).`,
    );
  }
  if (chart.thinned) parts.push('Long series are thinned to evenly spaced points for drawing.');
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

function summaryRows(run: RunRecord, metrics: readonly MetricRecord[]): [string, string][] {
  const steps = metrics.length === 0 ? null : Math.max(...metrics.map((m) => m.step));
  const rows: [string, string][] = [
    ['id', run.id],
    ['name', run.name],
    ['kind', run.kind],
    ['status', run.status],
    ['created', run.createdAt],
  ];
  if (run.resumes > 0) rows.push(['last started', `${run.startedAt} (resumed ${run.resumes}×)`]);
  rows.push(['finished', run.finishedAt ?? '-']);
  if (run.finishedAt !== null) {
    rows.push([
      'wall time since last start',
      formatSeconds((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000),
    ]);
  }
  rows.push(['last step logged', steps === null ? '-' : formatNumber(steps)]);
  if (run.lastCheckpoint !== null) {
    rows.push(['last checkpoint', `step ${run.lastCheckpoint.step}: ${run.lastCheckpoint.path}`]);
  }
  if (run.error !== null) rows.push([run.status === 'failed' ? 'error' : 'reason', run.error]);
  rows.push(['folder', run.dir]);
  return rows;
}

function reproRows(run: RunRecord): [string, string][] {
  const r = run.repro;
  const commit =
    r.gitCommit === null
      ? 'not a git checkout'
      : `${r.gitCommit}${r.gitDirty === true ? ' (with uncommitted changes)' : ''}`;
  return [
    ['sextant commit', commit],
    ['sextant version', r.sextantVersion],
    ['node', r.nodeVersion],
    ['backend', r.backend ?? '-'],
    ['BLAS', r.blas ?? '-'],
    ['threads', r.threads === null ? '-' : String(r.threads)],
    ['host', r.hostname],
    ['CPU', r.cpuModel],
    ['OS', r.os],
  ];
}

function reproNotes(run: RunRecord): string[] {
  const notes = [
    'A run is its config plus its seed: both give the same numbers again on the same backend, ' +
      'BLAS and thread count.',
  ];
  if (run.repro.gitDirty === true) {
    notes.push(
      'The checkout had uncommitted changes, so the commit alone does not reproduce this run.',
    );
  }
  if (run.resumes > 0)
    notes.push('These facts are those of the process that last resumed the run.');
  return notes;
}

function keyValue(rows: [string, string][]) {
  return { columns: ['', ''], rows };
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '-';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
