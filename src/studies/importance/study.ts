/**
 * The `importance` study end to end (spec part E):
 *   1. read and split the data (data.ts);
 *   2. the scoring run: train on all training rows with the first seed, and after every epoch
 *      score every training sample (gradient norm, EL2N, loss, correctness) with the parameters
 *      frozen: N × E matrices;
 *   3. aggregate each selector's scores across epochs and select kept subsets (fixed fractions,
 *      cumulative mass, knee; optionally within each class);
 *   4. for every seed, retrain from scratch on all rows, on each kept subset and on a random subset
 *      of the same size: same init, data order stream, epochs and model;
 *   5. summarise: metrics with 95 % intervals over seeds, paired differences against full data and
 *      against random, costs and savings with and without the scoring run, break-even retrains.
 *
 * Library code: it never prints; progress goes through `onProgress`.
 *
 * Models: an MLP on flat rows, or (windowed presets) the LSTM forecaster reading each window step
 * by step; `--model mlp` on a windowed preset flattens the window into one row (windows.ts).
 *
 * LIMITATION: static pruning only (score once, retrain); no per-epoch dynamic mode, no
 * "on-the-fly" scoring inside training mini-batches, no GraNd average over several
 * initialisations, one LSTM layer only (no stacked layers, GRU or 1-D CNN), and no reload of a
 * keep-list from an earlier run.
 * LIMITATION: wall time (and so power-model energy) is noisy: an MLP retrain of the quick preset
 * takes a fraction of a second, an LSTM retrain a few seconds, and other processes on the machine
 * slow some retrains more than others; sample-gradient and FLOP savings are exact.
 */

import { kernels } from '../../backends/index.js';
import { DataError } from '../../data/errors.js';
import { Generator } from '../../tensor/random.js';
import type { ImportanceConfig, ModelKind, Selector } from './config.js';
import { SELECTORS } from './config.js';
import { breakEven, type Cost, type EnergyOptions, measure, percentSaved } from './cost.js';
import { loadStudyData, PRESETS, type StudyData } from './data.js';
import { forgettingEvents, sampleScores } from './per-sample.js';
import {
  type Archetype,
  aggregate,
  archetypes,
  type Selection,
  select,
  stability,
} from './scores.js';
import { excludesZero, type Interval, meanInterval, pairedDifference } from './stats.js';
import {
  buildModel,
  type ModelSpec,
  rowsBatch,
  type TrainOptions,
  testMetrics,
  trainOn,
} from './train.js';
import { loadWindowedData } from './windows.js';

/** The N × E score matrices of the scoring run (epoch-major: `[e][i]`). */
export interface ScoreMatrices {
  gradNorm: Float64Array[];
  el2n: Float64Array[];
  loss: Float64Array[];
  correct: Uint8Array[];
}

/** One retraining condition: a selector and a rule (or full data, or random of a size). */
export interface Condition {
  /** 'full', 'random', or the selector name ('gradnorm'...). */
  selector: string;
  /** 'all', 'keep 0.8', 'mass 0.9', 'knee'. */
  rule: string;
  kept: number;
  keptFraction: number;
  /** Per seed, in seed order. */
  metrics: Record<string, number>[];
  costs: Cost[];
}

/** The summary of a pruned condition against full data and random at the same size. */
export interface ConditionSummary {
  selector: string;
  rule: string;
  keptFraction: number;
  kept: number;
  metrics: Record<string, Interval>;
  /** Primary metric: subset − full (paired over seeds). */
  vsFull: Interval;
  /** Primary metric: subset − random of the same size (paired over seeds). */
  vsRandom: Interval | null;
  /** Relative change of the primary metric against full data, % (signed, worse is negative). */
  relativeChangePct: number;
  /** Within 1 % relative of full data, or within the seed-to-seed std of full data. */
  maintained: boolean;
  /** Better than random with a 95 % interval of the paired difference excluding zero. */
  beatsRandom: boolean;
  savings: Savings;
}

