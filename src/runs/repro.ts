/**
 * What reproducing a run needs besides its config and seed: the code (sextant's git commit and
 * version), the runtime (Node), the kernels (backend, BLAS, threads: results are bitwise equal
 * only on the same ones) and the machine. Gathered once per run at `RunStore.create`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernels } from '../backends/index.js';

export interface ReproInfo {
  /** HEAD of sextant's own git checkout; null when sextant is not run from a checkout. */
  gitCommit: string | null;
  /** Whether tracked files differ from `gitCommit` (then the commit alone does not reproduce). */
  gitDirty: boolean | null;
  sextantVersion: string;
  /** e.g. 'v20.11.1'. */
  nodeVersion: string;
  /** 'native' or 'js'; null when no backend could be chosen. */
  backend: string | null;
  /** What multiplies matrices: 'openblas', 'builtin' or 'reference'. */
  blas: string | null;
  threads: number | null;
  hostname: string;
  cpuModel: string;
  /** Kernel name, release and architecture, e.g. 'Linux 6.8.0 x64'. */
  os: string;
}

let codeInfo: Pick<ReproInfo, 'gitCommit' | 'gitDirty' | 'sextantVersion'> | null = null;

/** The facts for a run starting now in this process (git is asked once per process). */
export function collectReproInfo(): ReproInfo {
  if (codeInfo === null) {
    const root = packageRoot();
    codeInfo = { ...gitState(root), sextantVersion: root === null ? 'unknown' : version(root) };
  }
  let backend: string | null = null;
  let blas: string | null = null;
  let threads: number | null = null;
  try {
    const k = kernels();
    backend = k.name;
    blas = k.blas;
    threads = k.threads();
  } catch {
    // A bad SEXTANT_BACKEND: the trainer will fail on it with its own message; record nothing.
  }
  return {
    ...codeInfo,
    nodeVersion: process.version,
    backend,
    blas,
    threads,
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/** The folder of sextant's package.json above this file (in src/ or dist/src/), or null. */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'sextant') return dir;
    } catch {
      // No package.json here: keep climbing.
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function version(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function gitState(root: string | null): Pick<ReproInfo, 'gitCommit' | 'gitDirty'> {
  const none = { gitCommit: null, gitDirty: null };
  if (root === null) return none;
  const git = (args: string[]) =>
    spawnSync('git', args, { cwd: root, encoding: 'utf8', timeout: 5000 });
  const top = git(['rev-parse', '--show-toplevel']);
  // Installed under node_modules of someone's repository, git would answer for *their* project.
  if (top.status !== 0 || resolve(top.stdout.trim()) !== resolve(root)) return none;
  const head = git(['rev-parse', 'HEAD']);
  if (head.status !== 0) return none; // a repository without commits yet
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    gitCommit: head.stdout.trim(),
    gitDirty: status.status === 0 ? status.stdout.trim() !== '' : null,
  };
}
