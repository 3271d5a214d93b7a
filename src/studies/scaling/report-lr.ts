/**
 * The learning-rate part of the scaling report: the final loss of each LR-sweep probe against
 * its LR, one line per family and width; the best LR per width with the fitted log–log law; and
 * the LRs the main sweep trained with.
 */
import { type Figure, lineChartSvg, type ReportSection, type Series } from '../../report/index.js';
import { type LrSweepResult, lawLearningRate } from './lr-sweep.js';

async function probesFigure(r: LrSweepResult): Promise<Figure> {
  const keys = [...new Set(r.probes.map((p) => `${p.family} w${p.width}`))];
  const series: Series[] = keys.map((key) => ({
    name: key,
    points: r.probes
      .filter((p) => `${p.family} w${p.width}` === key && p.loss !== null)
      .sort((p, q) => p.lr - q.lr)
      .map((p) => ({ x: p.lr, y: p.loss as number })),
  }));
  const chart = await lineChartSvg({
    series,
    x: { title: 'peak learning rate', format: '.0e' },
    y: 'final held-out loss (nats/token)',
    logX: true,
    title: 'LR sweep: final loss against peak LR',
    subtitle: `${(100 * r.budget).toFixed(0)} % of each width’s main token budget`,
    showPoints: true,
  });
  const missing = r.probes.filter((p) => p.loss === null).length;
  const factors = r.factors.map((f) => f.toPrecision(2)).join(', ');
  return {
    id: 'lr-sweep',
    title: 'LR sweep',
    svg: chart.svg,
    caption:
      'Each line is one family at one width: the held-out loss at the end of a short run ' +
      `(${(100 * r.budget).toFixed(0)} % of the main run’s tokens, the family’s own schedule ` +
      `over those steps) at the width rule’s LR times ${factors}.` +
      (missing > 0 ? ` ${missing} probe(s) diverged or did not train and are not drawn.` : ''),
  };
}

async function lawFigure(r: LrSweepResult): Promise<Figure> {
  const series: Series[] = [];
  for (const family of [...new Set(r.best.map((b) => b.family))]) {
    series.push({
      name: `${family} best`,
      points: r.best.filter((b) => b.family === family).map((b) => ({ x: b.width, y: b.lr })),
    });
    const law = r.laws[family];
    if (law === undefined) continue;
    const lo = Math.min(...law.widths) / 1.5;
    const hi = Math.max(...law.widths) * 4;
    series.push({
      name: `${family} law lr = ${Math.exp(law.a).toPrecision(3)}·w^${law.b.toFixed(2)}`,
      dashed: true,
      points: Array.from({ length: 12 }, (_, k) => {
        const w = lo * (hi / lo) ** (k / 11);
        return { x: w, y: lawLearningRate(law, w) };
      }),
    });
  }
  const chart = await lineChartSvg({
    series,
    x: 'width',
    y: 'best peak learning rate',
    logX: true,
    logY: true,
    title: 'Best learning rate against width',
    subtitle: 'OLS of ln(best LR) on ln(width); dashed beyond the swept widths is extrapolated',
    showPoints: true,
  });
  return {
    id: 'lr-law',
    title: 'Best learning rate against width',
    svg: chart.svg,
    caption:
      'Points: the best LR of each swept width (the best grid LR, refined by the vertex of the ' +
      'parabola through it and its neighbours in (ln LR, loss) when it is not at the grid’s ' +
      'edge; widths whose LRs all ended within 1 % are left out). Dashed: ln lr = a + b ln ' +
      'width fitted by ordinary least squares and clamped to the LRs the sweep probed, which ' +
      'sets the peak LR of every width of the main sweep (extrapolated past the swept widths).',
  };
}

/** The report section of the learning rates; `mainLrs` are the LRs the main sweep used. */
export async function lrSection(
  r: LrSweepResult | null,
  source: string,
  mainLrs: readonly { family: string; width: number; lr: number }[],
): Promise<ReportSection> {
  const used = mainLrs.map((m) => `${m.family} w${m.width} ${m.lr.toExponential(2)}`).join('; ');
  if (r === null) {
    return { title: 'Learning rates', paragraphs: [`Peak LRs: ${source}. Used: ${used}.`] };
  }
  const laws = Object.values(r.laws).map(
    (l) =>
      `${l.family}: lr = ${Math.exp(l.a).toPrecision(3)}·width^${l.b.toFixed(3)} ` +
      `(R² ${l.r2.toFixed(3)}, widths ${l.widths.join(', ')}; ${l.method}; clamped to ` +
      `[${l.lrRange.min.toExponential(2)}, ${l.lrRange.max.toExponential(2)}])`,
  );
  return {
    title: 'Learning rates',
    paragraphs: [
      `Peak LRs of the main sweep: ${source}.`,
      ...laws,
      ...r.errors,
      `Used in the main sweep: ${used}.`,
    ],
    table: {
      columns: ['family', 'width', 'best LR', 'how', 'loss at best'],
      rows: r.best.map((b) => [
        b.family,
        String(b.width),
        b.lr.toExponential(3),
        b.how,
        b.loss.toFixed(4),
      ]),
      align: ['left', 'right', 'right', 'left', 'right'],
      keyColumn: true,
    },
    figures: [await probesFigure(r), await lawFigure(r)],
  };
}
