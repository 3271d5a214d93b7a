/**
 * `sextant train` and `sextant eval` end to end, run as a user would (the built bin/sextant.js):
 * a tiny GPT trained for a few steps on Tiny Shakespeare leaves a run folder with its report, and
 * evaluates; bad configs and bad data exit with status 2 and a message naming the fault; Ctrl-C
 * checkpoints and stops, and `--resume` then ends exactly where an uninterrupted run ends.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SHARED_DATA } from './helpers.js';

// This file runs as dist/test/train-cli.test.js; the repository root is two levels up.
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'sextant.js');
const shakespeare = path.join(SHARED_DATA, 'tinyshakespeare', 'input.txt');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-train-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A tiny GPT on Tiny Shakespeare: seconds, not minutes. */
const TINY = [
  'train',
  'lm',
  '--data',
  shakespeare,
  '--layers',
  '1',
  '--width',
  '32',
  '--heads',
  '2',
  '--context',
  '32',
  '--batch-size',
  '4',
  '--eval-batches',
  '2',
  '--warmup',
  '2',
];

function sextant(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: tmp,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The JSON lines of a `--json` run, and its end event. */
function events(stdout: string): {
  lines: Record<string, unknown>[];
  end: Record<string, unknown>;
} {
  const lines = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const end = lines.find((l) => l.event === 'end');
  assert.ok(end !== undefined, `no end event in:\n${stdout}`);
  return { lines, end };
}

/** Runs `sextant args` (with --json) and sends `signal` once it has logged step 3. */
async function signalAtStep3(
  args: string[],
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: tmp });
  let stdout = '';
  let signalled = false;
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!signalled && /"step":3,/.test(stdout)) {
        signalled = true;
        child.kill(signal);
      }
    });
    child.on('exit', (c) => resolve(c));
  });
  return { code, stdout };
}

