/**
 * One sextant training-step measurement in a fresh process, so that its memory figure holds only
 * its own model. bench/run.ts spawns it once per (model, thread count):
 *
 *   node dist/bench/step.js --model gpt-small --threads 1 [--steps 5] [--warmup 2]
 *
 * and reads the one JSON line (a `StepResult`) that it prints. Profile a step with
 * `node --cpu-prof dist/bench/step.js --model gpt-small --threads 1`.
 */
import { parseArgs } from 'node:util';
import {
  AdamW,
  type FlopCount,
  Generator,
  kernels,
  matmul,
  randint,
  randn,
  readFlops,
  resetFlops,
  type Tensor,
  tensorScope,
} from '../src/index.js';
import {
  ADAMW,
  DEFAULT_STEPS,
  MODEL_NAMES,
  MODELS,
  type ModelName,
  tokensPerStep,
  WARMUP_STEPS,
} from './config.js';
import { PeakTracker, rssMiB } from './memory.js';
import { buildModel, parameterCount } from './models.js';
import { median, type StepResult } from './stats.js';

interface StepOptions {
  model: ModelName;
  threads: number;
  steps: number;
  warmup: number;
}

/** A non-negative integer flag, or `fallback` when absent. */
function count(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`bench/step: --${flag} must be a non-negative integer, got '${value}'`);
  }
  return n;
}

function parseOptions(argv: string[]): StepOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      threads: { type: 'string' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
    },
  });
  const model = values.model as ModelName;
  if (!MODEL_NAMES.includes(model)) {
    throw new RangeError(
      `bench/step: --model must be one of ${MODEL_NAMES.join(', ')}, got '${values.model}'`,
    );
  }
  const threads = count('threads', values.threads, 1);
  const steps = count('steps', values.steps, DEFAULT_STEPS[model]);
  if (threads < 1 || steps < 1) {
    throw new RangeError('bench/step: --threads and --steps must be at least 1');
  }
  return { model, threads, steps, warmup: count('warmup', values.warmup, WARMUP_STEPS) };
}

/** One GEMM before the baseline: BLAS's lazy buffers and thread pool are not the model's. */
function warmBlas(rng: Generator): void {
  const a = randn([256, 256], rng); // [256, 256]
  matmul(a, a); // [256, 256]
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const config = MODELS[options.model];
  kernels().setThreads(options.threads);
  const rng = new Generator(1234);
  warmBlas(rng);
  const idx = randint([config.batch, config.context], 0, config.vocab, rng); // [B, T]
  const targets = randint([config.batch, config.context], 0, config.vocab, rng); // [B, T]

  const baselineMiB = rssMiB();
  const model = buildModel(config, rng);
  const optimizer = new AdamW(model.parameters, { ...ADAMW });
  const tracker = new PeakTracker();

  // One full step: clear gradients, forward with the fused loss, backward, AdamW, inside a
  // tensorScope so that the next step reuses this one's memory (as src/train's Trainer does).
  // The FLOPs counter is read per step (a reset and a copy: no measurable cost).
  const step = (): { loss: number; ms: number; flops: FlopCount } => {
    resetFlops();
    const start = performance.now();
    const value = tensorScope(() => {
      optimizer.zeroGrad();
      const loss: Tensor = model.loss(idx, targets); // []
      tracker.sample();
      loss.backward();
      tracker.sample();
      optimizer.step();
      tracker.sample();
      return loss.item();
    });
    return { loss: value, ms: performance.now() - start, flops: readFlops() };
  };

  const warm = Array.from({ length: options.warmup }, step);
  tracker.start();
  const timed = Array.from({ length: options.steps }, step);
  const peak = tracker.finish();
  const stepMs = timed.map((t) => t.ms);
  const medianStepMs = median(stepMs);
  const first = warm[0] ?? timed[0];
  const last = timed[timed.length - 1];
  const result: StepResult = {
    side: 'sextant',
    model: options.model,
    threads: options.threads,
    warmup: options.warmup,
    stepMs,
    medianStepMs,
    tokensPerSec: tokensPerStep(config) / (medianStepMs / 1e3),
    baselineMiB,
    peakMiB: peak.peakMiB,
    memoryMiB: peak.peakMiB - baselineMiB,
    memoryMethod: peak.method,
    parameters: parameterCount(model),
    lossFirst: first.loss,
    lossLast: last.loss,
    flopsPerStep: last.flops,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

try {
  main();
} catch (e) {
  // The stack, then the message last: bench/run.ts shows the last lines of a failed child.
  const error = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`${error.stack}\n${error.message}\n`);
  process.exitCode = 1;
}
