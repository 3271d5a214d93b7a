/**
 * Metrics as CSV (RFC 4180 quoting), for spreadsheets and pandas: one row per step, lines that
 * share a step merged, columns `step`, `time`, then the metric names sorted.
 */
import { type MetricRecord, mergeByStep, metricNames } from './metrics.js';

/**
 * Quotes one CSV field when it must be: when it holds a comma, a double quote, a line break, or
 * leading or trailing spaces. Inner quotes are doubled.
 */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One CSV line (without its line break) from fields. */
export function csvLine(fields: readonly string[]): string {
  return fields.map(csvField).join(',');
}

/**
 * The CSV text (header line, then one line per step, each ending in `\n`). Numbers are written
 * so they read back exactly (`String(n)`); a metric absent at a step is an empty field; NaN and
 * infinities are `NaN`, `Infinity`, `-Infinity` as pandas reads them.
 */
export function metricsCsv(records: readonly MetricRecord[]): string {
  const rows = mergeByStep(records);
  const hasTime = rows.some((r) => r.time !== undefined);
  const columns = ['step', ...(hasTime ? ['time'] : []), ...metricNames(rows)];
  const lines = [csvLine(columns)];
  for (const r of rows) {
    lines.push(csvLine(columns.map((c) => (r[c] === undefined ? '' : String(r[c])))));
  }
  return `${lines.join('\n')}\n`;
}
