/**
 * Ops that take their output uninitialised (`Tensor.empty`) must write every element. Here the
 * value and gradient tests run again in a child process where every such array starts as NaN
 * (SEXTANT_POISON_UNINITIALIZED=1): an element a kernel skips shows up as a NaN failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const FILES = [
  'ops-values.test.js',
  'gradients.test.js',
  'gpt-fixture.test.js',
  'lstm-fused.test.js',
  'models-llama.test.js',
  'tensor-scope.test.js',
];

test('with uninitialised outputs poisoned with NaN, values and gradients still pass', () => {
  // Without NODE_TEST_CONTEXT the child runs as a test run of its own, not as a subtest file.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const result = spawnSync(
    process.execPath,
    ['--test', '--test-reporter=dot', ...FILES.map((f) => join(here, f))],
    { env: { ...env, SEXTANT_POISON_UNINITIALIZED: '1' }, encoding: 'utf8' },
  );
  assert.match(result.stdout, /\./, 'the child ran tests');
  assert.equal(result.status, 0, `poisoned run failed:\n${result.stdout}\n${result.stderr}`);
});
