/**
 * The scaling study end to end on a tiny budget: Tiny Shakespeare, two families, a few seconds.
 * The plan comes first, runs are ordinary run-store runs trained by child processes, a second
 * sweep trains nothing (finished runs are found by config hash), and the report, fits.json and
 * `--json` summary come out. Also `sextant scaling decompose --json` and a family with too few
 * frontier points.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { decomposeCommand } from '../src/cli/scaling.js';
import { RunStore } from '../src/runs/store.js';
import { analyseSweep, familySummary } from '../src/studies/scaling/analysis.js';
import { ScalingSchema } from '../src/studies/scaling/config.js';
import { runScalingStudy, type StudyEvent } from '../src/studies/scaling/study.js';

const SHAKESPEARE = join(import.meta.dirname, '../../../shared/data/tinyshakespeare/input.txt');

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
  test('plans, trains in child processes, skips finished runs, writes the report', async () => {
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
    assert.equal(events[0]?.event, 'plan', 'the plan comes before any training');
    assert.equal(first.plan.runs.length, 5);
    assert.equal(first.plan.toTrain, 5);
    assert.ok(first.plan.estimatedSeconds > 0 && first.plan.estimatedFlops > 0);
    assert.deepEqual(first.failed, []);
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
    for (const file of ['report.html', 'report.md', 'fits.json', 'plots/frontiers.svg']) {
      assert.ok(existsSync(join(out, file)), file);
    }
    const fits = JSON.parse(readFileSync(join(out, 'fits.json'), 'utf8'));
    assert.equal(fits.families.length, 2);
    const store = RunStore.open(runs);
    try {
      const listed = store.list().filter((r) => r.kind === 'scaling');
      assert.equal(listed.length, 5);
      assert.ok(listed.every((r) => r.status === 'done'));
    } finally {
      store.close();
    }

    // The same sweep again: everything is found done, nothing is trained.
    const second = await runScalingStudy({ ...config, resamples: 0 });
    assert.equal(second.plan.toTrain, 0);
    assert.ok(second.plan.runs.every((r) => r.doneRun !== null));
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
