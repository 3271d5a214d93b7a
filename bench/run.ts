/**
 * `npm run bench`: sextant against its peers on this machine (issue 3, "Native speed").
 *
 *   npm run bench                      readable table (progress on stderr)
 *   npm run bench -- --json            one JSON object per line (see bench/report.ts)
 *   npm run bench -- --only gpt-small --threads 1,2 --steps 7
 *
 * Sections: GEMM (sextant's matmul vs OpenBLAS from C), then one training step of each reference
 * model (sextant in `node dist/bench/step.js`, PyTorch in `bench/peer.py`, each configuration in
 * a fresh process), then sextant on all cores against the peer's best thread count, then the
 * floors the issue sets. bench/README.md says how to read it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeAddonInfo, nativeLoadError } from '../src/backends/native/index.js';
import { kernels } from '../src/index.js';
import { bestRow, fastest, floorRows, mfuBasis, trainRow } from './compare.js';
import {
  ADAMW,
  DEFAULT_STEPS,
  GEMM_MIN_SAMPLE_MS,
  GEMM_SIZES,
  MODEL_NAMES,
  MODELS,
  type ModelName,
  WARMUP_STEPS,
} from './config.js';
import {
  buildOpenblasPeer,
  measureSextantGemm,
  type OpenblasRun,
  runOpenblasPeer,
} from './gemm.js';
import { othersBusyNow, watchInterference } from './interference.js';
import { type BenchOptions, HELP, parseOptions } from './options.js';
import {
  type EnvRow,
  formatTable,
  type GemmRow,
  type PeerInfo,
  type Row,
  type TrainRow,
} from './report.js';
import type { StepResult } from './stats.js';

/** The repository root (this file runs from dist/bench/). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE_DIR = join(ROOT, '.bench');
const progress = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};

const loadAverage = (): string =>
  readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// ---- Child processes

/** The environment of a child measured at `threads` threads: every pool sized the same. */
function threadEnv(threads: number): NodeJS.ProcessEnv {
  const n = String(threads);
  return {
    ...process.env,
    SEXTANT_THREADS: n,
    OMP_NUM_THREADS: n,
    MKL_NUM_THREADS: n,
    OPENBLAS_NUM_THREADS: n,
  };
}

/** Runs a child that prints one JSON line last; returns it, or the reason it failed. */
function runJsonChild<T>(command: string, args: string[], env: NodeJS.ProcessEnv): T | string {
  const result = spawnSync(command, args, { env, encoding: 'utf8', timeout: 600_000 });
  if (result.error) return `${command} failed to start: ${result.error.message}`;
  const last = result.stdout.trim().split('\n').pop() ?? '';
  if (result.status !== 0 || last === '') {
    const tail = result.stderr.trim().split('\n').at(-1);
    return `${command} exited with ${result.status ?? result.signal}: ${tail || '(no output)'}`;
  }
  try {
    return JSON.parse(last) as T;
  } catch {
    return `${command} printed no JSON: '${last.slice(0, 200)}'`;
  }
}

function sextantStep(model: ModelName, threads: number, steps: number): StepResult | string {
  const args = [
    join(ROOT, 'dist', 'bench', 'step.js'),
    '--model',
    model,
    '--threads',
    String(threads),
  ];
  args.push('--steps', String(steps), '--warmup', String(WARMUP_STEPS));
  return runJsonChild<StepResult>(process.execPath, args, threadEnv(threads));
}

function peerStep(
  python: string,
  model: ModelName,
  threads: number,
  steps: number,
): StepResult | string {
  const args = [join(ROOT, 'bench', 'peer.py'), '--model', model, '--threads', String(threads)];
  args.push('--config', JSON.stringify(MODELS[model]), '--adamw', JSON.stringify(ADAMW));
  args.push('--steps', String(steps), '--warmup', String(WARMUP_STEPS));
  return runJsonChild<StepResult>(python, args, threadEnv(threads));
}

/** The peer's build and its threading as configured for a run at `threads` threads. */
function peerInfo(python: string, threads: number): PeerInfo | string {
  const args = [join(ROOT, 'bench', 'peer.py'), '--info', '--threads', String(threads)];
  return runJsonChild<PeerInfo>(python, args, threadEnv(threads));
}

// ---- Sections

function environment(options: BenchOptions, peer: PeerInfo | string | null): EnvRow {
  const k = kernels();
  const addon = nativeAddonInfo();
  const notes: string[] = [];
  if (typeof peer === 'string') notes.push(`PyTorch peer unavailable: ${peer}`);
  if (k.name !== 'native') {
    notes.push(`sextant is on the js backend: ${nativeLoadError() ?? 'SEXTANT_BACKEND=js'}`);
  }
  const cores = availableParallelism();
  const busy = othersBusyNow();
  if (busy > 0.2) {
    notes.push(
      `other processes kept ${busy.toFixed(2)} of ${cores} cores busy just before the run: ` +
        'every figure is skewed; rerun on an idle machine',
    );
  }
  return {
    kind: 'env',
    name: 'env',
    threads: options.threads,
    sextant:
      `backend ${k.name}, BLAS ${k.blas}` +
      (addon ? `, ISA ${addon.isa}` : '') +
      `, ${k.threads()} threads by default`,
    peer: peer && typeof peer !== 'string' ? `torch ${peer.torch}` : null,
    ratio: null,
    node: `node ${process.version}`,
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    cores,
    loadStart: loadAverage(),
    openblas: null,
    peerDetails: peer && typeof peer !== 'string' ? peer : null,
    notes,
  };
}

