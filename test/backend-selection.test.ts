/** Which backend runs: native when it loads, and always when CI requires it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableBackends, kernels } from '../src/backends/index.js';
import { nativeLoadError } from '../src/backends/native/index.js';

test('the native backend loads where it is required', (t) => {
  if (process.env.SEXTANT_REQUIRE_NATIVE !== '1') {
    t.skip('SEXTANT_REQUIRE_NATIVE is not 1');
    return;
  }
  assert.ok(availableBackends().includes('native'), `native did not load: ${nativeLoadError()}`);
});

test('SEXTANT_BACKEND picks the backend, native by default when available', () => {
  const wanted = process.env.SEXTANT_BACKEND;
  const expected = wanted || (availableBackends().includes('native') ? 'native' : 'js');
  assert.equal(kernels().name, expected);
});
