/**
 * The benchmark's output: the row types that `--json` prints one per line, and the plain-text
 * table drawn from the same rows. Every row has `name`, `threads`, `sextant`, `peer` and `ratio`
 * (sextant / peer; null when the peer is missing).
 */

/** The machine and both libraries, printed first so a reader can judge the comparison. */
export interface EnvRow {
  kind: 'env';
  name: 'env';
  threads: number[];
  sextant: string;
  peer: string | null;
  ratio: null;
  node: string;
  cpu: string;
  cores: number;
  /** /proc/loadavg at the start and end: other work on the machine skews every figure. */
  loadStart: string;
  loadEnd?: string;
  /** Cores other processes kept busy, on average, over the whole run. */
  otherCores?: number;
  openblas: string | null;
  peerDetails: PeerInfo | null;
  notes: string[];
}

/** What `peer.py --info` reports. */
export interface PeerInfo {
  torch: string;
  /** The thread count `parallelInfo` was read at (the largest of the run). */
  threads: number;
  blasInfo: string;
  blasLibraries: string[];
  libblasAlternative: string | null;
  parallelInfo: string;
  cpuCapability: string;
}

export interface GemmRow {
  kind: 'gemm';
  name: string;
  size: number;
  threads: number;
  unit: 'GFLOP/s';
  /** Through the `matmul` op, each call in a tensorScope (output memory reused, as in training). */
  sextant: number;
  /** Through the `matmul` op outside any scope: every call allocates fresh output memory. */
  sextantNoScope: number;
  /** Through `kernels().matmul`, preallocated output. */
  sextantKernel: number;
  /** OpenBLAS from C. */
  peer: number | null;
  ratio: number | null;
  kernelRatio: number | null;
  /** Cores other processes kept busy, on average, while this thread count was measured. */
  otherCores: number;
}

export interface TrainRow {
  kind: 'train';
  name: string;
  threads: number;
  unit: 'tokens/s';
  sextant: number | null;
  peer: number | null;
  ratio: number | null;
  sextantStepMs: number | null;
  peerStepMs: number | null;
  /** Peak RSS during the timed steps minus RSS before the model was built. */
  sextantMemoryMiB: number | null;
  peerMemoryMiB: number | null;
  /** sextant / peer memory. */
  memoryRatio: number | null;
  memoryMethod: string | null;
  /** sextant's counted forward + backward FLOPs of one step. */
  flopsPerStep: number | null;
  /** Counted FLOP/s over the GEMM rate at this thread count (see `mfuBasis`). */
  sextantMfu: number | null;
  peerMfu: number | null;
  /** The 1024 GEMM rate (GFLOP/s) MFU is divided by, and whose it is. */
  mfuBasis: string | null;
  parameters: number | null;
  peerParameters: number | null;
  /** Losses of the first and last step (training must lower them). */
  sextantLoss: [number, number] | null;
  peerLoss: [number, number] | null;
  /** Cores other processes kept busy, on average, during this row's runs (both sides). */
  otherCores: number;
  errors: string[];
}

/** sextant on all cores against the peer at its own best thread count. */
export interface BestRow {
  kind: 'best';
  name: string;
  /** sextant's thread count. */
  threads: number;
  unit: 'tokens/s';
  sextant: number | null;
  peer: number | null;
  peerThreads: number | null;
  ratio: number | null;
  /** sextant at all cores over sextant at 1 thread; the same for the peer. */
  sextantScaling: number | null;
  peerScaling: number | null;
}

/** One of issue 3's floors, checked. */
export interface FloorRow {
  kind: 'floor';
  name: string;
  threads: number;
  sextant: number | null;
  peer: number | null;
  ratio: number | null;
  /** The ratio must be >= floor (or <= ceiling for memory). */
  floor?: number;
  ceiling?: number;
  pass: boolean | null;
}

export type Row = EnvRow | GemmRow | TrainRow | BestRow | FloorRow;

// ---- Table

const fmt = (x: number | null, digits = 0): string =>
  x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits);
const ratioText = (x: number | null): string => (x === null ? '-' : `${x.toFixed(2)}x`);
const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

