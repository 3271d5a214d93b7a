/**
 * The run store (layer 7): runs as folders plus rows in SQLite, metrics as JSON lines, and the
 * progress display the CLI draws from the trainer's events. See store.ts for the layout on disk,
 * metrics.ts for the metric names, liveness.ts for how killed runs are found.
 *
 * A training command wires them like this; the trainer itself only sees callbacks:
 *
 *     const store = RunStore.open(); // $SEXTANT_RUNS or ./runs
 *     const run = store.create({ name: 'gpt-tiny', kind: 'train lm', config });
 *     const progress = new ProgressReporter({ mode: json ? 'json' : 'auto' });
 *     try {
 *       const final = await train(config, {
 *         checkpointDir: run.checkpointDir(),
 *         onStep: (step, metrics) => {
 *           run.logMetrics(step, metrics);
 *           progress.step({ step, totalSteps, metrics });
 *         },
 *         onCheckpoint: (step, path) => run.checkpointSaved(step, path),
 *       });
 *       run.finish(final);
 *     } catch (e) {
 *       run.fail(e);
 *       throw e;
 *     } finally {
 *       progress.done();
 *     }
 *     const { records, warnings } = store.readMetrics(run.id);
 *     await writeRunReport(store.get(run.id), { metrics: records, metricWarnings: warnings });
 */
export { canonicalJson, configHash } from './canonical.js';
export { csvField, csvLine, metricsCsv } from './csv.js';
export { RUN_STATUSES, type RunRecord, type RunStatus } from './db.js';
export { RunNotFoundError, RunStoreError } from './errors.js';
export {
  lastValues,
  type MetricRecord,
  type Metrics,
  type MetricsLog,
  mergeByStep,
  metricNames,
  parseMetricsText,
  readMetricsFile,
} from './metrics.js';
export {
  DEFAULT_FIELDS,
  formatBarLine,
  formatCount,
  formatDuration,
  formatLoss,
  formatLr,
  formatStepLine,
  type ProgressField,
  type ProgressMode,
  type ProgressOptions,
  ProgressReporter,
  type ProgressStream,
  progressJson,
  type StepProgress,
} from './progress.js';
export { collectReproInfo, type ReproInfo } from './repro.js';
export { Run } from './run.js';
export {
  defaultRunsRoot,
  type NewRun,
  newRunId,
  type RunFilter,
  RunStore,
  type RunStoreOptions,
} from './store.js';
