/**
 * The progress display of long work, for the CLI. Library code never prints: the trainer emits a
 * `StepProgress` per logged step through its callback, and the CLI hands it to a
 * `ProgressReporter` made here, which draws it in one of three ways:
 *
 * - `bar` (a terminal): one line redrawn in place, at most every `redrawMs` (100 ms), with
 *   percentage, step/total, loss, tokens/s and ETA, cut to the terminal's width;
 * - `lines` (a file or a pipe): one fixed-field line per logged step, e.g.
 *   `step  120/1000  loss  2.314  val  2.401  lr 3.0e-4   12,345 tok/s  eta 1m12s`;
 * - `json` (`--json`): one JSON object per logged step, for programs.
 *
 * The ETA divides the steps left by the mean rate since the first event this reporter saw, so a
 * resumed run is not credited with the steps done before the resume.
 */

/** What the trainer reports at a logged step. */
export interface StepProgress {
  /** Steps done so far (1-based: the step just finished). */
  step: number;
  totalSteps: number;
  /** Slash-named metrics of this step (`train/loss`, `val/loss`, `train/lr`...). */
  metrics: Readonly<Record<string, number>>;
}

/** One field of the progress line: which metric, under what label, formatted how. */
export interface ProgressField {
  metric: string;
  label: string;
  format: (value: number) => string;
  /** Values are right-aligned to this many characters so the columns of a log line up. */
  width: number;
  /** The label goes after the value (`12,345 tok/s`) instead of before (`loss 2.314`). */
  labelAfter?: boolean;
}

/** The fields of a language-model training run. */
export const DEFAULT_FIELDS: readonly ProgressField[] = [
  { metric: 'train/loss', label: 'loss', format: formatLoss, width: 6 },
  { metric: 'val/loss', label: 'val', format: formatLoss, width: 6 },
  { metric: 'train/lr', label: 'lr', format: formatLr, width: 6 },
  { metric: 'train/tokens_per_s', label: 'tok/s', format: formatCount, width: 8, labelAfter: true },
];

export type ProgressMode = 'bar' | 'lines' | 'json';

/** The stream progress goes to: `process.stdout`, `process.stderr`, or one of tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Terminal width, when a terminal. */
  columns?: number;
}

export interface ProgressOptions {
  /** Where to draw (default `process.stderr`, which keeps stdout for results). */
  stream?: ProgressStream;
  /** `auto` (default): `bar` on a terminal, `lines` otherwise. */
  mode?: ProgressMode | 'auto';
  fields?: readonly ProgressField[];
  /** Least time between two redraws of the bar, ms (default 100). */
  redrawMs?: number;
  /** In `lines` and `json` modes, report only steps that are multiples of this (default 1). */
  everySteps?: number;
  /** The clock, ms (injected by tests). */
  now?: () => number;
}

/** Draws the progress of one piece of long work; see the file comment for the modes. */
export class ProgressReporter {
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly fields: readonly ProgressField[];
  private readonly redrawMs: number;
  private readonly everySteps: number;
  private readonly now: () => number;
  /** The last value of each metric seen (a validation loss stays shown between evaluations). */
  private readonly latest = new Map<string, number>();
  private first: { step: number; ms: number } | null = null;
  private last: StepProgress | null = null;
  private lastDrawMs = Number.NEGATIVE_INFINITY;
  private barShown = false;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    const mode = options.mode ?? 'auto';
    this.mode = mode === 'auto' ? (this.stream.isTTY === true ? 'bar' : 'lines') : mode;
    this.fields = options.fields ?? DEFAULT_FIELDS;
    this.redrawMs = options.redrawMs ?? 100;
    this.everySteps = Math.max(1, options.everySteps ?? 1);
    this.now = options.now ?? Date.now;
  }

  /** Takes the progress of a step and draws it when its mode says so. */
  step(p: StepProgress): void {
    const ms = this.now();
    if (this.first === null) this.first = { step: p.step, ms };
    for (const [k, v] of Object.entries(p.metrics)) this.latest.set(k, v);
    this.last = p;
    const eta = this.etaSeconds(p, ms);
    const isLast = p.step >= p.totalSteps;
    if (this.mode === 'bar') {
      if (isLast || ms - this.lastDrawMs >= this.redrawMs) this.drawBar(p, eta, ms);
      return;
    }
    if (!isLast && p.step % this.everySteps !== 0) return;
    if (this.mode === 'json') {
      this.stream.write(`${progressJson(p, eta)}\n`);
    } else {
      this.stream.write(
        `${formatStepLine(p.step, p.totalSteps, this.values(), eta, this.fields)}\n`,
      );
    }
  }

  /** Prints a line of text (a checkpoint saved, an evaluation) without breaking the bar. */
  message(text: string): void {
    if (this.mode === 'json') {
      this.stream.write(`${JSON.stringify({ message: text })}\n`);
      return;
    }
    if (this.mode === 'bar' && this.barShown) this.stream.write('\r\x1b[K');
    this.stream.write(`${text}\n`);
    if (this.mode === 'bar' && this.last !== null) {
      this.drawBar(this.last, this.etaSeconds(this.last, this.now()), this.now());
    }
  }

  /** Ends the display: the bar's last state stays on screen and the cursor moves below it. */
  done(): void {
    if (this.mode === 'bar' && this.last !== null) {
      this.drawBar(this.last, this.etaSeconds(this.last, this.now()), this.now());
      this.stream.write('\n');
      this.barShown = false;
    }
  }

  private drawBar(p: StepProgress, eta: number, ms: number): void {
    const line = formatBarLine(p.step, p.totalSteps, this.values(), eta, this.fields);
    const width = Math.max(20, (this.stream.columns ?? 80) - 1); // a wrapped line breaks `\r`
    this.stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
    this.lastDrawMs = ms;
    this.barShown = true;
  }

  private values(): ReadonlyMap<string, number> {
    return this.latest;
  }

  private etaSeconds(p: StepProgress, ms: number): number {
    if (this.first === null || p.step <= this.first.step || ms <= this.first.ms) return Number.NaN;
    const stepsPerMs = (p.step - this.first.step) / (ms - this.first.ms);
    return Math.max(0, p.totalSteps - p.step) / stepsPerMs / 1000;
  }
}

