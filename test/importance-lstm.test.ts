/**
 * The LSTM model of the importance study: exact per-sample gradient norms (the batched backward
 * through time plus the dense head's trick) against one backward per sample through the fused op
 * (float64, 1e-10 relative) and against central finite differences of each sample's loss; the
 * unrolled scoring forward against the fused op; the flattened window input; and `--model lstm`
 * on tabular data, a clear error.
 *
 * Dimension legend: B samples, T steps, I features per step, H hidden size, K outputs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importanceCommand } from '../src/cli/importance.js';
import { Generator, noGrad, randint, randn, reshape, type Tensor } from '../src/index.js';
import { LSTMForecaster } from '../src/models/index.js';
import {
  batchedGradNorms,
  bruteForceGradNorms,
  perSampleLoss,
} from '../src/studies/importance/per-sample.js';
import { unrolledLstm } from '../src/studies/importance/per-sample-lstm.js';
import { assertClose, describeEachBackend } from './helpers.js';

function forecaster(I: number, H: number, K: number, seed: number): LSTMForecaster {
  return new LSTMForecaster(
    { inputSize: I, dHidden: H, outputs: K, dtype: 'float64' },
    { rng: new Generator(seed) },
  );
}

describeEachBackend('LSTM per-sample gradient norms', () => {
  test('regression: batched equals one backward per sample (float64)', () => {
    const rng = new Generator(11);
    const model = forecaster(3, 5, 1, 1);
    const x = randn([7, 4, 3], rng, { dtype: 'float64' }); // [B, T, I]
    const y = randn([7], rng, { dtype: 'float64' }); // [B]
    const batched = batchedGradNorms(model, { x, y });
    const reference = bruteForceGradNorms(model, { x: reshape(x, [7, 12]), y });
    assertClose(batched, reference, { atol: 1e-14, rtol: 1e-10 }, 'gradient norms');
    // Samples differ (a per-batch value would pass a weaker check), and no .grad is left behind.
    assert.ok(new Set(Array.from(batched, (v) => v.toFixed(8))).size === 7);
    assert.ok(model.parameters().every((p) => p.grad === null));
  });

  test('classification, one step and many steps: batched equals per sample', () => {
    const rng = new Generator(12);
    for (const T of [1, 9]) {
      const model = forecaster(2, 4, 3, T);
      const x = randn([5, T, 2], rng, { dtype: 'float64', std: 2 }); // [B, T, I]
      const y = randint([5], 0, 3, rng); // [B]
      assertClose(
        batchedGradNorms(model, { x, y }),
        bruteForceGradNorms(model, { x, y }),
        { atol: 1e-14, rtol: 1e-10 },
        `T = ${T}`,
      );
    }
  });

  test('the unrolled scoring forward equals the fused op', () => {
    const rng = new Generator(13);
    const model = forecaster(3, 6, 1, 2);
    const x = randn([4, 5, 3], rng, { dtype: 'float64' }); // [B, T, I]
    const fused = noGrad(() => model.lstm.call(x, null, null).h); // [B, H]
    const unrolled = noGrad(() => unrolledLstm(model.lstm, x).h); // [B, H]
    assertClose(unrolled.data, fused.data, { atol: 1e-13, rtol: 1e-12 }, 'last hidden state');
  });
});

test('LSTM per-sample norms equal central finite differences of each sample loss', () => {
  const rng = new Generator(14);
  const model = forecaster(2, 3, 1, 3); // 4·3·(2 + 3 + 2) + 3 + 1 = 88 parameters
  const x = randn([3, 4, 2], rng, { dtype: 'float64' }); // [B, T, I]
  const y = randn([3], rng, { dtype: 'float64' }); // [B]
  const batched = batchedGradNorms(model, { x, y });
  const eps = 1e-6;
  const lossOf = (b: number) =>
    noGrad(() => perSampleLoss(model, { x, y }).data[b] as number) as number;
  for (let b = 0; b < 3; b++) {
    let norm2 = 0;
    for (const p of model.parameters()) {
      const data = (p as Tensor).data as Float64Array;
      for (let i = 0; i < data.length; i++) {
        const saved = data[i] as number;
        data[i] = saved + eps;
        const up = lossOf(b);
        data[i] = saved - eps;
        const down = lossOf(b);
        data[i] = saved;
        norm2 += ((up - down) / (2 * eps)) ** 2;
      }
    }
    assertClose([batched[b] as number], [Math.sqrt(norm2)], { atol: 1e-9, rtol: 1e-6 }, `${b}`);
  }
});

test('LSTMForecaster takes [B, T, I] or its flattened [B, T·I]; other shapes are named', () => {
  const rng = new Generator(15);
  const model = forecaster(3, 4, 2, 4);
  const x = randn([2, 5, 3], rng, { dtype: 'float64' }); // [B, T, I]
  const a = noGrad(() => model.call(x)); // [B, K]
  const b = noGrad(() => model.call(reshape(x, [2, 15]))); // [B, K]
  assert.deepEqual(a.shape, [2, 2]);
  assert.deepEqual([...b.data], [...a.data]);
  assert.throws(
    () => model.call(randn([2, 14], rng, { dtype: 'float64' })),
    /LSTMForecaster: input must be \[B, T, 3\] or \[B, T·3\] .*got .*\[2, 14\]/,
  );
});

test('--model lstm on a tabular data set is a clear error (exit 2)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'importance-lstm-'));
  const file = join(dir, 'table.csv');
  writeFileSync(file, `a,y\n${Array.from({ length: 40 }, (_, i) => `${i},${i % 2}`).join('\n')}\n`);
  let stderr = '';
  const io = {
    stdout: { write: () => true },
    stderr: {
      write: (s: string) => {
        stderr += s;
        return true;
      },
    },
  };
  for (const [args, what] of [
    [{ data: file, target: 'y' }, 'a table without a preset'],
    [{ data: file, preset: 'telco' }, '--preset telco'],
  ] as const) {
    stderr = '';
    const code = await importanceCommand(
      { ...args, model: 'lstm', runs: join(dir, 'runs') },
      io as never,
    );
    assert.equal(code, 2);
    assert.ok(
      stderr.includes(
        `--model lstm: needs windowed series (--preset ucc-5g), whose samples are sequences of ` +
          `time steps; ${what} gives one row per sample with no time axis. Use --model mlp`,
      ),
      stderr,
    );
  }
});
