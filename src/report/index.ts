/**
 * Reports: a document of sections, tables and figures rendered as a self-contained report.html
 * and as report.md with plots/*.svg; line charts rendered to SVG in Node by Vega-Lite; and the
 * standard report of a training run. Studies build their own documents from the same parts.
 */
export {
  type AxisSpec,
  type ChartSvg,
  type LineChartOptions,
  lineChartSvg,
  type Series,
} from './chart.js';
export {
  type Figure,
  flattenConfig,
  formatNumber,
  type ReportDocument,
  type ReportSection,
  type ReportTable,
} from './document.js';
export { esc, inlineSvg, renderHtml } from './html.js';
export { renderMarkdown } from './markdown.js';
export {
  type RenderedReport,
  type ReportPaths,
  type RunReportOptions,
  renderRunReport,
  runFigures,
  writeReport,
  writeRunReport,
} from './run-report.js';