export interface Savings {
  /** Retraining only: 100 · (1 − subset / full). */
  timePct: number;
  energyPct: number;
  co2Pct: number;
  sampleGradsPct: number;
  flopsPct: number;
  /** End to end, the scoring run added to the subset's cost. */
  endToEndTimePct: number;
  endToEndSampleGradsPct: number;
  /** Retrains after which the scoring run has paid for itself (time; sample gradients). */
  breakEvenTime: number;
  breakEvenSampleGrads: number;
}

/** The model every training of the study used. */
export interface ModelSummary {
  kind: ModelKind;
  /** Its layers and sizes in words, e.g. 'LSTM 10 → 32 units over 10 steps, dense head 32 → 1'. */
  description: string;
  parameters: number;
}

export interface StudyResult {
  dataset: string;
  model: ModelSummary;
  file: string;
  task: 'classification' | 'regression';
  primary: string;
  /** Whether a larger primary metric is better. */
  higherIsBetter: boolean;
  rows: { train: number; test: number; features: number; groups: number };
  seeds: number[];
  scoring: { cost: Cost; matrices: ScoreMatrices; aggregated: Record<string, Float64Array> };
  stability: ReturnType<typeof stability>;
  archetypes: Record<Archetype, number>;
  conditions: Condition[];
  summaries: ConditionSummary[];
  /** Kept subsets, as training-row positions, by `selector|rule`. */
  keepLists: Record<string, Int32Array>;
  energySource: Cost['energySource'];
  /** The kernel backend the study ran on (results differ in rounding between backends). */
  backend: 'js' | 'native';
  data: StudyData;
}

/** What the study tells its caller as it goes. */
export type ProgressEvent =
  | { kind: 'scoring-epoch'; epoch: number; epochs: number }
  | { kind: 'retrain'; done: number; total: number; selector: string; rule: string; seed: number };

function splitList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The kept fractions of `--keep`, checked. */
export function parseKeep(text: string): number[] {
  const values = splitList(text).map(Number);
  for (const v of values) {
    if (!(v > 0 && v < 1)) {
      throw new RangeError(`--keep: every kept fraction must be in (0, 1), got ${text}`);
    }
  }
  return values;
}

/** The selectors of `--selectors`, checked. */
export function parseSelectors(text: string, task: string): Selector[] {
  const names = splitList(text);
  for (const n of names) {
    if (!(SELECTORS as readonly string[]).includes(n)) {
      throw new RangeError(`--selectors: unknown selector '${n}' (known: ${SELECTORS.join(', ')})`);
    }
  }
  if (task === 'regression' && names.includes('forgetting')) {
    throw new RangeError('--selectors: forgetting events need classification (correct / wrong)');
  }
  return names as Selector[];
}

/** The model when `--model` is not given: the LSTM for a windowed preset, else the MLP. */
export function defaultModel(config: ImportanceConfig): ModelKind {
  const preset = config.preset !== undefined ? PRESETS[config.preset] : undefined;
  return preset?.windowed === true ? 'lstm' : 'mlp';
}

/**
 * The model for `config` (`--model`, or `defaultModel`). The LSTM needs samples that are
 * sequences of time steps: a tabular preset or file is an error that says so.
 */
export function modelSpec(config: ImportanceConfig): ModelSpec {
  const preset = config.preset !== undefined ? PRESETS[config.preset] : undefined;
  const kind = config.model ?? defaultModel(config);
  if (kind === 'lstm') {
    if (preset?.windowed !== true) {
      const what = preset !== undefined ? `--preset ${preset.name}` : 'a table without a preset';
      throw new RangeError(
        `--model lstm: needs windowed series (--preset ucc-5g), whose samples are sequences ` +
          `of time steps; ${what} gives one row per sample with no time axis. Use --model mlp ` +
          '(the default there)',
      );
    }
    return { kind: 'lstm', hidden: config.lstmHidden, steps: config.window };
  }
  return { kind: 'mlp', hidden: Array.from({ length: config.layers }, () => config.width) };
}

