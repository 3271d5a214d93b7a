/**
 * Line charts as SVG text, rendered in Node by Vega-Lite (compiled to Vega, drawn by Vega's
 * headless SVG renderer: no browser, no `canvas` package).
 * LIMITATION: without `canvas`, Vega estimates text widths from character counts, so a very long
 * legend entry or axis title may be placed a few pixels off; the SVG is otherwise exact.
 * `lineChartSvg` is the one entry point: the run report draws its loss, learning-rate and
 * gradient-norm plots with it, and studies draw their own (scaling frontiers, similarity by
 * layer...).
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

/** One line of a chart. */
export interface Series {
  /** The legend entry, e.g. 'train/loss'. */
  name: string;
  points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
  /** Draw dashed (a fit next to the measured points, a reference line). */
  dashed?: boolean;
}

/** An axis: its title and, optionally, a d3-format for its labels (`.2f`, `~s`, `.0e`). */
export interface AxisSpec {
  title: string;
  format?: string;
}

export interface LineChartOptions {
  series: readonly Series[];
  /** The x axis, or just its title. */
  x: string | AxisSpec;
  y: string | AxisSpec;
  /** Logarithmic axes. Points at or below zero cannot be drawn there and are left out. */
  logX?: boolean;
  logY?: boolean;
  title?: string;
  /** A second line under the title, smaller (units, the run, the fit window). */
  subtitle?: string;
  /** Size of the plotting area, px (default 560 x 280); axes, title and legend add to it. */
  width?: number;
  height?: number;
  /** Most points drawn per series (default 2000); longer series are thinned evenly. */
  maxPoints?: number;
  /** Mark each point with a dot (default: when every series has at most 60 points). */
  showPoints?: boolean;
}

/** What was drawn: the SVG, and what had to be left out (for the figure's caption). */
export interface ChartSvg {
  svg: string;
  /** Points not drawn: not finite, or not positive on a log axis. */
  dropped: number;
  /** Whether some series were thinned to `maxPoints`. */
  thinned: boolean;
  /** Vega's warnings, if any (library code does not print them). */
  warnings: string[];
}

// Colour-blind-safe categorical colours (Okabe and Ito), dark enough on white.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';

/**
 * Renders `series` as an SVG line chart, e.g.
 * `lineChartSvg({series: [{name: 'train', points}], x: 'step', y: 'loss', title: 'Loss'})`.
 * Resolves to the SVG text and what was dropped. Series keep their order in the legend and the
 * palette; an empty chart says "no data" instead of failing.
 */
