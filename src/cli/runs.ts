/**
 * `sextant runs ...`: find, inspect, compare, export and remove the runs of a store. The
 * functions here return data or text; `registerRunsCommands` wires them to commander and is the
 * only place that prints. Every listing command has `--json`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { flattenConfig, formatNumber } from '../report/document.js';
import { RUN_STATUSES, type RunRecord, type RunStatus } from '../runs/db.js';
import { RunStoreError } from '../runs/errors.js';
import { lastValues } from '../runs/metrics.js';
import { formatDuration } from '../runs/progress.js';
import { defaultRunsRoot, RunStore } from '../runs/store.js';

/** Runs side by side: config fields and final metrics, one column per run. */
export interface RunComparison {
  ids: string[];
  /** Config fields (dotted paths); with `all` false, only those that differ. */
  config: { field: string; values: (string | null)[] }[];
  /** Final metrics (or last logged values of unfinished runs, see `finished`). */
  metrics: { name: string; values: (number | null)[] }[];
  /** Per run: whether its metrics are final (`finish` was called) or the last logged ones. */
  finished: boolean[];
}

/** Compares runs; fields absent from a run's config are null there. */
export function compareRuns(
  runs: readonly { record: RunRecord; lastMetrics: Record<string, number> }[],
  options: { all?: boolean } = {},
): RunComparison {
  const configs = runs.map((r) => new Map(flattenConfig(r.record.config)));
  const fields = [...new Set(configs.flatMap((c) => [...c.keys()]))].sort();
  const config = fields
    .map((field) => ({ field, values: configs.map((c) => c.get(field) ?? null) }))
    .filter((row) => options.all === true || new Set(row.values).size > 1);
  const metricsOf = runs.map((r) => r.record.finalMetrics ?? r.lastMetrics);
  const names = [...new Set(metricsOf.flatMap((m) => Object.keys(m)))].sort();
  return {
    ids: runs.map((r) => r.record.id),
    config,
    metrics: names.map((name) => ({ name, values: metricsOf.map((m) => m[name] ?? null) })),
    finished: runs.map((r) => r.record.finalMetrics !== null),
  };
}

/** The comparison as aligned text columns. */
export function formatComparison(c: RunComparison, records: readonly RunRecord[]): string {
  const rows: string[][] = [['', ...c.ids]];
  rows.push(['name', ...records.map((r) => r.name)]);
  rows.push(['status', ...records.map((r) => r.status)]);
  rows.push(['config:', ...c.ids.map(() => '')]);
  if (c.config.length === 0) rows.push(['  (no differences)', ...c.ids.map(() => '')]);
  for (const f of c.config) rows.push([`  ${f.field}`, ...f.values.map((v) => v ?? '-')]);
  rows.push(['final metrics:', ...c.ids.map(() => '')]);
  for (const m of c.metrics) {
    rows.push([
      `  ${m.name}`,
      ...m.values.map((v, i) =>
        v === null ? '-' : `${formatNumber(v)}${c.finished[i] === true ? '' : '*'}`,
      ),
    ]);
  }
  let text = alignColumns(rows);
  if (c.finished.some((f) => !f)) text += '* last logged value: the run did not finish\n';
  return text;
}

/** `runs ls` as a table: id, status, kind, name, created (local time), steps, duration, loss. */
export function formatRunList(
  runs: readonly RunRecord[],
  lastLogged: ReadonlyMap<string, Record<string, number>> = new Map(),
): string {
  const rows = [['ID', 'STATUS', 'KIND', 'NAME', 'CREATED', 'STEP', 'DURATION', 'LOSS']];
  let unfinished = false;
  for (const r of runs) {
    const end = r.finishedAt ?? r.heartbeatAt;
    const metrics = r.finalMetrics ?? lastLogged.get(r.id);
    const value = metrics?.['val/loss'] ?? metrics?.['train/loss'];
    const mark = r.finalMetrics === null && value !== undefined ? '*' : '';
    if (mark) unfinished = true;
    const loss = value === undefined ? undefined : `${formatNumber(value)}${mark}`;
    rows.push([
      r.id,
      r.status,
      r.kind,
      r.name,
      localMinute(r.createdAt),
      r.lastStep === null ? '-' : String(r.lastStep),
      end === null ? '-' : formatDuration((Date.parse(end) - Date.parse(r.startedAt)) / 1000),
      loss ?? '-',
    ]);
  }
  const text = alignColumns(rows);
  return unfinished ? `${text}* last logged value: the run did not finish\n` : text;
}

