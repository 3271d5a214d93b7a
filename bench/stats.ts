/** Small statistics and the result record that both step runners (sextant, peer) print. */

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median: needs at least one value');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
}

/**
 * What one training-step run prints as a single JSON line: `node dist/bench/step.js` for sextant,
 * `/usr/bin/python3 bench/peer.py` for the peer. Field names are shared so bench/run.ts reads
 * both the same way.
 */
export interface StepResult {
  side: 'sextant' | 'peer';
  model: string;
  threads: number;
  warmup: number;
  /** Wall time of each timed step, in milliseconds. */
  stepMs: number[];
  medianStepMs: number;
  /** B * T / median step time. */
  tokensPerSec: number;
  /** VmRSS just before the model was built. */
  baselineMiB: number;
  /** Peak RSS during the timed steps (see bench/memory.ts for the method). */
  peakMiB: number;
  /** peakMiB - baselineMiB: the memory the model's training step costs. */
  memoryMiB: number;
  memoryMethod: 'hwm-reset' | 'sampled';
  parameters: number;
  /** Loss of the first and the last step: training must make it fall. */
  lossFirst: number;
  lossLast: number;
  /** sextant only: FLOPs the ops counted for one step (forward, backward, optimiser). */
  flopsPerStep?: { forward: number; backward: number; optimizer: number };
}
