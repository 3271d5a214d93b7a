/**
 * Reports: line charts rendered to SVG in Node, the run report in HTML (self-contained: inline
 * SVG and CSS, no scripts, nothing fetched) and in Markdown (plots as files beside it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  flattenConfig,
  formatNumber,
  inlineSvg,
  lineChartSvg,
  renderRunReport,
  writeRunReport,
} from '../src/report/index.js';
import { text as markdownText } from '../src/report/markdown.js';
import { type MetricRecord, RunStore } from '../src/runs/index.js';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'sextant-report-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Metrics of a short synthetic training run: every standard metric, val every 10 steps. */
function trainingMetrics(steps: number): MetricRecord[] {
  const out: MetricRecord[] = [];
  for (let s = 1; s <= steps; s++) {
    out.push({
      step: s,
      'train/loss': 1.5 + 3 * Math.exp(-s / 20),
      'train/lr': 3e-4 * Math.min(1, s / 10),
      'train/grad_norm': 1 + 4 * Math.exp(-s / 5),
      'train/flops': s * 2.5e9,
    });
    if (s % 10 === 0) out.push({ step: s, 'val/loss': 1.6 + 3 * Math.exp(-s / 20) });
  }
  return out;
}

/** True when the markup refers to anything outside itself. */
function hasExternalReference(markup: string): boolean {
  return (
    /\b(?:src|href|xlink:href)\s*=\s*["']?(?!#)[^"'\s>]/i.test(markup) ||
    /url\(\s*["']?(?!#)/i.test(markup) ||
    /@import/i.test(markup)
  );
}

describe('lineChartSvg', () => {
  test('draws titled axes, a legend for several series, and nothing external', async () => {
    const chart = await lineChartSvg({
      series: [
        { name: 'train/loss', points: [1, 2, 3, 4].map((x) => ({ x, y: 4 / x })) },
        { name: 'val/loss', points: [2, 4].map((x) => ({ x, y: 4.2 / x })), dashed: true },
      ],
      x: 'step',
      y: { title: 'loss (nats)', format: '.2f' },
      title: 'Loss against steps',
      subtitle: 'a test',
    });
    assert.match(chart.svg, /^<svg [^>]*width="\d+"/);
    for (const t of [
      'Loss against steps',
      'a test',
      'step',
      'loss (nats)',
      'train/loss',
      'val/loss',
    ]) {
      assert.ok(chart.svg.includes(`>${t}<`), `the SVG shows "${t}"`);
    }
    assert.ok(chart.svg.includes('4.00'), 'y labels use the given format');
    assert.ok(chart.svg.includes('stroke-dasharray'), 'the dashed series is dashed');
    assert.equal(chart.dropped, 0);
    assert.deepEqual(chart.warnings, []);
    assert.equal(hasExternalReference(chart.svg), false);
    assert.doesNotMatch(chart.svg, /<script/i);
  });

  test('log axes leave out points they cannot show, and say how many', async () => {
    const chart = await lineChartSvg({
      series: [
        {
          name: 'loss',
          points: [
            { x: 0, y: 1 },
            { x: 1e9, y: 3 },
            { x: 1e10, y: 2 },
            { x: 1e11, y: Number.NaN },
            { x: 1e12, y: 1.5 },
          ],
        },
      ],
      x: { title: 'FLOPs', format: '~s' },
      y: 'loss',
      logX: true,
    });
    assert.equal(chart.dropped, 2, 'x = 0 on a log axis, and a NaN');
    assert.ok(chart.svg.includes('>1G<') || chart.svg.includes('>10G<'), 'SI tick labels');
    // A single series has no legend: 'loss' is only the axis title.
    assert.equal(chart.svg.split('>loss<').length - 1, 1);
  });

  test('long series are thinned; an empty chart says so', async () => {
    const points = Array.from({ length: 5000 }, (_, i) => ({ x: i, y: Math.sin(i) }));
    const thin = await lineChartSvg({
      series: [{ name: 's', points }],
      x: 'x',
      y: 'y',
      maxPoints: 100,
    });
    assert.equal(thin.thinned, true);
    const empty = await lineChartSvg({
      series: [{ name: 's', points: [{ x: -1, y: 1 }] }],
      x: 'x',
      y: 'y',
      logX: true,
      title: 'Nothing <here>',
    });
    assert.match(empty.svg, /no data to plot/);
    assert.match(empty.svg, /Nothing &#60;here&#62;/);
    assert.equal(empty.dropped, 1);
  });
});

describe('run report', () => {
  async function finishedRun(name: string, metrics: MetricRecord[]) {
    const store = RunStore.open(join(tmp, `store-${name.replace(/\W/g, '')}`));
    const run = store.create({
      name,
      kind: 'train lm',
      config: { model: { name: 'gpt2', n_layer: 2 }, optim: { lr: 3e-4 }, seed: 3 },
    });
    for (const { step, time: _t, ...m } of metrics)
      run.logMetrics(step, m as Record<string, number>);
    run.finish({ 'val/loss': 1.61, 'train/loss': 1.52 });
    const record = store.get(run.id);
    const log = store.readMetrics(run.id);
    store.close();
    return { record, log };
  }

  test('the HTML is self-contained and holds the four plots with their captions', async () => {
    const { record, log } = await finishedRun('tiny <b>gpt</b>', trainingMetrics(60));
    const report = await renderRunReport(record, { metrics: log.records });
    const { html } = report;
    assert.deepEqual(
      report.figures.map((f) => f.id),
      ['loss-vs-step', 'loss-vs-flops', 'learning-rate', 'grad-norm'],
    );
    assert.equal(html.match(/<svg\b/g)?.length, 4);
    assert.equal(hasExternalReference(html), false, 'no src, href, url() or @import pointing out');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe/i);
    assert.doesNotMatch(html, /https?:/, 'not even a namespace URL');
    assert.match(html, /<style>/);
    // How each figure was obtained is said under it.
    assert.match(html, /FLOPs counted by the engine&#39;s kernels/);
    assert.match(html, /Figure 2\. Loss against compute\./);
    // The title is escaped, the config flattened into a table, the machine named.
    assert.match(
      html,
      /<h1>tiny &lt;b&gt;gpt&lt;\/b&gt; <span class="status done">done<\/span><\/h1>/,
    );
    assert.match(html, /<td class="key">optim\.lr<\/td><td>0\.0003<\/td>/);
    assert.ok(html.includes(record.repro.nodeVersion));
    assert.ok(html.includes(record.configHash));
    assert.match(html, /<td class="key">val\/loss<\/td><td class="right">1\.61<\/td>/);
    // Ids inside the SVGs are unique in the page (each plot's clip paths are its own).
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
  });

  test('writeRunReport writes report.html, report.md and the plots it links', async () => {
    const { record, log } = await finishedRun('md', trainingMetrics(30));
    const paths = await writeRunReport(record, { metrics: log.records });
    assert.equal(paths.html, join(record.dir, 'report.html'));
    const md = readFileSync(paths.markdown, 'utf8');
    const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1] as string);
    assert.deepEqual(links, [
      'plots/loss-vs-step.svg',
      'plots/loss-vs-flops.svg',
      'plots/learning-rate.svg',
      'plots/grad-norm.svg',
    ]);
    for (const link of links) {
      const svg = readFileSync(join(record.dir, link), 'utf8');
      assert.match(
        svg,
        /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/,
      );
    }
    assert.match(md, /^# md$/m);
    assert.match(md, /^\| optim\.lr \| 0\.0003 \|$/m);
    assert.match(md, /^\| val\/loss \| 1\.61 \|$/m);
    assert.match(md, /\*\*Figure 1\. Loss against steps\.\*\* Losses as the trainer logged them/);

    // A later report without FLOPs or gradient norms removes their stale plots and says why.
    const fewer = log.records.map(({ step, 'train/loss': loss }) => ({ step, 'train/loss': loss }));
    writeFileSync(join(record.dir, 'plots', 'unrelated.txt'), 'kept');
    await writeRunReport(record, { metrics: fewer as MetricRecord[] });
    assert.deepEqual(readdirSync(join(record.dir, 'plots')).sort(), [
      'loss-vs-step.svg',
      'unrelated.txt',
    ]);
    const md2 = readFileSync(paths.markdown, 'utf8');
    assert.match(
      md2,
      /No `train\/flops` was logged with the losses, so there is no loss-against-FLOPs plot\./,
    );
    assert.match(md2, /No `train\/lr` was logged/);
    assert.ok(existsSync(paths.html));
  });

  test('an unfinished run reports its last logged values and skipped lines', async () => {
    const store = RunStore.open(join(tmp, 'store-unfinished'));
    const run = store.create({ name: 'u', kind: 'train lm', config: { seed: 1 } });
    run.logMetrics(1, { 'train/loss': 3 });
    run.logMetrics(2, { 'train/loss': 2.5 });
    run.interrupt('SIGINT at step 2');
    const record = store.get(run.id);
    store.close();
    const report = await renderRunReport(record, {
      metrics: [
        { step: 1, 'train/loss': 3 },
        { step: 2, 'train/loss': 2.5 },
      ],
      metricWarnings: ['metrics.jsonl:3: torn last line'],
    });
    assert.match(
      report.markdown,
      /The run has not finished \(status interrupted\): the last logged/,
    );
    assert.match(report.markdown, /^\| train\/loss \| 2\.5 \|$/m);
    assert.match(report.markdown, /^## Warnings$/m);
    assert.match(report.markdown, /\| reason \| SIGINT at step 2 \|/);
    assert.match(report.html, /<span class="status interrupted">/);
  });
});

describe('report helpers', () => {
  test('inlineSvg prefixes ids and their references, and drops prolog and namespaces', () => {
    const svg =
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" ' +
      'xmlns:xlink="http://www.w3.org/1999/xlink"><clipPath id="clip1"><rect/></clipPath>' +
      '<g clip-path="url(#clip1)"><use xlink:href="#clip1"/></g></svg>';
    assert.equal(
      inlineSvg(svg, 'fig-a'),
      '<svg><clipPath id="fig-a-clip1"><rect/></clipPath><g clip-path="url(#fig-a-clip1)">' +
        '<use xlink:href="#fig-a-clip1"/></g></svg>',
    );
  });

  test('config flattening and number formats', () => {
    assert.deepEqual(flattenConfig({ b: { c: 1, d: [1, 2] }, a: 'x', e: {}, f: undefined }), [
      ['b.c', '1'],
      ['b.d', '[1,2]'],
      ['a', 'x'],
      ['e', '{}'],
    ]);
    assert.equal(formatNumber(12345), '12,345');
    assert.equal(formatNumber(1.23456789), '1.23457');
    assert.equal(formatNumber(0.0001234), '1.2340e-4');
    assert.equal(formatNumber(Number.NaN), 'NaN');
  });

  test('Markdown text escapes what would become markup, but not code spans or inner _', () => {
    assert.equal(
      markdownText('a *b* <i> [x] `a*b` grad_norm _x_'),
      'a \\*b\\* \\<i\\> \\[x\\] `a*b` grad_norm \\_x\\_',
    );
  });
});