/** `runs show` as text: the record, its final (or last) metrics, config and reproducibility. */
export function formatRunDetails(r: RunRecord, lastMetrics: Record<string, number>): string {
  const report = join(r.dir, 'report.html');
  const head: [string, string][] = [
    ['id', r.id],
    ['name', r.name],
    ['kind', r.kind],
    ['status', r.status],
    ['created', r.createdAt],
    ['started', `${r.startedAt}${r.resumes > 0 ? ` (resumed ${r.resumes}x)` : ''}`],
    ['finished', r.finishedAt ?? '-'],
    ['last step', r.lastStep === null ? '-' : String(r.lastStep)],
    [
      'checkpoint',
      r.lastCheckpoint === null ? '-' : `step ${r.lastCheckpoint.step}: ${r.lastCheckpoint.path}`,
    ],
  ];
  if (r.error !== null) head.push([r.status === 'failed' ? 'error' : 'reason', r.error]);
  head.push(['folder', r.dir]);
  head.push(['report', existsSync(report) ? report : '- (`sextant runs report <id>` writes it)']);
  head.push(['config hash', r.configHash]);
  const finals = r.finalMetrics ?? lastMetrics;
  const parts = [keyValues(head)];
  parts.push(r.finalMetrics === null ? '\nlast logged metrics:\n' : '\nfinal metrics:\n');
  parts.push(indent(keyValues(Object.entries(finals).map(([k, v]) => [k, formatNumber(v)]))));
  parts.push('\nconfig:\n', indent(keyValues(flattenConfig(r.config))));
  const p = r.repro;
  parts.push(
    '\nreproducibility:\n',
    indent(
      keyValues([
        ['commit', `${p.gitCommit ?? '-'}${p.gitDirty === true ? ' (uncommitted changes)' : ''}`],
        ['sextant', p.sextantVersion],
        ['node', p.nodeVersion],
        ['backend', `${p.backend ?? '-'} (blas ${p.blas ?? '-'}, ${p.threads ?? '-'} threads)`],
        ['host', `${p.hostname} (${p.cpuModel}; ${p.os})`],
      ]),
    ),
  );
  return parts.join('');
}

/** JSON for people's tools: NaN and infinities as strings, as in metrics.jsonl. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(
    value,
    (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v),
    2,
  )}\n`;
}

interface StoreOption {
  /** `--runs <dir>`, named as in `sextant train` and `sextant eval`. */
  runs?: string;
}

/** Where the commands print; tests pass their own to run the commands in-process. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Sets the exit status (`process.exitCode` in the real CLI). */
  exitCode(code: number): void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  exitCode: (code) => {
    process.exitCode = code;
  },
};