/** Left-aligns the first column, right-aligns the others. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function envText(env: EnvRow): string {
  const lines = [
    `machine: ${env.cpu}, ${env.cores} cores, ${env.node}; load average ${env.loadStart}` +
      (env.loadEnd ? ` at start, ${env.loadEnd} at end` : '') +
      (env.otherCores !== undefined
        ? `; other processes used ${env.otherCores.toFixed(2)} cores on average during the run`
        : ''),
    `sextant: ${env.sextant}`,
    `GEMM peer: ${env.openblas ?? 'none'}`,
  ];
  const p = env.peerDetails;
  if (p) {
    lines.push(
      `training peer: torch ${p.torch}, ${p.blasInfo}, CPU capability ${p.cpuCapability}`,
      `  BLAS loaded by torch: ${p.blasLibraries.join(', ') || '?'}`,
      `  libblas.so.3 alternative -> ${p.libblasAlternative ?? '?'}`,
      `  threading as set up for a ${p.threads}-thread run:`,
      ...p.parallelInfo
        .trim()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => `    ${l.trim()}`),
    );
  } else {
    lines.push(`training peer: ${env.peer ?? 'none'}`);
  }
  for (const note of env.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

function gemmText(rows: GemmRow[]): string {
  return table(
    [
      'GEMM f32',
      'threads',
      'sextant op',
      'op, no scope',
      'sextant kernel',
      'OpenBLAS (C)',
      'op ratio',
      'kernel ratio',
      'others',
    ],
    rows.map((r) => [
      r.name,
      String(r.threads),
      fmt(r.sextant, 1),
      fmt(r.sextantNoScope, 1),
      fmt(r.sextantKernel, 1),
      fmt(r.peer, 1),
      ratioText(r.ratio),
      ratioText(r.kernelRatio),
      fmt(r.otherCores, 2),
    ]),
  );
}

function trainText(rows: TrainRow[]): string {
  const main = table(
    [
      'train step',
      'threads',
      'sextant tok/s',
      'torch tok/s',
      'ratio',
      'sextant ms',
      'torch ms',
      'sextant MiB',
      'torch MiB',
      'mem ratio',
      'sextant MFU',
      'torch MFU',
      'others',
    ],
    rows.map((r) => [
      r.name,
      String(r.threads),
      fmt(r.sextant),
      fmt(r.peer),
      ratioText(r.ratio),
      fmt(r.sextantStepMs, 1),
      fmt(r.peerStepMs, 1),
      fmt(r.sextantMemoryMiB, 1),
      fmt(r.peerMemoryMiB, 1),
      ratioText(r.memoryRatio),
      pct(r.sextantMfu),
      pct(r.peerMfu),
      fmt(r.otherCores, 2),
    ]),
  );
  const notes = rows.flatMap((r) => [
    ...(r.mfuBasis
      ? [`${r.name} @${r.threads}: ${fmtFlops(r.flopsPerStep)}; MFU basis ${r.mfuBasis}`]
      : []),
    ...r.errors.map((e) => `${r.name} @${r.threads}: ${e}`),
  ]);
  return [main, ...notes].join('\n');
}

function fmtFlops(flops: number | null): string {
  return flops === null ? 'FLOPs not counted' : `${(flops / 1e9).toFixed(2)} GFLOP/step fwd+bwd`;
}

function bestText(rows: BestRow[]): string {
  return table(
    [
      'all cores vs peer best',
      'threads',
      'sextant tok/s',
      'torch best tok/s',
      'torch threads',
      'ratio',
      'sextant scaling',
      'torch scaling',
    ],
    rows.map((r) => [
      r.name,
      String(r.threads),
      fmt(r.sextant),
      fmt(r.peer),
      r.peerThreads === null ? '-' : String(r.peerThreads),
      ratioText(r.ratio),
      ratioText(r.sextantScaling),
      ratioText(r.peerScaling),
    ]),
  );
}

function floorText(rows: FloorRow[]): string {
  return table(
    ['issue 3 floor', 'threads', 'measured', 'needed', 'pass'],
    rows.map((r) => [
      r.name,
      String(r.threads),
      ratioText(r.ratio),
      r.floor !== undefined ? `>= ${r.floor}x` : `<= ${r.ceiling}x`,
      r.pass === null ? '-' : r.pass ? 'yes' : 'NO',
    ]),
  );
}

/** The whole report as text, sections in the order the rows came. */
export function formatTable(rows: Row[]): string {
  const of = <K extends Row['kind']>(kind: K) =>
    rows.filter((r): r is Extract<Row, { kind: K }> => r.kind === kind);
  const sections: string[] = [];
  const env = of('env')[0];
  if (env) sections.push(envText(env));
  const gemm = of('gemm');
  if (gemm.length > 0) sections.push(gemmText(gemm));
  const train = of('train');
  if (train.length > 0) sections.push(trainText(train));
  const best = of('best');
  if (best.length > 0) sections.push(bestText(best));
  const floors = of('floor');
  if (floors.length > 0) sections.push(floorText(floors));
  return `${sections.join('\n\n')}\n`;
}
