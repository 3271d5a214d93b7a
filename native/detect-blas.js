#!/usr/bin/env node
// Build-time OpenBLAS detection for binding.gyp (plain Node, no dependencies).
//
//   node native/detect-blas.js [defines|include_dirs|ldflags|libraries|name|json]
//
// Prints a whitespace-separated list that gyp's `<!@(...)` expands into a list; an empty
// answer means "nothing to add", so the addon falls back to its built-in GEMM.
// Set SEXTANT_NO_BLAS=1 to force the built-in GEMM even when OpenBLAS is installed
// (how the fallback path gets built and tested on a machine that has OpenBLAS).
// An ES module because package.json says "type": "module".

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const HEADER_DIRS = [
  '/usr/include/x86_64-linux-gnu/openblas-pthread',
  '/usr/include/x86_64-linux-gnu/openblas-openmp',
  '/usr/include/x86_64-linux-gnu/openblas-serial',
  '/usr/include/aarch64-linux-gnu/openblas-pthread',
  '/usr/include/openblas',
  '/usr/local/include/openblas',
  '/opt/OpenBLAS/include',
  '/usr/include/x86_64-linux-gnu',
  '/usr/include/aarch64-linux-gnu',
  '/usr/local/include',
  '/usr/include',
];

const LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu/openblas-pthread',
  '/usr/lib/x86_64-linux-gnu/openblas-openmp',
  '/usr/lib/x86_64-linux-gnu/openblas-serial',
  '/usr/lib/aarch64-linux-gnu/openblas-pthread',
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/local/lib',
  '/opt/OpenBLAS/lib',
  '/usr/lib',
];

// Directories the dynamic loader searches anyway: no rpath needed for these.
const LOADER_DIRS = new Set(['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64']);

function exists(file) {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function hasLib(dir) {
  return exists(path.join(dir, 'libopenblas.so')) || exists(path.join(dir, 'libopenblas.a'));
}

function fromPkgConfig() {
  try {
    const out = execFileSync('pkg-config', ['--cflags', '--libs', 'openblas'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    const flags = out.trim().split(/\s+/).filter(Boolean);
    const dirs = (flag) =>
      flags.filter((f) => f.startsWith(flag)).map((f) => path.resolve(f.slice(2)));
    const incs = dirs('-I');
    const libDirs = dirs('-L');
    const incDir = [...incs, ...HEADER_DIRS].find((d) => exists(path.join(d, 'cblas.h')));
    const libDir = [...libDirs, ...LIB_DIRS].find(hasLib);
    if (incDir && libDir) return { incDir, libDir, via: 'pkg-config' };
  } catch {
    // pkg-config missing or no openblas.pc: fall through to the directory scan.
  }
  return null;
}

function fromScan() {
  const incDir = HEADER_DIRS.find((d) => exists(path.join(d, 'cblas.h')));
  const libDir = LIB_DIRS.find(hasLib);
  if (incDir && libDir) return { incDir, libDir, via: 'scan' };
  return null;
}

function detect() {
  const off = process.env.SEXTANT_NO_BLAS;
  if (off && off !== '0') return null;
  if (process.platform === 'win32') return null;
  return fromPkgConfig() || fromScan();
}

function answer(what, found) {
  if (what === 'json') {
    return JSON.stringify({ blas: found ? 'openblas' : 'builtin', ...(found || {}) });
  }
  if (what === 'name') return found ? 'openblas' : 'builtin';
  if (!found) return '';
  switch (what) {
    case 'defines':
      return 'SEXTANT_HAVE_OPENBLAS';
    case 'include_dirs':
      return found.incDir;
    case 'ldflags': {
      const flags = [`-L${found.libDir}`];
      if (!LOADER_DIRS.has(found.libDir)) flags.push(`-Wl,-rpath,${found.libDir}`);
      return flags.join(' ');
    }
    case 'libraries':
      return '-lopenblas';
    default:
      throw new Error(`detect-blas.js: unknown query '${what}'`);
  }
}

process.stdout.write(`${answer(process.argv[2] || 'json', detect())}\n`);
