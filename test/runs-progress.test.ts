/**
 * The progress display: its number formats, the fixed-field log lines written when the output is
 * not a terminal, the JSON lines, and the bar's redraw limit on a terminal (with a fake clock).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatBarLine,
  formatCount,
  formatDuration,
  formatLoss,
  formatLr,
  formatStepLine,
  ProgressReporter,
  type ProgressStream,
} from '../src/runs/progress.js';

/** A stream that records what is written; `isTTY` as asked. */
function sink(isTTY: boolean, columns = 120): ProgressStream & { text: string } {
  const s = {
    text: '',
    isTTY,
    columns,
    write(t: string) {
      s.text += t;
      return true;
    },
  };
  return s;
}

describe('formats', () => {
  test('durations', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(42.4), '42s');
    assert.equal(formatDuration(72), '1m12s');
    assert.equal(formatDuration(3599.6), '1h00m');
    assert.equal(formatDuration(2 * 3600 + 3 * 60 + 59), '2h03m');
    assert.equal(formatDuration(3 * 86_400 + 4 * 3600), '3d04h');
    assert.equal(formatDuration(Number.NaN), '?');
    assert.equal(formatDuration(Number.POSITIVE_INFINITY), '?');
    assert.equal(formatDuration(-1), '?');
  });

  test('counts, losses and learning rates', () => {
    assert.equal(formatCount(12345.4), '12,345');
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(1_234_567_890), '1,234,567,890');
    assert.equal(formatCount(-1500), '-1,500');
    assert.equal(formatCount(Number.NaN), 'nan');
    assert.equal(formatLoss(2.31449), '2.314');
    assert.equal(formatLoss(0), '0.000');
    assert.equal(formatLoss(0.000123), '1.23e-4');
    assert.equal(formatLoss(123456), '1.23e5');
    assert.equal(formatLoss(Number.NaN), 'nan');
    assert.equal(formatLoss(Number.POSITIVE_INFINITY), 'inf');
    assert.equal(formatLr(3e-4), '3.0e-4');
    assert.equal(formatLr(0.001), '1.0e-3');
    assert.equal(formatLr(0), '0');
  });

  test('the fixed-field line has every field, in place, even before a value exists', () => {
    const values = new Map([
      ['train/loss', 2.3141],
      ['train/lr', 3e-4],
      ['train/tokens_per_s', 12345.2],
    ]);
    assert.equal(
      formatStepLine(120, 1000, values, 72),
      'step  120/1000  loss  2.314  val      -  lr 3.0e-4    12,345 tok/s  eta 1m12s',
    );
    values.set('val/loss', 2.401);
    const line = formatStepLine(1000, 1000, values, 0);
    assert.equal(
      line,
      'step 1000/1000  loss  2.314  val  2.401  lr 3.0e-4    12,345 tok/s  eta 0s',
    );
    // Same columns on both lines: the label positions do not move.
    assert.equal(line.indexOf('loss'), 'step  120/1000  '.length);
  });

  test('the bar line shows percentage, step and the fields that have values', () => {
    const values = new Map([['train/loss', 2.5]]);
    assert.equal(
      formatBarLine(300, 1000, values, 3725),
      `[${'█'.repeat(6)}${'░'.repeat(14)}]   30%  300/1000  loss 2.500  eta 1h02m`,
    );
    const empty = formatBarLine(0, 0, new Map(), Number.NaN);
    assert.match(empty, /^\[░{20}\] {4}0% {2}0\/0 {2}eta \?$/);
  });
});

describe('ProgressReporter', () => {
  test('not a terminal: one plain line per logged step, no control characters', () => {
    const out = sink(false);
    let now = 0;
    const p = new ProgressReporter({ stream: out, now: () => now });
    assert.equal(p.mode, 'lines');
    p.step({ step: 10, totalSteps: 30, metrics: { 'train/loss': 3, 'train/lr': 1e-3 } });
    now += 10_000; // 10 steps in 10 s: 1 step/s
    p.step({ step: 20, totalSteps: 30, metrics: { 'train/loss': 2.5, 'val/loss': 2.7 } });
    p.message('checkpoint step 20 written');
    now += 10_000;
    p.step({ step: 30, totalSteps: 30, metrics: { 'train/loss': 2 } });
    p.done();
    assert.equal(
      out.text,
      [
        'step 10/30  loss  3.000  val      -  lr 1.0e-3         - tok/s  eta ?',
        'step 20/30  loss  2.500  val  2.700  lr 1.0e-3         - tok/s  eta 10s',
        'checkpoint step 20 written',
        'step 30/30  loss  2.000  val  2.700  lr 1.0e-3         - tok/s  eta 0s',
        '',
      ].join('\n'),
    );
    assert.ok(!out.text.includes('\r') && !out.text.includes('\x1b'), 'no control characters');
  });

  test('everySteps thins the lines but keeps the last step', () => {
    const out = sink(false);
    const p = new ProgressReporter({ stream: out, everySteps: 5, now: () => 0 });
    for (let s = 1; s <= 12; s++) p.step({ step: s, totalSteps: 12, metrics: { 'train/loss': 1 } });
    const steps = out.text
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[1]);
    assert.deepEqual(steps, ['5/12', '10/12', '12/12']);
  });

  test('json mode: one parseable object per step, NaN as a string', () => {
    const out = sink(true); // --json wins even on a terminal
    let now = 0;
    const p = new ProgressReporter({ stream: out, mode: 'json', now: () => now });
    p.step({ step: 1, totalSteps: 4, metrics: { 'train/loss': 3 } });
    now += 2000;
    p.step({ step: 2, totalSteps: 4, metrics: { 'train/loss': Number.NaN } });
    p.message('hello');
    const lines = out.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines, [
      { step: 1, total_steps: 4, eta_s: null, 'train/loss': 3 },
      { step: 2, total_steps: 4, eta_s: 4, 'train/loss': 'NaN' },
      { message: 'hello' },
    ]);
  });

  test('on a terminal the bar is redrawn in place at most every redrawMs', () => {
    const out = sink(true, 60);
    let now = 0;
    const p = new ProgressReporter({ stream: out, now: () => now, redrawMs: 100 });
    assert.equal(p.mode, 'bar');
    for (let s = 1; s <= 100; s++) {
      now += 10; // 100 steps in 1 s: about 10 redraws
      p.step({ step: s, totalSteps: 100, metrics: { 'train/loss': 1 } });
    }
    p.done();
    const draws = out.text.split('\r').length - 1;
    assert.ok(draws >= 9 && draws <= 12, `${draws} redraws`);
    assert.ok(out.text.endsWith('\n'));
    // Every drawn line fits the 60-column terminal (a wrapped line would break the redraw).
    for (const frame of out.text.split('\r').slice(1)) {
      const visible = frame.replaceAll('\x1b[K', '').replace(/\n$/, '');
      assert.ok([...visible].length <= 59, `${visible} is too wide`);
    }
    assert.match(out.text, /100% {2}100\/100/);
  });
});
