/**
 * Resident memory of this process, read from /proc/self/status (Linux), for the "peak memory of a
 * training step" figure.
 *
 * The method (bench/peer.py does the same in Python):
 *  1. `baseline` = VmRSS just before the model is built (libraries loaded, BLAS initialised).
 *  2. After the warm-up steps, the kernel's high-water mark is reset to the current RSS by writing
 *     "5" to /proc/self/clear_refs (Linux >= 4.0), so VmHWM afterwards is the peak *during the
 *     timed steps*, including spikes between any two points we could sample.
 *  3. `peak` = VmHWM after the timed steps; the figure reported is `peak - baseline`.
 * Where clear_refs cannot be written, the peak is instead the largest VmRSS sampled at the phase
 * boundaries of each step (after forward, after backward, after the optimiser), which can miss
 * short spikes; the result says which method was used. With the reset, nothing is sampled inside
 * the timed steps, so measuring memory costs no step time.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export type PeakMethod = 'hwm-reset' | 'sampled';

/** A field of /proc/self/status in KiB, e.g. 'VmRSS' or 'VmHWM'; NaN where unavailable. */
function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Current resident set size in MiB. */
export function rssMiB(): number {
  return statusKiB('VmRSS') / 1024;
}

/** Tracks the peak resident memory over a window of the process's life (see the file comment). */
export class PeakTracker {
  private sampledMax = 0;
  private method: PeakMethod = 'sampled';

  /** Starts the window: resets the kernel's high-water mark when the system allows it. */
  start(): void {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      this.method = 'hwm-reset';
    } catch {
      this.method = 'sampled';
    }
    this.sampledMax = rssMiB();
  }

  /**
   * Records the current RSS; call it at a few points inside each step. A no-op once the
   * high-water mark has been reset: reading /proc costs about a millisecond, which would show in
   * the step time of a small model.
   */
  sample(): void {
    if (this.method === 'hwm-reset') return;
    const now = rssMiB();
    if (now > this.sampledMax) this.sampledMax = now;
  }

  /** The peak RSS in MiB over the window, and how it was measured. */
  finish(): { peakMiB: number; method: PeakMethod } {
    this.sample();
    const hwm = statusKiB('VmHWM') / 1024;
    const peakMiB = this.method === 'hwm-reset' && Number.isFinite(hwm) ? hwm : this.sampledMax;
    return { peakMiB, method: this.method };
  }
}