export async function lineChartSvg(options: LineChartOptions): Promise<ChartSvg> {
  const maxPoints = options.maxPoints ?? 2000;
  let dropped = 0;
  let thinned = false;
  const rows: { x: number; y: number; series: string; i: number }[] = [];
  for (const s of options.series) {
    const kept = s.points.filter(
      (p) =>
        Number.isFinite(p.x) &&
        Number.isFinite(p.y) &&
        (options.logX !== true || p.x > 0) &&
        (options.logY !== true || p.y > 0),
    );
    dropped += s.points.length - kept.length;
    const drawn = thin(kept, maxPoints);
    if (drawn.length < kept.length) thinned = true;
    drawn.forEach((p, i) => {
      rows.push({ x: p.x, y: p.y, series: s.name, i });
    });
  }
  const xAxis = typeof options.x === 'string' ? { title: options.x } : options.x;
  const yAxis = typeof options.y === 'string' ? { title: options.y } : options.y;
  const width = options.width ?? 560;
  const height = options.height ?? 280;
  if (rows.length === 0) {
    return {
      svg: emptyChartSvg(options.title ?? '', width, height),
      dropped,
      thinned,
      warnings: [],
    };
  }
  const names = options.series.map((s) => s.name);
  const longest = Math.max(...options.series.map((s) => Math.min(s.points.length, maxPoints)));
  const showPoints = options.showPoints ?? longest <= 60;
  const dashed = options.series.filter((s) => s.dashed === true).map((s) => s.name);
  // One series needs no legend: the axis title names it.
  const legend = names.length > 1 ? ({ orient: 'top', direction: 'horizontal' } as const) : null;
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width,
    height,
    background: 'white',
    padding: { left: 8, right: 16, top: 8, bottom: 8 },
    ...(options.title === undefined
      ? {}
      : {
          title: {
            text: options.title,
            ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }),
          },
        }),
    data: { values: rows },
    mark: {
      type: 'line',
      strokeWidth: 1.6,
      clip: true,
      ...(showPoints ? { point: { filled: true, size: 30 } } : {}),
    },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: xAxis.title,
        scale: scaleOf(options.logX === true),
        axis: { ...(xAxis.format === undefined ? {} : { format: xAxis.format }) },
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: yAxis.title,
        scale: scaleOf(options.logY === true),
        axis: { ...(yAxis.format === undefined ? {} : { format: yAxis.format }) },
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { domain: names, range: names.map((_, i) => PALETTE[i % PALETTE.length] as string) },
        legend,
      },
      ...(dashed.length > 0
        ? {
            strokeDash: {
              field: 'series',
              type: 'nominal',
              scale: {
                domain: names,
                range: names.map((n) => (dashed.includes(n) ? [6, 4] : [1, 0])),
              },
              legend, // the same legend as colour, so the two merge into one
            },
          }
        : {}),
      order: { field: 'i', type: 'quantitative' },
    },
    config: {
      font: FONT,
      view: { stroke: '#d0d0d0' },
      title: {
        anchor: 'start',
        fontSize: 15,
        fontWeight: 600,
        color: '#1a1a1a',
        subtitleFontSize: 12,
        subtitleColor: '#555555',
        offset: 10,
      },
      axis: {
        labelFontSize: 11,
        labelColor: '#333333',
        titleFontSize: 12,
        titleFontWeight: 500,
        titleColor: '#1a1a1a',
        gridColor: '#ececec',
        domainColor: '#888888',
        tickColor: '#888888',
        labelOverlap: true,
        labelFlush: true,
      },
      legend: { labelFontSize: 12, symbolStrokeWidth: 2.5, symbolType: 'stroke', labelLimit: 320 },
    },
  };
  const warnings: string[] = [];
  const logger = collectingLogger(warnings);
  const compiled = vl.compile(spec, { logger });
  const view = new vega.View(vega.parse(compiled.spec), { renderer: 'none', logger });
  try {
    return { svg: await view.toSVG(), dropped, thinned, warnings };
  } finally {
    view.finalize();
  }
}

function scaleOf(log: boolean) {
  // A log scale cannot include zero; a linear one should not be forced to (a loss near 2).
  return log
    ? { type: 'log' as const, nice: false, padding: 6 }
    : { type: 'linear' as const, zero: false, nice: true };
}

/**
 * At most `max` points, evenly spaced by index, always keeping the first and the last.
 * LIMITATION: a spike between two kept points is not drawn; min/max bucketing would keep it.
 */
function thin<T>(points: readonly T[], max: number): readonly T[] {
  if (points.length <= max || max < 2) return points;
  const out: T[] = [];
  const stride = (points.length - 1) / (max - 1);
  for (let k = 0; k < max; k++) out.push(points[Math.round(k * stride)] as T);
  return out;
}

function emptyChartSvg(title: string, width: number, height: number): string {
  const w = width + 80;
  const h = height + 60;
  const esc = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" ` +
    `viewBox="0 0 ${w} ${h}"><rect width="${w}" height="${h}" fill="white"/>` +
    `<text x="16" y="28" font-family="${FONT}" font-size="15" font-weight="600">${esc}</text>` +
    `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" font-family="${FONT}" ` +
    `font-size="13" fill="#777">no data to plot</text></svg>`
  );
}

function collectingLogger(into: string[]): vega.LoggerInterface {
  let level = vega.Warn;
  const logger: vega.LoggerInterface = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]) {
      into.push(`error: ${args.map(String).join(' ')}`);
      return logger;
    },
    warn(...args: unknown[]) {
      if (level >= vega.Warn) into.push(args.map(String).join(' '));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger;
}
