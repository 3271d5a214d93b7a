/**
 * `sextant doctor`: what this installation runs on. `doctorReport()` gathers the facts and
 * returns them (it prints nothing); the CLI prints them as text or as one JSON object, which is
 * what to paste into a bug report.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableBackends, kernels } from '../backends/index.js';
import { nativeAddonInfo, nativeLoadError } from '../backends/native/index.js';

export interface DoctorReport {
  /** sextant's version, from its package.json. */
  sextant: string;
  /** Node.js version, e.g. 'v20.11.1'. */
  node: string;
  /** The active backend ('native' or 'js'); null when choosing one failed (see `backendError`). */
  backend: string | null;
  /** What multiplies matrices: 'openblas', 'builtin' or 'reference'; null when no backend. */
  blas: string | null;
  /** Threads the backend's kernels use; null when no backend. */
  threads: number | null;
  /** Why no backend could be chosen (e.g. SEXTANT_BACKEND=native without the addon); else null. */
  backendError: string | null;
  /** Backends that load in this process. */
  availableBackends: string[];
  /** Why the native addon did not load; null when it loaded. */
  nativeLoadError: string | null;
  /** The loaded addon's file and the GEMM micro-kernel it picked (`isa`); null when not loaded. */
  nativeAddon: { path: string; isa: string } | null;
  /** The environment variables sextant reads, as set (absent ones are left out). */
  env: Record<string, string>;
  platform: string;
  arch: string;
  cpuModel: string;
  /** Logical CPU cores. */
  cores: number;
  /** Total memory, GiB, rounded to a tenth. */
  memoryGiB: number;
}

/** sextant's version, read from the package.json above this file (src or dist). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sextant' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No readable package.json here: keep climbing.
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

const ENV_KEYS = ['SEXTANT_BACKEND', 'SEXTANT_THREADS'];

/** Gathers the facts `sextant doctor` shows. Prints nothing; never throws for a missing backend. */
export function doctorReport(): DoctorReport {
  let backend: string | null = null;
  let blas: string | null = null;
  let threads: number | null = null;
  let backendError: string | null = null;
  try {
    const k = kernels();
    backend = k.name;
    blas = k.blas;
    threads = k.threads();
  } catch (e) {
    backendError = e instanceof Error ? e.message : String(e);
  }
  const env: Record<string, string> = {};
  for (const key of ENV_KEYS) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  const cpus = os.cpus();
  const addon = nativeAddonInfo();
  return {
    sextant: packageVersion(),
    node: process.version,
    backend,
    blas,
    threads,
    backendError,
    availableBackends: availableBackends(),
    nativeLoadError: nativeLoadError(),
    nativeAddon: addon === null ? null : { path: addon.path, isa: addon.isa },
    env,
    platform: process.platform,
    arch: process.arch,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

/** The report as aligned `key  value` lines for people. */
export function formatDoctorReport(r: DoctorReport): string {
  const rows: [string, string][] = [
    ['sextant', r.sextant],
    ['node', r.node],
    ['backend', r.backend ?? `none (${r.backendError})`],
    ['blas', r.blas ?? '-'],
    ['threads', r.threads === null ? '-' : String(r.threads)],
    ['available', r.availableBackends.join(', ')],
  ];
  if (r.nativeAddon !== null) {
    rows.push(['native', `${r.nativeAddon.path} (${r.nativeAddon.isa})`]);
  }
  if (r.nativeLoadError !== null) {
    rows.push(['native', `not loaded: ${r.nativeLoadError}`]);
    rows.push([
      '',
      'build it with `npm run build:native` (needs a C++ compiler; OpenBLAS optional)',
    ]);
  }
  for (const [k, v] of Object.entries(r.env)) rows.push([k, v]);
  rows.push(['platform', `${r.platform} ${r.arch}`]);
  rows.push(['cpu', `${r.cpuModel}, ${r.cores} cores`]);
  rows.push(['memory', `${r.memoryGiB} GiB`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}
