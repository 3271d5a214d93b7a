/**
 * Turns measurements into comparisons: a training row from the two sides' results, sextant on all
 * cores against the peer's best thread count, model FLOP utilisation, and the floors of issue 3.
 * Pure functions of the measured figures; bench/run.ts does the measuring.
 */
import type { ModelName } from './config.js';
import type { BestRow, FloorRow, GemmRow, TrainRow } from './report.js';
import type { StepResult } from './stats.js';

/** The GEMM rate that MFU divides by, and a label naming it. */
export interface MfuBasis {
  gflops: number;
  label: string;
}

/** The faster of two runs of one measurement; a failed run loses to any result. */
export function fastest(
  a: StepResult | string | null,
  b: StepResult | string,
): StepResult | string {
  if (a === null || typeof a === 'string') return b;
  if (typeof b === 'string') return a;
  return b.tokensPerSec > a.tokensPerSec ? b : a;
}

/** The GEMM rate MFU divides by: the faster of OpenBLAS and sextant's kernel at 1024. */
export function mfuBasis(gemm: GemmRow[], threads: number): MfuBasis | null {
  const row = gemm.find((r) => r.size === 1024 && r.threads === threads);
  if (!row) return null;
  const peerWins = row.peer !== null && row.peer >= row.sextantKernel;
  const gflops = peerWins && row.peer !== null ? row.peer : row.sextantKernel;
  const whose = peerWins ? 'OpenBLAS' : 'sextant kernel';
  return { gflops, label: `${whose} 1024 GEMM ${gflops.toFixed(1)} GFLOP/s` };
}

export function trainRow(
  model: ModelName,
  threads: number,
  s: StepResult | string,
  p: StepResult | string | null,
  basis: MfuBasis | null,
  otherCores: number,
): TrainRow {
  const errors: string[] = [];
  const ok = (r: StepResult | string | null, who: string): StepResult | null => {
    if (typeof r === 'string') errors.push(`${who}: ${r}`);
    return r === null || typeof r === 'string' ? null : r;
  };
  const ours = ok(s, 'sextant');
  const theirs = ok(p, 'peer');
  for (const r of [ours, theirs]) {
    if (r && !(r.lossLast < r.lossFirst)) {
      errors.push(`${r.side}: loss did not fall (${r.lossFirst} -> ${r.lossLast})`);
    }
  }
  if (ours && theirs && ours.parameters !== theirs.parameters) {
    errors.push(`parameter counts differ: sextant ${ours.parameters}, peer ${theirs.parameters}`);
  }
  const flops = ours?.flopsPerStep ? ours.flopsPerStep.forward + ours.flopsPerStep.backward : null;
  const mfu = (r: StepResult | null) =>
    r && flops !== null && basis ? flops / (r.medianStepMs / 1e3) / (basis.gflops * 1e9) : null;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && b > 0 ? a / b : null;
  return {
    kind: 'train',
    name: model,
    threads,
    unit: 'tokens/s',
    sextant: ours?.tokensPerSec ?? null,
    peer: theirs?.tokensPerSec ?? null,
    ratio: ratio(ours?.tokensPerSec, theirs?.tokensPerSec),
    sextantStepMs: ours?.medianStepMs ?? null,
    peerStepMs: theirs?.medianStepMs ?? null,
    sextantMemoryMiB: ours?.memoryMiB ?? null,
    peerMemoryMiB: theirs?.memoryMiB ?? null,
    memoryRatio: ratio(ours?.memoryMiB, theirs?.memoryMiB),
    memoryMethod: ours?.memoryMethod ?? theirs?.memoryMethod ?? null,
    flopsPerStep: flops,
    sextantMfu: mfu(ours),
    peerMfu: mfu(theirs),
    mfuBasis: basis?.label ?? null,
    parameters: ours?.parameters ?? null,
    peerParameters: theirs?.parameters ?? null,
    sextantLoss: ours ? [ours.lossFirst, ours.lossLast] : null,
    peerLoss: theirs ? [theirs.lossFirst, theirs.lossLast] : null,
    otherCores,
    errors,
  };
}

export function bestRow(model: ModelName, train: TrainRow[], maxThreads: number): BestRow {
  const mine = train.filter((r) => r.name === model);
  const at = (t: number) => mine.find((r) => r.threads === t);
  const peerBest = mine
    .filter((r) => r.peer !== null)
    .reduce<TrainRow | null>(
      (best, r) => (best === null || (r.peer ?? 0) > (best.peer ?? 0) ? r : best),
      null,
    );
  const sextant = at(maxThreads)?.sextant ?? null;
  const scaling = (get: (r: TrainRow) => number | null) => {
    const hi = at(maxThreads);
    const lo = at(1);
    const a = hi ? get(hi) : null;
    const b = lo ? get(lo) : null;
    return maxThreads > 1 && a !== null && b !== null ? a / b : null;
  };
  return {
    kind: 'best',
    name: model,
    threads: maxThreads,
    unit: 'tokens/s',
    sextant,
    peer: peerBest?.peer ?? null,
    peerThreads: peerBest?.threads ?? null,
    ratio: sextant !== null && peerBest?.peer ? sextant / peerBest.peer : null,
    sextantScaling: scaling((r) => r.sextant),
    peerScaling: scaling((r) => r.peer),
  };
}

/** A ratio that must reach `floor`, as a floor row. */
function atLeast(
  name: string,
  threads: number,
  figures: { sextant: number | null; peer: number | null; ratio: number | null },
  floor: number,
): FloorRow {
  const { sextant, peer, ratio } = figures;
  const pass = ratio === null ? null : ratio >= floor;
  return { kind: 'floor', name, threads, sextant, peer, ratio, floor, pass };
}

/** The floors of issue 3, each checked against this run's figures. */
export function floorRows(gemm: GemmRow[], train: TrainRow[], best: BestRow[]): FloorRow[] {
  const rows: FloorRow[] = [];
  for (const g of gemm.filter((r) => r.size >= 256)) {
    rows.push(atLeast(`${g.name} op vs OpenBLAS`, g.threads, g, 0.9));
  }
  for (const b of best) {
    const needed = b.name === 'gpt-tiny' ? 2 : 1.25;
    rows.push(atLeast(`${b.name} all cores vs torch best`, b.threads, b, needed));
  }
  for (const t of train.filter((r) => r.threads === 1)) {
    rows.push(atLeast(`${t.name} at 1 thread vs torch`, 1, t, 1));
  }
  for (const t of train) {
    rows.push({
      kind: 'floor',
      name: `${t.name} memory vs torch`,
      threads: t.threads,
      sextant: t.sextantMemoryMiB,
      peer: t.peerMemoryMiB,
      ratio: t.memoryRatio,
      ceiling: 1.3,
      pass: t.memoryRatio === null ? null : t.memoryRatio <= 1.3,
    });
  }
  const small = best.find((b) => b.name === 'gpt-small');
  if (small && small.threads === 2) {
    const figures = { sextant: null, peer: null, ratio: small.sextantScaling };
    rows.push(atLeast('gpt-small 2 threads vs 1 thread', 2, figures, 1.6));
  }
  return rows;
}