/** GEMM rows for `sizes` at each thread count; also fills `env.openblas` and its notes. */
function gemmSection(options: BenchOptions, env: EnvRow, sizes: readonly number[]): GemmRow[] {
  const built = buildOpenblasPeer(ROOT, CACHE_DIR);
  if (built.note) env.notes.push(built.note);
  const samples = Math.max(options.steps ?? 5, 5);
  const rows: GemmRow[] = [];
  for (const threads of options.threads) {
    progress(`GEMM ${sizes.join(', ')} at ${threads} thread(s)`);
    const others = watchInterference();
    let peer: OpenblasRun | null = null;
    if (built.path) {
      try {
        peer = runOpenblasPeer(built.path, threads, sizes, samples, GEMM_MIN_SAMPLE_MS);
        env.openblas = `${peer.config}, cblas_sgemm from C (bench/gemm_openblas.c)`;
      } catch (e) {
        env.notes.push((e as Error).message);
      }
    }
    const measured = sizes.map((size) => ({
      s: measureSextantGemm(size, threads, samples, GEMM_MIN_SAMPLE_MS),
      p: peer?.rates.get(size) ?? null,
    }));
    const otherCores = others();
    for (const { s, p } of measured) {
      const size = s.size;
      rows.push({
        kind: 'gemm',
        name: `gemm-${size}`,
        size,
        threads,
        unit: 'GFLOP/s',
        sextant: s.op,
        sextantNoScope: s.opNoScope,
        sextantKernel: s.kernel,
        peer: p,
        ratio: p ? s.op / p : null,
        kernelRatio: p ? s.kernel / p : null,
        otherCores,
      });
    }
  }
  return rows;
}

/** Training-step rows: each model at each thread count, sextant then the peer. */
function trainSection(
  options: BenchOptions,
  models: ModelName[],
  peerReady: boolean,
  gemm: GemmRow[],
): TrainRow[] {
  const train: TrainRow[] = [];
  for (const model of models) {
    const steps = options.steps ?? DEFAULT_STEPS[model];
    for (const threads of options.threads) {
      const others = watchInterference();
      let s: StepResult | string | null = null;
      let p: StepResult | string | null = null;
      for (let r = 0; r < options.repeat; r++) {
        const run = options.repeat > 1 ? ` (run ${r + 1} of ${options.repeat})` : '';
        progress(`${model} at ${threads} thread(s): sextant${run}`);
        s = fastest(s, sextantStep(model, threads, steps));
        if (peerReady) {
          progress(`${model} at ${threads} thread(s): torch${run}`);
          p = fastest(p, peerStep(options.python, model, threads, steps));
        }
      }
      if (s === null) throw new Error('bench: --repeat must be at least 1');
      train.push(trainRow(model, threads, s, p, mfuBasis(gemm, threads), others()));
    }
  }
  return train;
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (options.from !== undefined) {
    const rows = readFileSync(options.from, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Row);
    process.stdout.write(formatTable(rows));
    return;
  }
  const info = options.peer ? peerInfo(options.python, Math.max(...options.threads)) : null;
  const env = environment(options, info);
  const peerReady = info !== null && typeof info !== 'string';
  const rows: Row[] = [env];
  const others = watchInterference();

  // GEMM: all sizes when asked for; otherwise only 1024, the basis of MFU.
  const models = MODEL_NAMES.filter((m) => options.sections.has(m));
  const gemmSizes = options.sections.has('gemm') ? GEMM_SIZES : models.length > 0 ? [1024] : [];
  const gemm = gemmSizes.length > 0 ? gemmSection(options, env, gemmSizes) : [];
  if (options.sections.has('gemm')) rows.push(...gemm);

  const train = trainSection(options, models, peerReady, gemm);
  rows.push(...train);
  const maxThreads = Math.max(...options.threads);
  const best = models.map((m) => bestRow(m, train, maxThreads));
  rows.push(...best, ...floorRows(options.sections.has('gemm') ? gemm : [], train, best));
  env.loadEnd = loadAverage();
  env.otherCores = others();
  const noisy = [...gemm, ...train].filter((r) => r.otherCores > 0.1);
  if (noisy.length > 0) {
    env.notes.push(
      `other processes used more than 0.1 core during ${noisy.length} measurement(s) ` +
        '(column "others"): those figures are skewed, and ratios with them',
    );
  }

  if (options.json) {
    for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  } else {
    process.stdout.write(formatTable(rows));
  }
}

try {
  main();
} catch (e) {
  // Bad flags get their message and a pointer to the help, not a stack trace.
  const usage =
    e instanceof RangeError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (!usage) throw e;
  process.stderr.write(`${(e as Error).message}\n(see npm run bench -- --help)\n`);
  process.exitCode = 2;
}
