/**
 * Bar charts of multipliers as SVG text, drawn by Vega-Lite in Node like `lineChartSvg`: each bar
 * runs from 1 (no gain) to its value on a log axis, so a gain points up and a loss points down,
 * with an optional interval drawn as a whisker. The scaling report's ablation and
 * product-versus-joint charts use it.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

/** One bar. */
export interface Bar {
  label: string;
  value: number;
  /** The interval drawn as a whisker, when there is one. */
  lo?: number;
  hi?: number;
  /** Bars of one group share a colour (e.g. 'this sweep', 'paper'). */
  group?: string;
}

export interface BarChartOptions {
  bars: readonly Bar[];
  y: string;
  title: string;
  subtitle?: string;
  width?: number;
  height?: number;
}

const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00'];
const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';

/**
 * Renders `bars` (see the file comment). Bars whose value is not a positive finite number cannot
 * be drawn on the log axis; they are left out and counted in `dropped`.
 */
export async function barChartSvg(o: BarChartOptions): Promise<{ svg: string; dropped: number }> {
  const ok = o.bars.filter((b) => Number.isFinite(b.value) && b.value > 0);
  const rows = ok.map((b) => ({
    label: b.label,
    value: b.value,
    base: 1,
    group: b.group ?? '',
    ...(b.lo !== undefined && b.hi !== undefined && b.lo > 0 ? { lo: b.lo, hi: b.hi } : {}),
  }));
  if (rows.length === 0) {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="80"><rect width="400" ' +
      `height="80" fill="white"/><text x="16" y="44" font-family="${FONT}" font-size="13">` +
      'no multiplier to plot</text></svg>';
    return { svg, dropped: o.bars.length };
  }
  const groups = [...new Set(rows.map((r) => r.group))];
  const all = rows.flatMap((r) => [r.value, r.lo ?? r.value, r.hi ?? r.value, 1]);
  const domain = [Math.min(...all) / 1.1, Math.max(...all) * 1.1];
  const x = {
    field: 'label',
    type: 'nominal' as const,
    title: null,
    sort: null,
    axis: { labelAngle: -30, labelLimit: 200 },
  };
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    title: o.y,
    scale: { type: 'log' as const, domain, nice: false },
  };
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: o.width ?? Math.max(240, 56 * rows.length),
    height: o.height ?? 260,
    background: 'white',
    padding: { left: 8, right: 16, top: 8, bottom: 8 },
    title: { text: o.title, ...(o.subtitle !== undefined ? { subtitle: o.subtitle } : {}) },
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', opacity: 0.85 },
        encoding: {
          x,
          y,
          y2: { field: 'base' },
          color: {
            field: 'group',
            type: 'nominal',
            title: null,
            scale: { domain: groups, range: groups.map((_, i) => PALETTE[i % PALETTE.length]) },
            legend: groups.length > 1 ? { orient: 'top' } : null,
          },
        },
      },
      {
        transform: [{ filter: 'isValid(datum.lo)' }],
        mark: { type: 'rule', color: '#1a1a1a', strokeWidth: 1.5 },
        encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' } },
      },
      {
        data: { values: [{ one: 1 }] },
        mark: { type: 'rule', color: '#888888', strokeDash: [4, 3] },
        encoding: { y: { field: 'one', type: 'quantitative' } },
      },
    ],
    config: {
      font: FONT,
      view: { stroke: '#d0d0d0' },
      title: { anchor: 'start', fontSize: 15, fontWeight: 600, subtitleFontSize: 12 },
      axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#ececec' },
    },
  };
  // Library code never prints: Vega's warnings are silenced.
  const logger = vega.logger(vega.None);
  const compiled = vl.compile(spec, { logger });
  const view = new vega.View(vega.parse(compiled.spec), { renderer: 'none', logger });
  try {
    return { svg: await view.toSVG(), dropped: o.bars.length - ok.length };
  } finally {
    view.finalize();
  }
}
