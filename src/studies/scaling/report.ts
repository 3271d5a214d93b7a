/**
 * The scaling study's report: every training curve with each family's frontier and fitted law,
 * CEG against compute with its bootstrap band, and the paper's decomposition stack; the fits of
 * every method in a table with their windows; the LR sweep (report-lr.ts) and the ablations
 * (report-ablation.ts). Writes report.html, report.md, plots/*.svg and fits.json (the analyses
 * as JSON) into the study's folder.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Figure,
  formatNumber,
  lineChartSvg,
  type ReportDocument,
  type ReportSection,
  renderHtml,
  renderMarkdown,
  type Series,
  writeReport,
} from '../../report/index.js';
import type { AblationAnalysis } from './ablation.js';
import { type ScalingAnalysis, steepnessFindings } from './analysis.js';
import { decompose, frontierStack, paperConstants } from './decompose.js';
import { FIT_METHODS } from './fit.js';
import type { RunCurve } from './frontier.js';
import type { LrSweepResult } from './lr-sweep.js';
import { ablationSection } from './report-ablation.js';
import { lrSection } from './report-lr.js';

const fmt = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : formatNumber(v);
const sci = (v: number) => v.toExponential(2);

/** Facts about the sweep for the report's first section. */
export interface SweepFacts {
  corpus: string;
  /** The tokenizer file, or 'characters'; and the vocabulary size. */
  tokenizer: string;
  vocab: number;
  preset: string;
  runsRoot: string;
  /** Epochs of the corpus the largest run went through. */
  maxEpochs: number;
  /** Seeds per width in the main sweep. */
  seeds: number;
  /** Where the main sweep's peak LRs came from, and the LRs used. */
  lrSource: string;
  mainLrs: { family: string; width: number; lr: number }[];
}

/** What the report shows. */
export interface ScalingReportParts {
  analysis: ScalingAnalysis;
  ablations: AblationAnalysis | null;
  lrSweep: LrSweepResult | null;
  curves: readonly RunCurve[];
}

async function curvesFigure(a: ScalingAnalysis, curves: readonly RunCurve[]): Promise<Figure> {
  const series: Series[] = [];
  for (const c of curves) {
    const fam = a.families.find((f) => f.family === c.family);
    const E = fam?.fits[a.method]?.E ?? 0;
    series.push({
      name: `${c.family} ${c.label ?? c.run}`,
      points: c.points.map((p) => ({ x: p.compute, y: p.loss - E })),
    });
  }
  for (const f of a.families) {
    const fit = f.fits[a.method];
    if (fit === undefined || f.window === null) continue;
    const { min, max } = f.window;
    series.push({
      name: `${f.family} law ${fmt(fit.A)}·C^${fit.alpha.toFixed(3)}`,
      dashed: true,
      points: Array.from({ length: 20 }, (_, k) => {
        const x = min * (max / min) ** (k / 19);
        return { x, y: fit.A * x ** fit.alpha };
      }),
    });
  }
  const chart = await lineChartSvg({
    series,
    x: { title: 'training compute (FLOPs, counted by the kernels)', format: '.0e' },
    y: 'reducible held-out loss L − E (nats/token)',
    logX: true,
    logY: true,
    title: 'Training curves and fitted frontier laws',
    subtitle:
      `fit: ${a.method}; ` +
      `E ${a.irreducible === 'fitted' ? 'fitted per family' : a.irreducible}`,
    showPoints: false,
  });
  const windows = a.families
    .map((f) => (f.window ? `${f.family} [${sci(f.window.min)}, ${sci(f.window.max)}]` : ''))
    .filter((s) => s !== '')
    .join('; ');
  return {
    id: 'frontiers',
    title: 'Training curves, frontiers and fitted laws',
    svg: chart.svg,
    caption:
      'Each solid line is one run: held-out loss minus the family’s E against cumulative ' +
      'training FLOPs counted by the kernels. Dashed: the law fitted to the frontier (lower ' +
      `envelope) by ${a.method} least squares inside each family’s window: ${windows}.` +
      (chart.dropped > 0
        ? ` ${chart.dropped} points at or below E are not drawn on log axes.`
        : ''),
  };
}

