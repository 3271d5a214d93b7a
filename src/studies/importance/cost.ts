/**
 * What a training costs (spec E.1.5): wall time by the clock, FLOPs as the engine counted them,
 * sample-gradient evaluations, energy and emissions.
 *
 * Energy comes from the CPU's RAPL counters (`/sys/class/powercap/intel-rapl:N/energy_uj`, the
 * package domains, µJ, wrapping at `max_energy_range_uj`) when they are readable; otherwise from a
 * power model: a configurable average power (watts) times the wall time, times the PUE. Emissions
 * are energy times a configurable grid carbon intensity (CodeCarbon's world-average fallback,
 * 475 g CO₂eq/kWh, by default). Every cost says which energy source it used.
 *
 * LIMITATION: no GPU (NVML) or RAM terms, and the power model does not scale with CPU load.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFlops } from '../../tensor/flops.js';

const POWERCAP = '/sys/class/powercap';

/** How energy is obtained. */
export interface EnergyOptions {
  /** Average power of the power model, watts; default 65. */
  watts?: number;
  /** Power usage effectiveness multiplier; default 1.0. */
  pue?: number;
  /** Grid carbon intensity, g CO₂eq per kWh; default 475. */
  gridIntensity?: number;
  /** Ignore RAPL even when readable (tests, comparisons); default false. */
  powerModelOnly?: boolean;
  /** Where the powercap tree lives (tests). */
  powercapRoot?: string;
}

/** The cost of one measured piece of work. */
export interface Cost {
  seconds: number;
  flops: number;
  sampleGrads: number;
  joules: number;
  /** g CO₂eq. */
  grams: number;
  energySource: 'rapl' | 'power-model';
}

interface RaplDomain {
  file: string;
  max: number;
}

/** The readable RAPL package domains, or an empty list. */
export function raplDomains(root = POWERCAP): RaplDomain[] {
  if (!existsSync(root)) return [];
  const out: RaplDomain[] = [];
  for (const name of readdirSync(root)) {
    if (!/^intel-rapl:\d+$/.test(name)) continue;
    const file = join(root, name, 'energy_uj');
    try {
      Number(readFileSync(file, 'utf8'));
      const maxText = readFileSync(join(root, name, 'max_energy_range_uj'), 'utf8');
      out.push({ file, max: Number(maxText) });
    } catch {
      // Unreadable (often root-only): this domain cannot be used.
    }
  }
  return out;
}

function readMicroJoules(domains: readonly RaplDomain[]): number[] {
  return domains.map((d) => Number(readFileSync(d.file, 'utf8')));
}

/** Measures `fn`: time, FLOPs, energy; `sampleGrads` is what the caller counts. */
export function measure<T>(
  fn: () => { value: T; sampleGrads: number },
  options: EnergyOptions = {},
): { value: T; cost: Cost } {
  const domains = options.powerModelOnly ? [] : raplDomains(options.powercapRoot);
  const before = readMicroJoules(domains);
  const f0 = readFlops();
  const t0 = performance.now();
  const { value, sampleGrads } = fn();
  const seconds = (performance.now() - t0) / 1000;
  const f1 = readFlops();
  const flops =
    f1.forward - f0.forward + (f1.backward - f0.backward) + (f1.optimizer - f0.optimizer);
  const pue = options.pue ?? 1;
  let joules: number;
  let energySource: Cost['energySource'];
  if (domains.length > 0) {
    const after = readMicroJoules(domains);
    let uj = 0;
    domains.forEach((d, k) => {
      const delta = (after[k] as number) - (before[k] as number);
      uj += delta >= 0 ? delta : delta + d.max;
    });
    joules = (uj / 1e6) * pue;
    energySource = 'rapl';
  } else {
    joules = (options.watts ?? 65) * seconds * pue;
    energySource = 'power-model';
  }
  const grams = (joules / 3.6e6) * (options.gridIntensity ?? 475);
  return { value, cost: { seconds, flops, sampleGrads, joules, grams, energySource } };
}

/** Percent saved: 100 · (1 − subset / full). */
export function percentSaved(subset: number, full: number): number {
  return full > 0 ? 100 * (1 - subset / full) : Number.NaN;
}

/** Break-even retrains R* = C_score / (C_full − C_subset); Infinity when nothing is saved. */
export function breakEven(score: number, full: number, subset: number): number {
  return full > subset ? score / (full - subset) : Number.POSITIVE_INFINITY;
}