describe('sextant train lm and sextant eval', () => {
  test('a 5-step run writes its folder and report, and eval reads the model back', () => {
    const runs = path.join(tmp, 'runs-e2e');
    const r = sextant([...TINY, '--steps', '5', '--eval-every', '5', '--runs', runs, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { lines, end } = events(r.stdout);
    assert.equal(lines[0]?.event, 'config');
    assert.equal((lines[0]?.config as { steps: number }).steps, 5);
    assert.equal(end.status, 'done');
    assert.equal(end.step, 5);
    const progress = lines.filter((l) => typeof l.step === 'number' && l.event === undefined);
    assert.equal(progress.length, 5, 'one progress line per step');
    const dir = end.dir as string;
    for (const file of ['config.json', 'metrics.jsonl', 'report.html', 'report.md']) {
      assert.ok(fs.existsSync(path.join(dir, file)), `${file} in the run folder`);
    }
    assert.equal(end.report, path.join(dir, 'report.html'));
    const ckpt = path.join(dir, 'checkpoints', 'step-00000005');
    for (const file of [
      'model.safetensors',
      'optimizer.safetensors',
      'trainer.json',
      'task.json',
      'char-tokenizer.json',
      'config.json',
    ]) {
      assert.ok(fs.existsSync(path.join(ckpt, file)), `${file} in the checkpoint`);
    }
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
      lr: number;
    };
    assert.equal(saved.lr, 0.001);
    const loss = (end.metrics as Record<string, number>)['val/loss'] as number;
    // A 5-step model is still near the uniform guess over ~66 characters, ln 66 = 4.19.
    assert.ok(loss > 2.5 && loss < 4.6, `val/loss ${loss}`);

    const ev = sextant([
      'eval',
      end.run as string,
      '--runs',
      runs,
      '--data',
      shakespeare,
      '--max-batches',
      '4',
      '--json',
    ]);
    assert.equal(ev.status, 0, ev.stderr);
    const result = JSON.parse(ev.stdout) as {
      metrics: { loss: number; perplexity: number };
      items: number;
      step: number;
    };
    assert.equal(result.step, 5);
    assert.equal(result.items, 4 * 32 * 32);
    assert.ok(Math.abs(result.metrics.perplexity - Math.exp(result.metrics.loss)) < 1e-9);
    assert.ok(
      result.metrics.loss > 2.5 && result.metrics.loss < 4.6,
      `eval loss ${result.metrics.loss}`,
    );
    const text = sextant(['eval', ckpt, '--data', shakespeare, '--max-batches', '1']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(
        '^gpt2 \\(lm\\) from .*step-00000005, step 5\\non .*input\\.txt: 1,024 tokens\\n' +
          ' {2}loss +\\d\\.\\d{4}\\n {2}perplexity',
      ),
    );
    assert.match(text.stdout, /note: evaluated the first 1,024 of [\d,]+ tokens/);
    // Characters the model never saw are counted, not silently read as its unknown token.
    const foreign = path.join(tmp, 'foreign.txt');
    fs.writeFileSync(foreign, `${'to be or not to be, '.repeat(200)}§§§ ✓`);
    const unknown = sextant(['eval', ckpt, '--data', foreign, '--json']);
    assert.equal(unknown.status, 0, unknown.stderr);
    const notes = (JSON.parse(unknown.stdout) as { notes: string[] }).notes;
    assert.ok(
      notes.some((n) => /^4 characters of the file are not in the model's vocabulary/.test(n)),
      JSON.stringify(notes),
    );
  });

  test('train image (mlp on Fashion-MNIST half a) and train table (Telco churn), then eval', () => {
    const runs = path.join(tmp, 'runs-kinds');
    const fashion = path.join(SHARED_DATA, 'fashion-mnist');
    const image = sextant([
      'train',
      'image',
      '--data',
      path.join(fashion, 't10k-a-images-idx3-ubyte.gz'),
      '--steps',
      '30',
      '--eval-every',
      '30',
      '--runs',
      runs,
      '--json',
    ]);
    assert.equal(image.status, 0, image.stderr);
    const imageEnd = events(image.stdout).end;
    const imageMetrics = imageEnd.metrics as Record<string, number>;
    // Ten classes: chance is 0.1; 30 steps of 64 images get well past it.
    assert.ok(
      (imageMetrics['val/accuracy'] as number) > 0.4,
      `val/accuracy ${imageMetrics['val/accuracy']}`,
    );
    const imageEval = sextant([
      'eval',
      imageEnd.run as string,
      '--runs',
      runs,
      '--json',
      '--data',
      path.join(fashion, 't10k-b-images-idx3-ubyte.gz'),
    ]);
    assert.equal(imageEval.status, 0, imageEval.stderr);
    const ie = JSON.parse(imageEval.stdout) as { metrics: Record<string, number>; items: number };
    assert.equal(ie.items, 64 * 32);
    assert.ok((ie.metrics.accuracy as number) > 0.4, `eval accuracy ${ie.metrics.accuracy}`);

    const telco = path.join(SHARED_DATA, 'telco-churn', 'Telco-Customer-Churn.csv');
    const table = sextant([
      'train',
      'table',
      '--data',
      telco,
      '--target',
      'Churn',
      '--steps',
      '40',
      '--eval-every',
      '40',
      '--runs',
      runs,
      '--json',
    ]);
    assert.equal(table.status, 0, table.stderr);
    const { lines, end } = events(table.stdout);
    const facts = lines.find((l) => l.event === 'start')?.facts as Record<string, unknown>;
    assert.equal(facts.task, 'classification');
    assert.equal(facts.features, 45);
    assert.match(String(facts.droppedColumns), /customerID \(every value differs/);
    // 73% of customers stay: a model must at least match that guess to be learning.
    const acc = (end.metrics as Record<string, number>)['val/accuracy'] as number;
    assert.ok(acc > 0.72, `val/accuracy ${acc}`);
    const tableEval = sextant([
      'eval',
      end.dir as string,
      '--data',
      telco,
      '--max-batches',
      '1000',
    ]);
    assert.equal(tableEval.status, 0, tableEval.stderr);
    assert.match(
      tableEval.stdout,
      /7,043 examples\n {2}loss +\d\.\d{4}\n {2}accuracy +0\.[7-9]\d{3}/,
    );
    const typo = sextant(['train', 'table', '--data', telco, '--target', 'churn', '--runs', runs]);
    assert.equal(typo.status, 2);
    assert.match(
      typo.stderr,
      /no target column 'churn' \(did you mean 'Churn'\?\); the columns are/,
    );
  });

  test('bad configs and bad data exit with status 2, naming the fault, and create no run', () => {
    const runs = path.join(tmp, 'runs-bad');
    const steps = sextant([...TINY, '--steps', '0', '--runs', runs]);
    assert.equal(steps.status, 2);
    assert.match(
      steps.stderr,
      /invalid config:\n {2}steps: expected an integer >= 1, got 0 \(from --steps\)/,
    );
    const config = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(config, 'lr: 0.01\nwarmpu: 10\n');
    const unknown = sextant(['train', 'lm', '--config', config, '--runs', runs]);
    assert.equal(unknown.status, 2);
    assert.match(
      unknown.stderr,
      new RegExp(`warmpu: unknown field, value 10 \\(from ${config}\\); did you mean warmup\\?`),
    );
    const empty = path.join(tmp, 'empty.txt');
    fs.writeFileSync(empty, '');
    const data = sextant(['train', 'lm', '--data', empty, '--runs', runs]);
    assert.equal(data.status, 2);
    assert.match(data.stderr, new RegExp(`${empty}: the corpus is empty`));
    const missing = path.join(tmp, 'no-such-images-idx3-ubyte.gz');
    const image = sextant(['train', 'image', '--data', missing, '--runs', runs]);
    assert.equal(image.status, 2);
    assert.match(
      image.stderr,
      /no-such-images-idx3-ubyte\.gz: the IDX image file \(--data\) does not/,
    );
    assert.ok(
      !fs.existsSync(runs) || fs.readdirSync(runs).every((f) => f.startsWith('sextant.db')),
    );
  });

  test('SIGTERM (kill, timeout, schedulers) checkpoints and stops as Ctrl-C does', async () => {
    const runs = path.join(tmp, 'runs-sigterm');
    const args = [
      ...TINY,
      '--steps',
      '100000',
      '--checkpoint-every',
      '0',
      '--runs',
      runs,
      '--json',
    ];
    const { code, stdout } = await signalAtStep3(args, 'SIGTERM');
    assert.equal(code, 130, `exit status of a terminated run; output:\n${stdout}`);
    const stopped = events(stdout).end;
    assert.equal(stopped.status, 'interrupted');
    const step = stopped.step as number;
    const ckpts = fs.readdirSync(path.join(stopped.dir as string, 'checkpoints'));
    assert.deepEqual(ckpts, [`step-${String(step).padStart(8, '0')}`]);
  });

  test('Ctrl-C checkpoints and stops; --resume ends bitwise where a whole run ends', async () => {
    const runs = path.join(tmp, 'runs-resume');
    const args = [
      ...TINY,
      '--steps',
      '150',
      '--eval-every',
      '50',
      '--checkpoint-every',
      '0',
      '--dropout',
      '0.1',
      '--runs',
      runs,
      '--json',
    ];
    const whole = sextant(args);
    assert.equal(whole.status, 0, whole.stderr);
    const expected = events(whole.stdout).end.metrics as Record<string, number>;

    // The same run, interrupted once it has done a few steps.
    const { code, stdout } = await signalAtStep3(args, 'SIGINT');
    assert.equal(code, 130, `exit status of an interrupted run; output:\n${stdout}`);
    const stopped = events(stdout).end;
    assert.equal(stopped.status, 'interrupted');
    const stepAtStop = stopped.step as number;
    assert.ok(stepAtStop >= 3 && stepAtStop < 150, `stopped at step ${stepAtStop}`);
    const ckpts = fs.readdirSync(path.join(stopped.dir as string, 'checkpoints'));
    assert.deepEqual(ckpts, [`step-${String(stepAtStop).padStart(8, '0')}`]);

    // Flags cannot change a resumed run's config.
    const changed = sextant([
      'train',
      'lm',
      '--resume',
      stopped.run as string,
      '--lr',
      '0.1',
      '--runs',
      runs,
    ]);
    assert.equal(changed.status, 2);
    assert.match(changed.stderr, /a resumed run keeps its saved config .* remove --lr/);

    const resumed = sextant([
      'train',
      'lm',
      '--resume',
      stopped.run as string,
      '--runs',
      runs,
      '--json',
    ]);
    assert.equal(resumed.status, 0, resumed.stderr);
    const { lines, end } = events(resumed.stdout);
    assert.equal(lines.find((l) => l.event === 'start')?.resumedFrom !== null, true);
    assert.equal(end.status, 'done');
    assert.equal(end.run, stopped.run);
    const got = end.metrics as Record<string, number>;
    for (const name of ['train/loss', 'val/loss', 'train/flops', 'train/tokens']) {
      assert.equal(
        got[name],
        expected[name],
        `${name}: resumed ${got[name]}, uninterrupted ${expected[name]}`,
      );
    }
    // Each step once in the metrics file: lines after the checkpoint were dropped, then relogged.
    const steps = fs
      .readFileSync(path.join(end.dir as string, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(
      steps,
      Array.from({ length: 150 }, (_, i) => i + 1),
    );
  });
});
