/**
 * A report as data: a title and sections of paragraphs, tables and figures. `html.ts` and
 * `markdown.ts` render the same document two ways, so the run report and every study's report
 * say the same thing in `report.html` and `report.md`.
 */

/** A plot: its SVG and the sentence that says how its numbers were obtained. */
export interface Figure {
  /** File stem of `plots/<id>.svg` and anchor in the HTML: lowercase, digits, '-' (checked). */
  id: string;
  title: string;
  svg: string;
  /** How the figure was obtained: which metric, counted by what, which scale, what was left out. */
  caption: string;
}

/** A table of text cells; numbers are formatted by whoever builds it. */
export interface ReportTable {
  columns: readonly string[];
  rows: readonly (readonly string[])[];
  /** Per column; default left. Right-align numbers so their digits line up. */
  align?: readonly ('left' | 'right')[];
  /** The first column holds names (config fields, metric names): shown in monospace. */
  keyColumn?: boolean;
}

export interface ReportSection {
  title: string;
  /** Plain text (escaped on output), one paragraph each; `code spans` in backticks are kept. */
  paragraphs?: readonly string[];
  table?: ReportTable;
  figures?: readonly Figure[];
}

export interface ReportDocument {
  title: string;
  /** A line under the title (the run id, kind and status). */
  subtitle?: string;
  sections: readonly ReportSection[];
  /** When the report was written, ISO 8601; shown in the footer. */
  generatedAt: string;
}

/**
 * Flattens nested objects into `[dotted.path, value]` rows (`optim.lr -> 0.0003`), for config
 * tables. Arrays and scalars are leaves, written as JSON (strings without quotes).
 */
export function flattenConfig(value: unknown, prefix = ''): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>).filter(
      ([, v]) => v !== undefined,
    );
    if (entries.length === 0 && prefix !== '') return [[prefix, '{}']];
    return entries.flatMap(([k, v]) => flattenConfig(v, prefix === '' ? k : `${prefix}.${k}`));
  }
  return [
    [prefix === '' ? '(value)' : prefix, typeof value === 'string' ? value : JSON.stringify(value)],
  ];
}

/** A number for a table: integers with separators, others with 6 significant digits. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(4).replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/** Throws when `id` cannot name a file and an anchor. */
export function checkFigureId(id: string): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) {
    throw new Error(
      `report figure id must be lowercase letters, digits and '-' (it names plots/<id>.svg), ` +
        `got ${JSON.stringify(id)}`,
    );
  }
}
