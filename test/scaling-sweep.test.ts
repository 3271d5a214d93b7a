/**
 * The scaling study end to end on a tiny budget: Tiny Shakespeare, two families, some seconds.
 * The LR sweep's plan comes first, then one plan for the main sweep and the ablations; runs are
 * ordinary run-store runs trained by child processes, a second sweep trains nothing (finished
 * runs are found by config hash), and the report and fits.json come out with the ablation and
 * LR charts. A run killed mid-way continues from its checkpoint to the same numbers. Also
 * `sextant scaling decompose --json` and a family with too few frontier points.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { decomposeCommand } from '../src/cli/scaling.js';
import { RunStore } from '../src/runs/store.js';
import { analyseSweep, familySummary } from '../src/studies/scaling/analysis.js';
import {
  learningRate,
  PRESETS,
  runSpec,
  type ScalingRunSpec,
  ScalingSchema,
} from '../src/studies/scaling/config.js';
import { lawLearningRate } from '../src/studies/scaling/lr-sweep.js';
import { runScalingStudy, type StudyEvent } from '../src/studies/scaling/study.js';
import { trainScalingRun } from '../src/studies/scaling/train-run.js';
import { SHARED_DATA } from './helpers.js';

const SHAKESPEARE = join(SHARED_DATA, 'tinyshakespeare', 'input.txt');

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'sextant-scaling-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function streams() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => {
    out += d;
  });
  stderr.on('data', (d) => {
    err += d;
  });
  return { io: { stdout, stderr }, out: () => out, err: () => err };
}

describe('scaling sweep, end to end', () => {
  test('LR sweep, then main and ablations in one plan; skips finished runs; report', async () => {
    const runs = join(tmp, 'runs');
    const out = join(tmp, 'study');
    const config = ScalingSchema.parse({
      data: SHAKESPEARE,
      preset: 'tiny',
      families: 'lstm,modern',
      resamples: 8,
      workers: 2,
      runs,
      out,
    });
    const events: StudyEvent[] = [];
    const first = await runScalingStudy(config, (e) => events.push(e));
    const plans = events.filter((e) => e.event === 'plan');
    assert.equal(events[0]?.event, 'plan', 'the plan comes before any training');
    // The LR sweep's rounds, then one plan for the rest.
    assert.equal(plans[plans.length - 1]?.phase, 'main');
    assert.ok(plans.slice(0, -1).every((p) => p.phase === 'lr-sweep'));
    assert.ok(plans.length >= 2 && plans.length <= 4, `${plans.length} plans`);
    // LR sweep: 2 families x 2 widths x 3 factors, then probes past the grid's edge where the
    // best LR sat on it, each one grid step (x2) beyond the LRs probed before at its width.
    const lrPlans = plans.filter((p) => p.phase === 'lr-sweep');
    assert.equal(lrPlans[0]?.plan.runs.length, 12);
    const probed: ScalingRunSpec[] = [...(lrPlans[0]?.plan.runs.map((r) => r.spec) ?? [])];
    for (const p of lrPlans.slice(1)) {
      for (const r of p.plan.runs) {
        const same = probed.filter((x) => x.family === r.spec.family && x.width === r.spec.width);
        const hi = Math.max(...same.map((x) => x.lr));
        const lo = Math.min(...same.map((x) => x.lr));
        const beyond = Math.abs(r.spec.lr / hi - 2) < 1e-9 || Math.abs(lo / r.spec.lr - 2) < 1e-9;
        assert.ok(beyond, `${r.name}: not one step past [${lo}, ${hi}]`);
      }
      probed.push(...p.plan.runs.map((r) => r.spec));
    }
    assert.equal(first.lrPlan?.runs.length, probed.length);
    assert.equal(first.lrSweep?.probes.length, probed.length);
    assert.ok(first.lrPlan?.runs.every((r) => r.group === 'lr-sweep'));
    // Main: 5 runs; ablations: 2 seeds x (baseline + 7 swaps + bundle); the baseline of seed 1
    // is the main sweep's modern w16 s1 (one run, both groups).
    assert.equal(first.plan.runs.length, 5 + 18 - 1);
    assert.equal(first.plan.toTrain, 22);
    const shared = first.plan.runs.filter((r) => r.group === 'main+ablation');
    assert.deepEqual(
      shared.map((r) => r.name),
      ['scaling modern w16 s1'],
    );
    assert.ok(first.plan.estimatedSeconds > 0 && first.plan.estimatedFlops > 0);
    assert.deepEqual(first.failed, []);

    // The main sweep trained at the LRs of the fitted law, or, for a family whose sweep did not
    // bracket the best LR at two widths, at the width rule, with the reason stated.
    const sweep = first.lrSweep;
    assert.ok(sweep);
    for (const family of ['lstm', 'modern'] as const) {
      const law = sweep.laws[family];
      if (law === undefined) {
        assert.ok(
          sweep.errors.some((e) => e.startsWith(`LR sweep, ${family}: `)),
          `${family}: no law and no reason: ${sweep.errors.join('; ')}`,
        );
      }
      for (const r of first.plan.runs.filter((x) => x.spec.family === family)) {
        if (!r.group.split('+').includes('main')) continue;
        const expected = law
          ? lawLearningRate(law, r.spec.width)
          : learningRate(family, r.spec.width);
        assert.ok(Math.abs(r.spec.lr / expected - 1) < 1e-12, `${r.name}: ${r.spec.lr}`);
      }
    }
    assert.match(first.lrSource, /^fitted/);

    const a = first.analysis;
    assert.ok(a !== null);
    assert.deepEqual(
      a.families.map((f) => f.family),
      ['lstm', 'modern'],
    );
    for (const f of a.families) {
      assert.ok(f.frontier.length >= 3, `${f.family}: ${f.frontier.length} frontier points`);
      for (let i = 1; i < f.frontier.length; i++) {
        assert.ok((f.frontier[i]?.loss as number) < (f.frontier[i - 1]?.loss as number));
      }
    }
    // Ablations: every arm has a finite multiplier or a message; none is NaN.
    const abl = first.ablations;
    assert.ok(abl !== null);
    assert.equal(abl.width, 16);
    assert.deepEqual(abl.seeds, [1, 2]);
    for (const m of [...abl.arms, abl.joint]) {
      assert.ok(
        (m.multiplier !== null && Number.isFinite(m.multiplier.mean) && m.multiplier.mean > 0) ||
          (m.multiplier === null && /no multiplier/.test(String(m.error))),
        `${m.arm}: ${JSON.stringify(m)}`,
      );
    }
    const plots = [
      'frontiers',
      'ablations',
      'product-vs-joint',
      'reference-dependence',
      'lr-sweep',
      'lr-law',
    ];
    for (const file of [
      'report.html',
      'report.md',
      'fits.json',
      ...plots.map((p) => `plots/${p}.svg`),
    ]) {
      assert.ok(existsSync(join(out, file)), file);
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const heading of ['Ablations', 'Learning rates', 'Reference dependence']) {
      assert.ok(md.includes(heading), `report.md has '${heading}'`);
    }
    // The ablation paragraph and each of the three ablation figures state the method and L*.
    const stated = md.match(
      /by-loss: C_older\(L\\\*\) \/ C_modern\(L\\\*\) at L\\\* = \d\.\d{4} nats/g,
    );
    assert.equal(stated?.length, 4);
    const fits = JSON.parse(readFileSync(join(out, 'fits.json'), 'utf8'));
    assert.equal(fits.families.length, 2);
    assert.equal(fits.ablations.arms.length, 8);
    assert.equal(fits.lrSweep.probes.length, probed.length);
    const store = RunStore.open(runs);
    try {
      const listed = store.list().filter((r) => r.kind === 'scaling');
      assert.equal(listed.length, probed.length + 22);
      assert.ok(listed.every((r) => r.status === 'done'));
    } finally {
      store.close();
    }

    // The same sweep again: everything is found done, nothing is trained.
    const second = await runScalingStudy({ ...config, resamples: 0 });
    assert.equal(second.lrPlan?.toTrain, 0);
    assert.equal(second.plan.toTrain, 0);
    assert.ok(second.plan.runs.every((r) => r.doneRun !== null));
  });

  test('transformer widths must be multiples of 16 from 16 up; LSTM widths are free', () => {
    const inputs = {
      preset: PRESETS.tiny,
      data: SHAKESPEARE,
      vocab: 65,
      tokensPerParam: 1,
      lr: 1e-2,
      seed: 7,
    };
    for (const width of [1, 8, 17, 33]) {
      assert.throws(() => runSpec('modern', width, inputs), /must be multiples of 16 .* got/);
    }
    assert.equal(runSpec('modern', 32, inputs).width, 32);
    assert.equal(runSpec('lstm', 8, inputs).width, 8);
  });

  test('a killed run continues from its checkpoint and ends as if never stopped', async () => {
    const spec = {
      ...runSpec('lstm', 16, {
        preset: PRESETS.tiny,
        data: SHAKESPEARE,
        vocab: 65,
        tokensPerParam: 1,
        lr: 1e-2,
        seed: 7,
      }),
      steps: 400,
    };
    spec.evalSteps = [50, 150, 250, 350, 400];
    // Uninterrupted, in this process.
    const straight = join(tmp, 'straight');
    const id0 = await trainScalingRun(spec, straight, 100);
    // In a child process, killed once its first checkpoint is on disk.
    const killed = join(tmp, 'killed');
    const job = join(tmp, 'job.json');
    writeFileSync(job, JSON.stringify({ spec, checkpointEvery: 100 }));
    const worker = join(import.meta.dirname, '../src/studies/scaling/worker-main.js');
    const child = spawn(process.execPath, [worker, killed, job], {
      env: { ...process.env, SEXTANT_THREADS: '1' },
      stdio: 'ignore',
    });
    const started = Date.now();
    const checkpointed = () => {
      const s = RunStore.open(killed);
      try {
        return s.list().some((r) => r.lastCheckpoint !== null);
      } finally {
        s.close();
      }
    };
    while (!(existsSync(join(killed, 'sextant.db')) && checkpointed())) {
      assert.ok(Date.now() - started < 60_000, 'no checkpoint within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const before = RunStore.open(killed);
    const [record] = before.list();
    before.close();
    assert.equal(record?.status, 'interrupted');
    assert.ok((record?.lastCheckpoint?.step ?? 0) >= 100);
    const id1 = await trainScalingRun(spec, killed, 100);
    assert.equal(id1, record?.id, 'the interrupted run is taken over, not started anew');
    const a = RunStore.open(straight);
    const b = RunStore.open(killed);
    try {
      const curve = (s: RunStore, id: string) =>
        s
          .readMetrics(id)
          .records.filter((r) => r['val/loss'] !== undefined)
          .map((r) => [r.step, r['val/loss'], r['train/flops']]);
      assert.equal(b.get(id1).status, 'done');
      assert.deepEqual(curve(b, id1), curve(a, id0), 'same evaluations, bit for bit');
      assert.equal(curve(a, id0).length, 5);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('scaling sweep with a BPE tokenizer', () => {
  test('a tokenizer.json sets the vocabulary, the run configs and the report', async () => {
    const tokenizer = join(
      import.meta.dirname,
      '../../fixtures/io/tokenizers/bytelevel/tokenizer.json',
    );
    const out = join(tmp, 'bpe-study');
    const config = ScalingSchema.parse({
      data: SHAKESPEARE,
      tokenizer,
      preset: 'tiny',
      families: 'lstm',
      widths: '8,16,32',
      lrSweep: false,
      ablations: false,
      resamples: 0,
      workers: 2,
      runs: join(tmp, 'bpe-runs'),
      out,
    });
    const r = await runScalingStudy(config);
    assert.deepEqual(r.failed, []);
    assert.equal(r.plan.runs.length, 3);
    for (const run of r.plan.runs) {
      assert.equal(run.spec.tokenizer, tokenizer);
      // 557 BPE tokens: the tied embedding dominates the 6ND estimate of the smallest run.
      const n = 4 * 8 * (2 * 8 + 1) + 557 * 8 + 557;
      if (run.spec.width === 8) {
        const tokens = run.spec.steps * run.spec.batchSize * run.spec.context;
        assert.equal(run.estimatedFlops, 6 * n * tokens);
      }
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /tokenized by `[^`]*bytelevel\/tokenizer\.json` \(vocabulary 557\)/);
    assert.match(r.lrSource, /width rule/);
  });
});

describe('scaling analysis edge cases', () => {
  test('a family with too few frontier points gets a message naming it, not NaN', () => {
    const a = analyseSweep(
      [
        {
          run: 'r1',
          family: 'lstm',
          points: [
            { compute: 1e6, loss: 4 },
            { compute: 1e7, loss: 3 },
          ],
        },
      ],
      { method: 'linear', resamples: 0, seed: 1 },
    );
    const [s] = familySummary(a);
    assert.equal(s?.A, null);
    assert.equal(s?.alpha, null);
    assert.match(String(s?.error), /family 'lstm': 2 frontier point\(s\).*need at least 4/);
  });
});

describe('sextant scaling decompose', () => {
  test('--json prints the headline fields from the paper’s constants', () => {
    const s = streams();
    assert.equal(decomposeCommand({ json: true }, s.io), 0);
    const d = JSON.parse(s.out());
    assert.ok(Math.abs(d.total - 6926) < 1);
    assert.ok(Math.abs(d.kaplanTransformer - 726) < 0.5);
    assert.ok(Math.abs(d.chinchilla - 3.71) < 0.005);
    assert.ok(Math.abs(d.scaleDependentShare - 0.893) < 0.0005);
  });

  test('a bad constants file is refused naming the file and the field', () => {
    const s = streams();
    const status = decomposeCommand({ constants: join(tmp, 'missing.json') }, s.io);
    assert.equal(status, 2);
    assert.match(s.err(), /constants: cannot read .*missing\.json/);
  });
});
