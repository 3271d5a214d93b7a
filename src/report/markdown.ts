/**
 * `report.md`: the same document as report.html, in GitHub-flavoured Markdown. Plots are not
 * inlined: each is written beside the report as `plots/<id>.svg` and linked by relative path, so
 * the folder can be moved or committed as a whole.
 */
import { checkFigureId, type Figure, type ReportDocument, type ReportTable } from './document.js';

/** The Markdown text of `doc`; figures link to `<plotsDir>/<id>.svg` (default `plots`). */
export function renderMarkdown(doc: ReportDocument, options: { plotsDir?: string } = {}): string {
  const plotsDir = options.plotsDir ?? 'plots';
  const out: string[] = [`# ${text(doc.title)}`, ''];
  if (doc.subtitle !== undefined) out.push(text(doc.subtitle), '');
  let n = 0;
  for (const s of doc.sections) {
    out.push(`## ${text(s.title)}`, '');
    for (const p of s.paragraphs ?? []) out.push(text(p), '');
    if (s.table !== undefined) out.push(table(s.table), '');
    for (const f of s.figures ?? []) out.push(figure(f, ++n, plotsDir), '');
  }
  out.push('---', '', `*Written by sextant at ${doc.generatedAt}.*`, '');
  return out.join('\n');
}

function figure(f: Figure, n: number, plotsDir: string): string {
  checkFigureId(f.id);
  return [
    `![${text(f.title)}](${plotsDir}/${f.id}.svg)`,
    '',
    `**Figure ${n}. ${text(f.title)}.** ${text(f.caption)}`,
  ].join('\n');
}

function table(t: ReportTable): string {
  const cell = (c: string) => text(c).replaceAll('|', '\\|').replace(/\r?\n/g, ' ');
  const rule = t.columns.map((_, i) => (t.align?.[i] === 'right' ? '---:' : '---'));
  return [
    `| ${t.columns.map(cell).join(' | ')} |`,
    `| ${rule.join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/**
 * Plain text made safe for Markdown: characters that would start emphasis, links or HTML are
 * escaped, except inside `code spans`, which pass through. Underscores inside words
 * (`grad_norm`) are left alone, as GitHub does not read them as emphasis.
 */
export function text(s: string): string {
  return s
    .split(/(`[^`]+`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(/[\\*<>[\]]/g, (c) => `\\${c}`).replace(/(?<!\w)_|_(?!\w)/g, '\\_'),
    )
    .join('');
}