/**
 * The fixed-field log line: `step  120/1000  loss  2.314  val      -  lr 3.0e-4  ... eta 1m12s`.
 * A metric never seen shows `-`, so every line has the same fields in the same places.
 */
export function formatStepLine(
  step: number,
  totalSteps: number,
  values: ReadonlyMap<string, number>,
  etaSeconds: number,
  fields: readonly ProgressField[] = DEFAULT_FIELDS,
): string {
  const total = String(totalSteps);
  const parts = [`step ${String(step).padStart(total.length)}/${total}`];
  for (const f of fields) parts.push(formatField(f, values.get(f.metric)));
  parts.push(`eta ${formatDuration(etaSeconds)}`);
  return parts.join('  ');
}

/**
 * The bar line: `[██████░░░░░░░░░░░░░░]  30%  300/1000`
 * followed by `  loss 2.314 ... eta 1m12s`.
 */
export function formatBarLine(
  step: number,
  totalSteps: number,
  values: ReadonlyMap<string, number>,
  etaSeconds: number,
  fields: readonly ProgressField[] = DEFAULT_FIELDS,
  barWidth = 20,
): string {
  const fraction = totalSteps > 0 ? Math.min(1, Math.max(0, step / totalSteps)) : 0;
  const filled = Math.floor(fraction * barWidth);
  const bar = `[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const parts = [bar, percent, `${step}/${totalSteps}`];
  // On a terminal only fields with a value are drawn: the line has little room.
  for (const f of fields) {
    const v = values.get(f.metric);
    if (v !== undefined) parts.push(formatField(f, v).replace(/ {2,}/g, ' '));
  }
  parts.push(`eta ${formatDuration(etaSeconds)}`);
  return parts.join('  ');
}

/** One JSON line of `json` mode: `{step, total_steps, eta_s, ...metrics}` (no newline). */
export function progressJson(p: StepProgress, etaSeconds: number): string {
  const row: Record<string, number | string | null> = {
    step: p.step,
    total_steps: p.totalSteps,
    eta_s: Number.isFinite(etaSeconds) ? Math.round(etaSeconds * 10) / 10 : null,
  };
  for (const [k, v] of Object.entries(p.metrics)) row[k] = Number.isFinite(v) ? v : String(v);
  return JSON.stringify(row);
}

function formatField(f: ProgressField, v: number | undefined): string {
  const text = (v === undefined ? '-' : f.format(v)).padStart(f.width);
  return f.labelAfter === true ? `${text} ${f.label}` : `${f.label} ${text}`;
}

/** A duration for people: `42s`, `1m12s`, `2h03m`, `3d04h`; `?` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** A whole number with thousands separators: `12,345`. Rounds; `nan` for NaN. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n).toLowerCase();
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A loss: three decimals (`2.314`), or three significant digits in exponent form when tiny. */
export function formatLoss(v: number): string {
  if (!Number.isFinite(v)) return String(v).toLowerCase().replace('infinity', 'inf');
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.001 || a >= 1e5)) return formatExp(v, 2);
  return v.toFixed(3);
}

/** A learning rate: `3.0e-4`; `0` for zero. */
export function formatLr(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v).toLowerCase();
  return formatExp(v, 1);
}

function formatExp(v: number, digits: number): string {
  // toExponential writes `3.0e-4` and `1.2e+5`; drop the plus to keep fields short.
  return v.toExponential(digits).replace('e+', 'e');
}