async function cegFigure(a: ScalingAnalysis): Promise<Figure | null> {
  if (a.ceg.length === 0) return null;
  const series: Series[] = [];
  for (const c of a.ceg) {
    const name = `${c.reference} → ${c.next}`;
    series.push({ name, points: c.points.map((p) => ({ x: p.compute, y: p.ceg })) });
    const lo = c.points
      .filter((p) => p.interval)
      .map((p) => ({ x: p.compute, y: p.interval?.lo ?? 0 }));
    const hi = c.points
      .filter((p) => p.interval)
      .map((p) => ({ x: p.compute, y: p.interval?.hi ?? 0 }));
    if (lo.length > 0) {
      series.push({ name: `${name} 2.5 %`, points: lo, dashed: true });
      series.push({ name: `${name} 97.5 %`, points: hi, dashed: true });
    }
  }
  const chart = await lineChartSvg({
    series,
    x: { title: 'compute C (FLOPs)', format: '.0e' },
    y: 'CEG(C): compute the reference needs ÷ C',
    logX: true,
    logY: true,
    title: 'Compute-equivalent gain against compute',
  });
  return {
    id: 'ceg',
    title: 'Compute-equivalent gain against compute',
    svg: chart.svg,
    caption:
      `CEG_{R→N}(C) = C_R(L_N(C)) / C from the ${a.method} fits, over the overlap of the two ` +
      'families’ windows; dashed: the 95 % percentile band from the bootstrap over runs ' +
      '(resample runs, re-extract the frontier, refit; fits paired by resample index).',
  };
}

async function stackFigure(): Promise<Figure> {
  const input = paperConstants();
  const years = Array.from({ length: 9 }, (_, i) => 2017 + i);
  const stack = frontierStack(input, years);
  const series: Series[] = [];
  let names = input.innovations.map((i) => i.name);
  names = names.filter((n) => n !== undefined);
  // Cumulative products in adoption order: each line is the total with innovations up to it.
  for (let k = 0; k < names.length; k++) {
    series.push({
      name: `+ ${names[k]}`,
      points: stack.map((s) => ({
        x: s.year,
        y: names.slice(0, k + 1).reduce((p, n) => p * (s.factors[n] ?? 1), 1),
      })),
    });
  }
  const chart = await lineChartSvg({
    series,
    x: { title: 'year (frontier compute 1e16·4.1^(y−2013) FLOPs)', format: 'd' },
    y: 'cumulative CEG relative to the LSTM',
    logY: true,
    title: 'Decomposition of algorithmic progress (paper’s constants)',
  });
  const d = decompose(input, 2012, 2023);
  return {
    id: 'decomposition',
    title: 'Decomposition stack (paper’s constants)',
    svg: chart.svg,
    caption:
      'Cumulative CEG at the frontier compute of each year, adding one innovation at a time in ' +
      'the paper’s order; computed by the decomposition calculator ' +
      'from the paper’s published ' +
      `constants (not from this sweep). 2012→2023: total ${d.total.toFixed(0)}x, ` +
      'scale-dependent ' +
      `share ${(100 * d.scaleDependentShare).toFixed(1)} %.`,
  };
}

/**
 * What a reader must know before trusting a fit: an irreducible loss stuck at its bound, and an
 * interval so wide that it carries no information.
 */
export function fitCautions(a: ScalingAnalysis): string[] {
  const out: string[] = [];
  for (const f of a.families) {
    const fit = f.fits[a.method];
    if (fit === undefined) continue;
    if (fit.eFitted && fit.E <= 1e-6) {
      out.push(
        `Caution (${f.family}): the fitted E sits at its lower bound 0, so this sweep cannot ` +
          'separate an irreducible loss from the power law at this compute; α is then the ' +
          'slope of the whole loss. Give --irreducible to fix E, or sweep more compute.',
      );
    }
    const ci = f.bootstrap?.alpha;
    if (ci && ci.hi - ci.lo > 4 * Math.abs(fit.alpha)) {
      out.push(
        `Caution (${f.family}): the 95 % interval of α, [${ci.lo.toFixed(3)}, ` +
          `${ci.hi.toFixed(3)}], is more than four times |α| wide: with ${f.runs.length} runs ` +
          'the bootstrap often resamples a frontier the law barely constrains. More widths or ' +
          'seeds narrow it.',
      );
    }
  }
  return out;
}

function fitsSection(a: ScalingAnalysis): ReportSection {
  const rows: string[][] = [];
  for (const f of a.families) {
    for (const m of FIT_METHODS) {
      const fit = f.fits[m];
      if (fit === undefined) continue;
      const boot = m === a.method ? f.bootstrap : null;
      rows.push([
        f.family,
        m,
        fmt(fit.A),
        fit.alpha.toFixed(4),
        boot?.alpha ? `[${boot.alpha.lo.toFixed(4)}, ${boot.alpha.hi.toFixed(4)}]` : '—',
        fit.E.toFixed(3) + (fit.eFitted ? ' (fitted)' : ' (given)'),
        String(fit.points),
        fit.r2.toFixed(4),
        f.window ? `[${sci(f.window.min)}, ${sci(f.window.max)}]` : '—',
      ]);
    }
  }
  const paragraphs = [
    'ℓ = L − E = A·C^α fitted to each family’s frontier inside its window. linear: least ' +
      'squares on ℓ (the paper’s); log: least squares on log residuals; ' +
      'huber: Huber (δ = 1e-3) ' +
      'on log residuals; each from many starting points (Nelder–Mead). ' +
      'The interval is the 95 % ' +
      `bootstrap percentile interval over runs for the headline method (${a.method}).`,
    ...a.families.flatMap((f) => (f.window ? [`Window of ${f.family}: ${f.window.source}.`] : [])),
    ...a.families.flatMap((f) => f.errors),
    ...fitCautions(a),
  ];
  const columns = [
    'family',
    'method',
    'A',
    'α',
    'α 95 % CI',
    'E',
    'points',
    'R²',
    'window (FLOPs)',
  ];
  return {
    title: 'Fitted laws',
    paragraphs,
    table: {
      columns,
      rows,
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      keyColumn: true,
    },
  };
}