/** Adds the `runs` command group to `program`; output goes to `io` (default: the process's). */
export function registerRunsCommands(program: Command, io: CliIo = processIo): void {
  const write = (text: string) => io.out(text);
  const guard = <A extends Action>(name: string, action: A) => guarded(name, action, io);
  const runs = program
    .command('runs')
    .description('list, show, compare, export and remove runs in the run store')
    .option('--runs <dir>', 'the run store folder (default: $SEXTANT_RUNS or ./runs)')
    .addHelpText(
      'after',
      [
        '',
        'Run ids look like 20250612-141502-k3f9; any unique prefix will do.',
        '',
        'Examples:',
        '  $ sextant runs ls --status done',
        '  $ sextant runs show 20250612-1415',
        '  $ sextant runs compare 20250612-141502-k3f9 20250612-150311-x2y4',
        '  $ sextant runs export 20250612-141502-k3f9 --csv metrics.csv',
      ].join('\n'),
    );

  runs
    .command('ls')
    .description('list runs, newest first')
    .option('--status <status>', `only runs with this status (${RUN_STATUSES.join(', ')})`)
    .option('--kind <kind>', "only runs of this kind (e.g. 'train lm')")
    .option('--limit <n>', 'at most n runs', positiveInt)
    .option('--json', 'print one JSON array of runs')
    .action(
      guard(
        'ls',
        (opts: { status?: string; kind?: string; limit?: number; json?: boolean }, cmd) => {
          const root = rootOf(cmd);
          if (opts.status !== undefined && !RUN_STATUSES.includes(opts.status as RunStatus)) {
            throw new RunStoreError(
              `--status must be one of ${RUN_STATUSES.join(', ')}, got '${opts.status}'`,
            );
          }
          if (!RunStore.exists(root)) {
            write(opts.json === true ? '[]\n' : `no runs yet: no run store at ${root}\n`);
            return;
          }
          withStore(root, (store) => {
            const list = store.list({
              ...(opts.status === undefined ? {} : { status: opts.status as RunStatus }),
              ...(opts.kind === undefined ? {} : { kind: opts.kind }),
              ...(opts.limit === undefined ? {} : { limit: opts.limit }),
            });
            if (opts.json === true) write(toJson(list));
            else if (list.length === 0) write(`no runs in ${root}\n`);
            else {
              // Runs that did not finish show their last logged loss, marked.
              const last = new Map(
                list
                  .filter((r) => r.finalMetrics === null)
                  .map((r) => [r.id, lastValues(store.readMetrics(r.id).records)] as const),
              );
              write(formatRunList(list, last));
            }
          });
        },
      ),
    );

  runs
    .command('show')
    .description('show a run: status, metrics, config, machine')
    .argument('<id>', 'run id or unique prefix')
    .option('--json', 'print one JSON object')
    .action(
      guard('show', (id: string, opts: { json?: boolean }, cmd) => {
        withStore(rootOf(cmd), (store) => {
          const record = store.get(store.resolve(id));
          const { records, warnings } = store.readMetrics(record.id);
          for (const w of warnings) io.err(`warning: ${w}\n`);
          const last = lastValues(records);
          if (opts.json === true) {
            write(toJson({ ...record, lastMetrics: last, metricWarnings: warnings }));
          } else {
            write(formatRunDetails(record, last));
          }
        });
      }),
    );

  runs
    .command('compare')
    .description('config differences and final metrics, side by side')
    .argument('<ids...>', 'two or more run ids or unique prefixes')
    .option('--all', 'show every config field, not only those that differ')
    .option('--json', 'print one JSON object')
    .action(
      guard('compare', (ids: string[], opts: { all?: boolean; json?: boolean }, cmd) => {
        if (ids.length < 2) {
          throw new RunStoreError(`expected two or more run ids, got ${ids.length}`);
        }
        withStore(rootOf(cmd), (store) => {
          const runsToCompare = ids.map((id) => {
            const record = store.get(store.resolve(id));
            return { record, lastMetrics: lastValues(store.readMetrics(record.id).records) };
          });
          const cmp = compareRuns(runsToCompare, { all: opts.all === true });
          if (opts.json === true) write(toJson(cmp));
          else
            write(
              formatComparison(
                cmp,
                runsToCompare.map((r) => r.record),
              ),
            );
        });
      }),
    );

  runs
    .command('export')
    .description('write the metrics of a run as CSV')
    .argument('<id>', 'run id or unique prefix')
    .option('--csv <file>', 'write to this file instead of standard output')
    .action(
      guard('export', (id: string, opts: { csv?: string }, cmd) => {
        withStore(rootOf(cmd), (store) => {
          const full = store.resolve(id);
          for (const w of store.readMetrics(full).warnings) {
            io.err(`warning: ${w}\n`);
          }
          const csv = store.exportCsv(full);
          if (opts.csv === undefined) {
            write(csv);
          } else {
            writeFileSync(opts.csv, csv);
            io.err(`wrote ${opts.csv}\n`);
          }
        });
      }),
    );

  runs
    .command('report')
    .description('write report.html and report.md of a run')
    .argument('<id>', 'run id or unique prefix')
    .option('--json', 'print {"html", "markdown"} paths as one JSON object')
    .action(
      guard('report', async (id: string, opts: { json?: boolean }, cmd) => {
        // Loaded here: Vega is large, and no other command needs it.
        const { writeRunReport } = await import('../report/run-report.js');
        const store = RunStore.open(rootOf(cmd), { create: false });
        try {
          const record = store.get(store.resolve(id));
          const { records, warnings } = store.readMetrics(record.id);
          const paths = await writeRunReport(record, {
            metrics: records,
            metricWarnings: warnings,
          });
          if (opts.json === true) write(toJson({ html: paths.html, markdown: paths.markdown }));
          else write(`${paths.html}\n${paths.markdown}\n`);
        } finally {
          store.close();
        }
      }),
    );

  runs
    .command('rm')
    .description('remove runs: their rows and their folders')
    .argument('<ids...>', 'run ids or unique prefixes')
    .option('--force', 'remove even a run whose process is still running')
    .action(
      guard('rm', (ids: string[], opts: { force?: boolean }, cmd) => {
        withStore(rootOf(cmd), (store) => {
          for (const id of ids) {
            const full = store.resolve(id);
            store.remove(full, { force: opts.force === true });
            write(`removed ${full}\n`);
          }
        });
      }),
    );
}

type Action = (...args: never[]) => void | Promise<void>;

/**
 * Runs an action and turns a store error into `sextant runs <name>: <message>` and exit
 * status 1, instead of a stack trace. The last argument commander passes is the command.
 */
function guarded<A extends Action>(name: string, action: A, io: CliIo): A {
  return (async (...args: never[]) => {
    try {
      await action(...args);
    } catch (e) {
      if (!(e instanceof RunStoreError)) throw e;
      io.err(`sextant runs ${name}: ${e.message}\n`);
      io.exitCode(1);
    }
  }) as unknown as A;
}

function rootOf(cmd: Command): string {
  const { runs } = cmd.optsWithGlobals<StoreOption>();
  return runs === undefined ? defaultRunsRoot() : resolve(runs);
}

function withStore(root: string, fn: (store: RunStore) => void): void {
  const store = RunStore.open(root, { create: false });
  try {
    fn(store);
  } finally {
    store.close();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  // Commander prints this as "option '--limit <n>' argument 'x' is invalid. <message>".
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}

function alignColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, c] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return rows
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

function keyValues(rows: readonly (readonly [string, string])[]): string {
  if (rows.length === 0) return '(none)\n';
  return alignColumns(rows);
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}

function localMinute(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return `${day} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
