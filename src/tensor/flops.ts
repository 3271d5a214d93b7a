/**
 * The FLOP counter: how sextant measures compute.
 *
 * Each op adds the floating-point operations of the computation it performs, from its shapes, the
 * same on both backends however its kernel is fused: a matmul `2 * M * N * K`, attention its two
 * products, an elementwise op one per output element, a reduction one per input element, fused
 * kernels the sum of the steps they fuse (see each op). Operations run while `backward()` walks the
 * tape count as backward, optimiser updates as optimizer, everything else as forward. Copies,
 * reshapes and index lookups count zero.
 */

export interface FlopCount {
  forward: number;
  backward: number;
  /** Optimiser updates, counted apart so a model's training FLOPs can be read without them. */
  optimizer: number;
}

type Phase = keyof FlopCount;

const counter: FlopCount = { forward: 0, backward: 0, optimizer: 0 };
let phase: Phase = 'forward';

export function countFlops(n: number): void {
  counter[phase] += n;
}

/** A copy of the counts so far. */
export function readFlops(): FlopCount {
  return { ...counter };
}

export function resetFlops(): void {
  counter.forward = 0;
  counter.backward = 0;
  counter.optimizer = 0;
}

/** Runs `fn` with its FLOPs counted under `p`. */
export function inPhase<T>(p: Phase, fn: () => T): T {
  const saved = phase;
  phase = p;
  try {
    return fn();
  } finally {
    phase = saved;
  }
}
