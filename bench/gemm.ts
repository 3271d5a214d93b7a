/**
 * The GEMM benchmark: float32 square products, sextant against OpenBLAS called from C.
 *
 * sextant is measured three ways in this process: through the public `matmul` op (what a user
 * calls, with its output allocation and bookkeeping) with each call in a `tensorScope`, as a
 * training step makes it, so that the output's memory is reused the way the C peer reuses its
 * output array; the same op outside any scope, each call taking fresh memory; and the kernel
 * table directly (`kernels().matmul` into a preallocated output), so op overhead and kernel
 * speed can be told apart. The peer is bench/gemm_openblas.c, compiled here on first use into
 * `.bench/`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FloatArray, MatmulArgs } from '../src/backends/kernels.js';
import { Generator, kernels, matmul, randn, tensorScope } from '../src/index.js';
import { median } from './stats.js';

/** GFLOP/s figures for one size at one thread count. */
export interface GemmRates {
  size: number;
  threads: number;
  /** Through the `matmul` op, in a tensorScope per call. */
  op: number;
  /** Through the `matmul` op, no scope. */
  opNoScope: number;
  /** Through `kernels().matmul`, output preallocated. */
  kernel: number;
}

/** The OpenBLAS peer's answer for one thread count. */
export interface OpenblasRun {
  /** `openblas_get_config()` and core name, e.g. "OpenBLAS 0.3.21 ... SkylakeX". */
  config: string;
  /** GFLOP/s by size. */
  rates: Map<number, number>;
}

/** Median GFLOP/s of `samples` samples of `call`, each repeated to last `minSampleMs`. */
function rate(call: () => void, flops: number, samples: number, minSampleMs: number): number {
  // Warm-up: the first calls of a process also compile the JavaScript around the kernel.
  const warmUntil = performance.now() + minSampleMs;
  do call();
  while (performance.now() < warmUntil);
  const t0 = performance.now();
  call();
  const once = Math.max(performance.now() - t0, 1e-6);
  // A call slower than a second (the js backend) is measured once: the figure is plain enough.
  if (once > 1000) return flops / (once / 1e3) / 1e9;
  const reps = Math.ceil(minSampleMs / once);
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    const start = performance.now();
    for (let r = 0; r < reps; r++) call();
    rates.push((flops * reps) / ((performance.now() - start) / 1e3) / 1e9);
  }
  return median(rates);
}

/** sextant's GEMM rates for square `size` at `threads` threads (sets the backend's threads). */
export function measureSextantGemm(
  size: number,
  threads: number,
  samples: number,
  minSampleMs: number,
): GemmRates {
  const k = kernels();
  k.setThreads(threads);
  const rng = new Generator(size);
  const a = randn([size, size], rng); // [N, N]
  const b = randn([size, size], rng); // [N, N]
  const flops = 2 * size ** 3;
  const op = rate(() => tensorScope(() => void matmul(a, b)), flops, samples, minSampleMs);
  const opNoScope = rate(() => matmul(a, b), flops, samples, minSampleMs);
  const out = new Float32Array(size * size);
  const offsets = new Int32Array(1);
  const args: MatmulArgs = {
    a: a.data as FloatArray,
    b: b.data as FloatArray,
    out,
    batch: 1,
    M: size,
    N: size,
    K: size,
    transA: false,
    transB: false,
    aOffsets: offsets,
    bOffsets: offsets,
    accumulate: false,
  };
  const kernel = rate(() => k.matmul(args), flops, samples, minSampleMs);
  return { size, threads, op, opNoScope, kernel };
}

/**
 * Compiles bench/gemm_openblas.c into `<cacheDir>/gemm_openblas` when the binary is missing or
 * older than the source. Returns the binary's path, or a note saying why there is none.
 */
export function buildOpenblasPeer(
  root: string,
  cacheDir: string,
): { path?: string; note?: string } {
  const source = join(root, 'bench', 'gemm_openblas.c');
  const binary = join(cacheDir, 'gemm_openblas');
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) {
    return { path: binary };
  }
  mkdirSync(cacheDir, { recursive: true });
  const errors: string[] = [];
  // Debian puts OpenBLAS's cblas.h on the default path; other layouts keep it in openblas/.
  for (const extra of [[], ['-I/usr/include/openblas'], ['-I/opt/OpenBLAS/include']]) {
    try {
      execFileSync('cc', ['-O2', ...extra, '-o', binary, source, '-lopenblas'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      return { path: binary };
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
      errors.push(stderr.split('\n').find((l) => l.includes('error')) ?? stderr.split('\n')[0]);
    }
  }
  return {
    note:
      `OpenBLAS peer not built (cc ... -lopenblas failed: ${errors[0]}); install ` +
      'libopenblas-dev (Debian) for the peer column',
  };
}

/** Runs the compiled peer at `threads` threads over `sizes`. */
export function runOpenblasPeer(
  binary: string,
  threads: number,
  sizes: readonly number[],
  samples: number,
  minSampleMs: number,
): OpenblasRun {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  const args = [String(threads), String(samples), String(minSampleMs), ...sizes.map(String)];
  const result = spawnSync(binary, args, { env, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `bench/gemm: ${binary} exited with ${result.status}: ` +
        (result.stderr.trim() || '(no output)'),
    );
  }
  const lines = result.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const [info, ...rows] = lines as [
    { config: string; corename: string },
    ...{ size: number; median: number }[],
  ];
  return {
    config: `${info.config} (core ${info.corename})`,
    rates: new Map(rows.map((r) => [r.size, r.median])),
  };
}
