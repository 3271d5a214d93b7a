/**
 * `report.html`: one self-contained file that opens offline. The CSS is inline, the plots are
 * inline SVG, there are no scripts and nothing is fetched; it can be mailed or archived as is.
 */
import {
  checkFigureId,
  type Figure,
  type ReportDocument,
  type ReportSection,
  type ReportTable,
} from './document.js';

const CSS = `
:root { --fg: #1a1a1a; --muted: #5c5c5c; --line: #e2e2e2; --soft: #f6f7f9; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 32px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
.subtitle { color: var(--muted); margin: 0 0 24px; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
p { margin: 8px 0; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--soft); padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { text-align: left; font-weight: 600; background: var(--soft); }
td { font-variant-numeric: tabular-nums; }
td.right, th.right { text-align: right; }
td.key { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
tr:nth-child(even) td { background: #fbfbfc; }
figure { margin: 20px 0 28px; padding: 12px; border: 1px solid var(--line); border-radius: 6px; }
figure .plot svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 8px; }
figcaption b { color: var(--fg); }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px;
  font-weight: 600; color: #fff; background: #777; vertical-align: 2px; }
.status.done { background: #1b7f4a; } .status.running { background: var(--accent); }
.status.failed { background: #b3261e; } .status.interrupted { background: #a86200; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; }
`;

/** The HTML page of `doc`. `status` colours the badge when the subtitle names one. */
export function renderHtml(doc: ReportDocument, options: { status?: string } = {}): string {
  const out: string[] = [];
  let figureNumber = 0;
  out.push('<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">');
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push(`<title>${esc(doc.title)}</title>`, `<style>${CSS}</style>`, '</head>', '<body><main>');
  const badge =
    options.status === undefined
      ? ''
      : ` <span class="status ${esc(options.status)}">${esc(options.status)}</span>`;
  out.push(`<h1>${esc(doc.title)}${badge}</h1>`);
  if (doc.subtitle !== undefined) out.push(`<p class="subtitle">${inline(doc.subtitle)}</p>`);
  for (const section of doc.sections) {
    out.push(...renderSection(section, () => ++figureNumber));
  }
  out.push(`<footer>Written by sextant at ${esc(doc.generatedAt)}.</footer>`);
  out.push('</main></body>', '</html>', '');
  return out.join('\n');
}

function renderSection(s: ReportSection, nextFigure: () => number): string[] {
  const out = [`<section>`, `<h2>${esc(s.title)}</h2>`];
  for (const p of s.paragraphs ?? []) out.push(`<p>${inline(p)}</p>`);
  if (s.table !== undefined) out.push(renderTable(s.table));
  for (const f of s.figures ?? []) out.push(renderFigure(f, nextFigure()));
  out.push('</section>');
  return out;
}

function renderTable(t: ReportTable): string {
  const cls = (i: number) => (t.align?.[i] === 'right' ? ' class="right"' : '');
  // Key-value tables have no column titles: then no header row either.
  const titles = t.columns.map((c, i) => `<th${cls(i)}>${esc(c)}</th>`).join('');
  const head = t.columns.every((c) => c === '') ? '' : `<thead><tr>${titles}</tr></thead>\n`;
  const rows = t.rows.map((row) => {
    const cells = row.map((cell, i) => {
      const c = t.align?.[i] === 'right' ? 'right' : i === 0 && t.keyColumn === true ? 'key' : '';
      return `<td${c === '' ? '' : ` class="${c}"`}>${esc(cell)}</td>`;
    });
    return `<tr>${cells.join('')}</tr>`;
  });
  return `<table>\n${head}<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`;
}

function renderFigure(f: Figure, n: number): string {
  checkFigureId(f.id);
  return [
    `<figure id="fig-${f.id}">`,
    `<div class="plot">${inlineSvg(f.svg, `fig-${f.id}`)}</div>`,
    `<figcaption><b>Figure ${n}. ${esc(f.title)}.</b> ${inline(f.caption)}</figcaption>`,
    '</figure>',
  ].join('\n');
}

/**
 * An SVG file's text made fit to sit inside HTML: no XML prolog; its ids prefixed with `prefix`
 * so two plots in one page cannot take each other's clip paths; namespace declarations dropped
 * (HTML knows SVG's namespace, and the page then holds no URL at all).
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/<\?xml[^>]*\?>\s*/g, '')
    .replace(/<!DOCTYPE[^>]*>\s*/gi, '')
    .replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')
    .replace(/\sid="([^"]+)"/g, ` id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/(\s(?:xlink:)?href)="#([^"]+)"/g, `$1="#${prefix}-$2"`);
}

/** Escapes text for HTML. */
export function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/** Escaped text with `code spans` kept as <code>. */
function inline(text: string): string {
  return esc(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}