/** The summary of `spec` built for `data`. */
function summariseModel(data: StudyData, options: TrainOptions): ModelSummary {
  const spec = options.model;
  const parameters = buildModel(data, options, 0).numParameters();
  const F = data.encoding.numFeatures;
  const K = data.encoding.task === 'classification' ? data.encoding.classes.length : 1;
  if (spec.kind === 'lstm') {
    const I = F / spec.steps;
    return {
      kind: 'lstm',
      description:
        `LSTM of ${spec.hidden} units over ${spec.steps} steps of ${I} features, ` +
        `dense head ${spec.hidden} → ${K} on the last hidden state`,
      parameters,
    };
  }
  return {
    kind: 'mlp',
    description: `MLP ${[F, ...spec.hidden, K].join(' → ')} (ReLU)`,
    parameters,
  };
}

/** Reads the data for `config`: the preset's layout, overridden by explicit flags. */
export function studyData(config: ImportanceConfig): { data: StudyData; dataset: string } {
  const preset = config.preset !== undefined ? PRESETS[config.preset] : undefined;
  if (preset?.unsupported !== undefined) throw new DataError(config.data, preset.unsupported);
  if (preset?.windowed === true) {
    if (
      config.group !== undefined ||
      config.ignore !== undefined ||
      config.task === 'classification'
    ) {
      throw new RangeError(
        `--preset ${preset.name}: windowed forecasting takes no --group, --ignore or ` +
          'classification',
      );
    }
    const windowed = loadWindowedData(config.data, {
      window: config.window,
      testFraction: config.testFraction,
      maxWindows: config.maxWindows,
      seed: config.seed,
      ...(config.target !== undefined ? { target: config.target } : {}),
    });
    return { data: windowed.data, dataset: preset.name };
  }
  const target = config.target ?? preset?.target;
  if (target === undefined) {
    throw new DataError(config.data, 'no target column: give --target <column> or a --preset');
  }
  const ignore = config.ignore !== undefined ? splitList(config.ignore) : (preset?.ignore ?? []);
  const group = config.group !== undefined ? splitList(config.group) : (preset?.group ?? []);
  const task = config.task ?? preset?.task;
  const data = loadStudyData({
    file: config.data,
    target,
    ignore,
    group,
    testFraction: config.testFraction,
    seed: config.seed,
    ...(task !== undefined ? { task } : {}),
  });
  return { data, dataset: preset?.name ?? target };
}

function scoreAll(data: StudyData, model: Parameters<typeof sampleScores>[0], m: ScoreMatrices) {
  const N = data.train.length;
  const g = new Float64Array(N);
  const el2n = new Float64Array(N);
  const loss = new Float64Array(N);
  const correct = new Uint8Array(N);
  const chunk = 2048;
  for (let start = 0; start < N; start += chunk) {
    const rows = data.train.subarray(start, start + chunk);
    const s = sampleScores(model, rowsBatch(data, rows));
    g.set(s.gradNorm, start);
    el2n.set(s.el2n, start);
    loss.set(s.loss, start);
    correct.set(s.correct, start);
  }
  m.gradNorm.push(g);
  m.el2n.push(el2n);
  m.loss.push(loss);
  m.correct.push(correct);
}

/** Aggregated scores of each selector (forgetting: never-learned samples count E + 1). */
function aggregatedScores(
  m: ScoreMatrices,
  selectors: readonly Selector[],
  config: ImportanceConfig,
): Record<string, Float64Array> {
  const options = {
    emaBeta: config.emaBeta,
    ...(config.earlyEpochs !== undefined ? { earlyEpochs: config.earlyEpochs } : {}),
  };
  const out: Record<string, Float64Array> = {};
  for (const s of selectors) {
    if (s === 'forgetting') {
      const E = m.correct.length;
      const f = forgettingEvents(m.correct, m.correct[0]?.length ?? 0);
      out[s] = f.map((v) => (Number.isFinite(v) ? v : E + 1));
    } else {
      const matrix = s === 'gradnorm' ? m.gradNorm : s === 'el2n' ? m.el2n : m.loss;
      out[s] = aggregate(matrix, config.aggregation, options);
    }
  }
  return out;
}

function ruleName(rule: Selection): string {
  if (rule.kind === 'fraction') return `keep ${rule.keep}`;
  if (rule.kind === 'mass') return `mass ${rule.alpha}`;
  return 'knee';
}

