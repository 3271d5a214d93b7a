/**
 * Config schemas at the edge: malformed configs (unknown field, wrong type, out of range, bad
 * choice) are refused with messages that name the field, the value, the expectation and where the
 * value came from; flags override the file; the result is frozen; flags come from the schema.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Command } from 'commander';
import { addSchemaOptions, flagValues, kebabCase } from '../src/cli/schema-options.js';
import { TrainLmSchema, TrainTableSchema } from '../src/train/config.js';
import {
  ConfigValidationError,
  readConfigFile,
  resolveConfig,
  schemaFields,
} from '../src/train/config-resolve.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-config-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The problems of resolving `sources`, as the message lines after the first. */
function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof ConfigValidationError, `expected ConfigValidationError, got ${e}`);
    assert.ok(e.message.startsWith('invalid config:\n'));
    return [...e.problems];
  }
  assert.fail('expected the config to be refused');
}

describe('config resolution', () => {
  test('defaults fill an empty config, and the result is frozen', () => {
    const c = resolveConfig(TrainLmSchema, {});
    assert.equal(c.model, 'gpt2');
    assert.equal(c.steps, 1000);
    assert.equal(c.gradClip, 1);
    assert.equal(c.data, undefined);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { lr: number }).lr = 1;
    }, TypeError);
  });

  test('range, type, choice, integer errors: field, value, expectation, source', () => {
    const lines = problems(() =>
      resolveConfig(TrainLmSchema, {
        file: { path: 'run.yaml', values: { steps: 'many', model: 'gpt5' } },
        flags: { lr: -1, batchSize: 2.5 },
        flagNames: { lr: '--lr', batchSize: '--batch-size' },
      }),
    );
    assert.deepEqual(lines.sort(), [
      'batchSize: expected an integer >= 1, got 2.5 (from --batch-size)',
      'lr: expected a number > 0 and <= 10, got -1 (from --lr)',
      'model: expected one of gpt2, llama, lstm, transformer, got "gpt5" (from run.yaml)',
      'steps: expected an integer >= 1, got "many" (from run.yaml)',
    ]);
  });

  test('an unknown field is named with its value and the likely intended one', () => {
    const lines = problems(() =>
      resolveConfig(TrainLmSchema, { file: { path: 'run.yaml', values: { batchSise: 8 } } }),
    );
    assert.deepEqual(lines, [
      'batchSise: unknown field, value 8 (from run.yaml); did you mean batchSize?',
    ]);
    const far = problems(() =>
      resolveConfig(TrainTableSchema, { file: { path: 'x.json', values: { zzzzzzzz: true } } }),
    );
    assert.match(
      far[0] as string,
      /^zzzzzzzz: unknown field, value true \(from x\.json\); known fields: data, target, /,
    );
  });

  test('nullable fields take null; a string where a number belongs is reported as typed', () => {
    const c = resolveConfig(TrainLmSchema, { flags: { gradClip: null } });
    assert.equal(c.gradClip, null);
    const lines = problems(() => resolveConfig(TrainLmSchema, { flags: { gradClip: 'lots' } }));
    assert.deepEqual(lines, [
      'gradClip: expected a number > 0, or none, got "lots" (from --gradClip)',
    ]);
  });

  test('flags override the file; file keys may be kebab-case or snake_case', () => {
    const file = path.join(tmp, 'run.yaml');
    fs.writeFileSync(file, 'lr: 0.1\nbatch-size: 4\ngrad_accum: 3\nmodel: lstm\n');
    const c = resolveConfig(TrainLmSchema, {
      file: { path: file, values: readConfigFile(file) },
      flags: { lr: 0.2 },
    });
    assert.equal(c.lr, 0.2);
    assert.equal(c.batchSize, 4);
    assert.equal(c.gradAccum, 3);
    assert.equal(c.model, 'lstm');
  });

  test('config files: JSON, YAML errors and non-mappings name the file', () => {
    const json = path.join(tmp, 'run.json');
    fs.writeFileSync(json, '{"steps": 7}');
    assert.deepEqual(readConfigFile(json), { steps: 7 });
    const bad = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(bad, 'steps: [1, 2\n');
    assert.throws(() => readConfigFile(bad), new RegExp(`--config ${bad}: not valid YAML or JSON`));
    const list = path.join(tmp, 'list.yaml');
    fs.writeFileSync(list, '- 1\n- 2\n');
    assert.throws(() => readConfigFile(list), /expected a mapping of field: value, got a list/);
    assert.throws(
      () => readConfigFile(path.join(tmp, 'missing.yaml')),
      /missing\.yaml: cannot read/,
    );
  });
});

describe('flags from schemas', () => {
  test('each field becomes a kebab-case flag with the doc, expectation and default', () => {
    const cmd = addSchemaOptions(new Command('lm'), TrainLmSchema);
    const flags = cmd.options.map((o) => o.long);
    for (const f of schemaFields(TrainLmSchema))
      assert.ok(flags.includes(`--${kebabCase(f.name)}`), f.name);
    const lr = cmd.options.find((o) => o.long === '--lr');
    assert.equal(lr?.description, 'peak learning rate (a number > 0 and <= 10; default 0.001)');
    const schedule = cmd.options.find((o) => o.long === '--schedule');
    assert.match(
      schedule?.description ?? '',
      /one of cosine, linear, inverse_sqrt, constant; default "cosine"/,
    );
  });

  test('parsed flags become numbers, none becomes null, and only given flags are returned', () => {
    const cmd = addSchemaOptions(new Command('lm'), TrainLmSchema).exitOverride();
    cmd.parse(['--lr', '3e-4', '--batch-size', '8', '--grad-clip', 'none', '--steps', 'ten'], {
      from: 'user',
    });
    const { values, names } = flagValues(TrainLmSchema, cmd.opts());
    assert.deepEqual(values, { lr: 3e-4, batchSize: 8, gradClip: null, steps: 'ten' });
    assert.equal(names.batchSize, '--batch-size');
    const lines = problems(() => resolveConfig(TrainLmSchema, { flags: values, flagNames: names }));
    assert.deepEqual(lines, ['steps: expected an integer >= 1, got "ten" (from --steps)']);
  });
});