/** Builds and writes the report; returns the paths of report.html and fits.json. */
export async function writeScalingReport(
  dir: string,
  parts: ScalingReportParts,
  facts: SweepFacts,
): Promise<{ html: string; markdown: string; fits: string }> {
  const { analysis: a, curves } = parts;
  const figures = [await curvesFigure(a, curves), await cegFigure(a), await stackFigure()];
  const findings = steepnessFindings(a);
  const sections: ReportSection[] = [
    ...(findings.length > 0 ? [{ title: 'Finding', paragraphs: findings }] : []),
    {
      title: 'Sweep',
      paragraphs: [
        `Corpus ${facts.corpus}, tokenized by ` +
          (facts.tokenizer === 'characters' ? 'characters' : `\`${facts.tokenizer}\``) +
          ` (vocabulary ${facts.vocab}); preset ${facts.preset}; ${facts.seeds} ` +
          `seed(s) per width; runs in ` +
          `\`${facts.runsRoot}\`. The largest run saw ${facts.maxEpochs.toFixed(2)} epoch(s) of ` +
          'the training split' +
          (facts.maxEpochs > 1 ? ' (the corpus was repeated).' : ' (no text was repeated).'),
        'Compute is the trainer’s cumulative `train/flops`, counted by the kernels (forward, ' +
          'backward and optimiser), not 6ND. Loss is the held-out cross-entropy on fixed windows ' +
          'from the end of the corpus, logged at log-spaced steps.',
        'Deviations from the paper: a small corpus instead of C4' +
          (facts.tokenizer === 'characters' ? ', characters instead of GPT-2 BPE' : '') +
          '; the LR ' +
          'sweep is shorter and coarser (see Learning rates); ' +
          'E fitted unless given (the paper fixes ' +
          '1.9 for its corpus); windows derived from this sweep, not [1e15, 1e18]; every ' +
          'seed’s curve enters one pooled frontier.',
      ],
    },
    fitsSection(a),
    await lrSection(parts.lrSweep, facts.lrSource, facts.mainLrs),
    ...(parts.ablations !== null ? [await ablationSection(parts.ablations)] : []),
    {
      title: 'Compute-equivalent gains',
      paragraphs: a.ceg.map(
        (c) =>
          `${c.reference} → ${c.next}: exponent gap α_${c.next} − α_${c.reference} = ` +
          `${c.alphaGap.toFixed(4)}` +
          (c.alphaGapInterval
            ? ` (95 % ${c.alphaGapInterval.lo.toFixed(4)} to ${c.alphaGapInterval.hi.toFixed(4)})`
            : '') +
          `; CEG over [${sci(c.window.min)}, ${sci(c.window.max)}] FLOPs: ` +
          c.points
            .filter((_, k) => k % 4 === 0)
            .map(
              (p) =>
                `${fmt(p.ceg)}x at ${sci(p.compute)}` +
                (p.interval ? ` (95 % ${fmt(p.interval.lo)}–${fmt(p.interval.hi)})` : ''),
            )
            .join(', '),
      ),
    },
    {
      title: 'Runs left out',
      paragraphs:
        a.excluded.length === 0
          ? ['No run diverged.']
          : a.excluded.map((e) => `${e.family} run ${e.run}: ${e.reason} (left out of every fit).`),
    },
    { title: 'Plots', figures: figures.filter((f): f is Figure => f !== null) },
  ];
  const document: ReportDocument = {
    title: 'Scaling study: where algorithmic progress comes from',
    subtitle: `sextant scaling · preset ${facts.preset} · ${facts.corpus}`,
    sections,
    generatedAt: new Date().toISOString(),
  };
  const all = sections.flatMap((s) => s.figures ?? []);
  const paths = writeReport(dir, {
    document,
    html: renderHtml(document),
    markdown: renderMarkdown(document),
    figures: [...all],
  });
  const fits = path.join(dir, 'fits.json');
  const json = { ...a, lrSweep: parts.lrSweep, ablations: parts.ablations };
  writeFileSync(fits, `${JSON.stringify(json, null, 2)}\n`);
  return { html: paths.html, markdown: paths.markdown, fits };
}