function countArchetypes(list: readonly Archetype[]): Record<Archetype, number> {
  const out: Record<Archetype, number> = { consistent: 0, transient: 0, never: 0, mixed: 0 };
  for (const a of list) out[a] += 1;
  return out;
}

/** Runs the study for `config` (see the file comment). */
export function runImportanceStudy(
  config: ImportanceConfig,
  onProgress: (event: ProgressEvent) => void = () => {},
): StudyResult {
  const model = modelSpec(config);
  const { data, dataset } = studyData(config);
  const task = data.encoding.task;
  const selectors = parseSelectors(config.selectors, task);
  const keeps = parseKeep(config.keep);
  const options: TrainOptions = {
    model,
    epochs: config.epochs,
    batchSize: config.batchSize,
    lr: config.lr,
  };
  const energy: EnergyOptions = {
    watts: config.watts,
    pue: config.pue,
    gridIntensity: config.gridIntensity,
  };
  const N = data.train.length;

  // 2. The scoring run.
  const matrices: ScoreMatrices = { gradNorm: [], el2n: [], loss: [], correct: [] };
  const scoring = measure(() => {
    const r = trainOn(data, data.train, options, config.seed, (model, epoch) => {
      scoreAll(data, model, matrices);
      onProgress({ kind: 'scoring-epoch', epoch: epoch + 1, epochs: config.epochs });
    });
    return { value: null, sampleGrads: r.sampleGrads + N * config.epochs };
  }, energy);

  // 3. Aggregate and select.
  const aggregated = aggregatedScores(matrices, selectors, config);
  const rules: Selection[] = keeps.map((keep) => ({ kind: 'fraction', keep }));
  if (config.mass !== null) rules.push({ kind: 'mass', alpha: config.mass });
  if (config.knee) rules.push({ kind: 'knee' });
  // Stratified selection: within each class, or within each group (run, cell) for regression.
  const byRow =
    task === 'classification' ? (data.table.targets as Int32Array) : (data.groupIds ?? null);
  const strata =
    config.stratify && byRow !== null
      ? Int32Array.from(data.train, (r) => byRow[r] as number)
      : undefined;
  if (config.stratify && byRow === null) {
    throw new RangeError(
      '--stratify: regression needs --group (or a preset with groups) to stratify by',
    );
  }
  const keepLists: Record<string, Int32Array> = {};
  for (const s of selectors) {
    // Pruning the highest scores keeps the lowest: rank by max − score (still non-negative, as
    // cumulative mass needs).
    const raw = aggregated[s] as Float64Array;
    const top = raw.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
    const ranked = config.prune === 'lowest' ? raw : raw.map((v) => top - v);
    for (const rule of rules) {
      keepLists[`${s}|${ruleName(rule)}`] = select(ranked, rule, strata);
    }
  }
  const sizes = [...new Set(Object.values(keepLists).map((k) => k.length))].sort((a, b) => b - a);

  // 4. Retrain for every seed.
  const seeds = Array.from({ length: config.seeds }, (_, k) => config.seed + k);
  const conditions = new Map<string, Condition>();
  const condition = (selector: string, rule: string, kept: number): Condition => {
    const key = `${selector}|${rule}`;
    let c = conditions.get(key);
    if (c === undefined) {
      c = { selector, rule, kept, keptFraction: kept / N, metrics: [], costs: [] };
      conditions.set(key, c);
    }
    return c;
  };
  const total = seeds.length * (1 + Object.keys(keepLists).length + sizes.length);
  let done = 0;
  const retrain = (selector: string, rule: string, rows: Int32Array, seed: number) => {
    const { value, cost } = measure(() => {
      const r = trainOn(data, rows, options, seed);
      return { value: testMetrics(r.model, data), sampleGrads: r.sampleGrads };
    }, energy);
    const c = condition(selector, rule, rows.length);
    c.metrics.push(value);
    c.costs.push(cost);
    done += 1;
    onProgress({ kind: 'retrain', done, total, selector, rule, seed });
  };
  for (const seed of seeds) {
    retrain('full', 'all', data.train, seed);
    for (const [key, local] of Object.entries(keepLists)) {
      const [selector, rule] = key.split('|') as [string, string];
      retrain(
        selector,
        rule,
        Int32Array.from(local, (k) => data.train[k] as number),
        seed,
      );
    }
    for (const size of sizes) {
      const shuffled = new Generator(seed)
        .fork(`random-${size}`)
        .shuffle(Int32Array.from(data.train));
      retrain('random', `size ${size}`, shuffled.slice(0, size).sort(), seed);
    }
  }

  // 5. Summaries.
  const primary = task === 'classification' ? 'auc' : 'rmse';
  const higherIsBetter = task === 'classification';
  const full = conditions.get('full|all') as Condition;
  const summaries: ConditionSummary[] = [];
  for (const c of conditions.values()) {
    if (c.selector === 'full') continue;
    const random = conditions.get(`random|size ${c.kept}`);
    summaries.push(summarise(c, full, c.selector === 'random' ? null : (random ?? null)));
  }
  function summarise(c: Condition, f: Condition, random: Condition | null): ConditionSummary {
    const pick = (cond: Condition, m: string) => cond.metrics.map((r) => r[m] as number);
    const names = Object.keys(c.metrics[0] ?? {});
    const metrics = Object.fromEntries(names.map((m) => [m, meanInterval(pick(c, m))]));
    const vsFull = pairedDifference(pick(c, primary), pick(f, primary));
    const vsRandom = random ? pairedDifference(pick(c, primary), pick(random, primary)) : null;
    const fullStats = meanInterval(pick(f, primary));
    const sign = higherIsBetter ? 1 : -1;
    const relativeChangePct = (100 * sign * vsFull.mean) / Math.abs(fullStats.mean);
    const maintained =
      relativeChangePct >= -1 ||
      (Number.isFinite(fullStats.std) && Math.abs(vsFull.mean) <= fullStats.std);
    const beatsRandom = vsRandom !== null && excludesZero(vsRandom) && sign * vsRandom.mean > 0;
    return {
      selector: c.selector,
      rule: c.rule,
      keptFraction: c.keptFraction,
      kept: c.kept,
      metrics,
      vsFull,
      vsRandom,
      relativeChangePct,
      maintained,
      beatsRandom,
      savings: savingsOf(c.costs, f.costs, scoring.cost),
    };
  }
  const stab = stability(matrices.gradNorm);
  return {
    dataset,
    model: summariseModel(data, options),
    file: data.file,
    task,
    primary,
    higherIsBetter,
    rows: {
      train: N,
      test: data.test.length,
      features: data.table.numFeatures,
      groups: data.groups,
    },
    seeds,
    scoring: { cost: scoring.cost, matrices, aggregated },
    stability: stab,
    archetypes: countArchetypes(archetypes(matrices.gradNorm)),
    conditions: [...conditions.values()],
    summaries,
    keepLists,
    energySource: scoring.cost.energySource,
    backend: kernels().name,
    data,
  };
}

function meanOf(costs: readonly Cost[], field: keyof Omit<Cost, 'energySource'>): number {
  return costs.reduce((a, c) => a + c[field], 0) / costs.length;
}

function savingsOf(subset: readonly Cost[], full: readonly Cost[], score: Cost): Savings {
  const s = (f: keyof Omit<Cost, 'energySource'>) =>
    percentSaved(meanOf(subset, f), meanOf(full, f));
  const fullTime = meanOf(full, 'seconds');
  const subTime = meanOf(subset, 'seconds');
  const fullGrads = meanOf(full, 'sampleGrads');
  const subGrads = meanOf(subset, 'sampleGrads');
  return {
    timePct: s('seconds'),
    energyPct: s('joules'),
    co2Pct: s('grams'),
    sampleGradsPct: s('sampleGrads'),
    flopsPct: s('flops'),
    endToEndTimePct: percentSaved(subTime + score.seconds, fullTime),
    endToEndSampleGradsPct: percentSaved(subGrads + score.sampleGrads, fullGrads),
    breakEvenTime: breakEven(score.seconds, fullTime, subTime),
    breakEvenSampleGrads: breakEven(score.sampleGrads, fullGrads, subGrads),
  };
}
