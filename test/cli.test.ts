/**
 * CLI tests: run the real `bin/sextant.js` (after the build) as a user would and check what it
 * prints.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

// This file runs as dist/test/cli.test.js; the repository root is two levels up.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'sextant.js');
const version = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
).version;

function sextant(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('sextant CLI', () => {
  test('doctor --json prints exactly one JSON object with the backend facts', () => {
    const { status, stdout, stderr } = sextant(['doctor', '--json']);
    assert.equal(status, 0, stderr);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    assert.ok(report.backend === 'js' || report.backend === 'native', `backend ${report.backend}`);
    assert.equal(typeof report.blas, 'string');
    assert.ok(Number.isInteger(report.threads) && (report.threads as number) >= 1);
    assert.equal(report.sextant, version);
    assert.equal(report.node, process.version);
    assert.ok(Number.isInteger(report.cores) && (report.cores as number) >= 1);
    assert.ok(Array.isArray(report.availableBackends));
    // The native addon either loaded (and is then available) or says why it did not.
    const natives = (report.availableBackends as string[]).includes('native');
    assert.equal(report.nativeLoadError === null, natives);
  });

  test('SEXTANT_BACKEND=js selects the reference backend', () => {
    const { status, stdout } = sextant(['doctor', '--json'], { SEXTANT_BACKEND: 'js' });
    assert.equal(status, 0);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(report.backend, 'js');
    assert.equal(report.blas, 'reference');
    assert.equal(report.threads, 1);
    assert.equal((report.env as Record<string, string>).SEXTANT_BACKEND, 'js');
  });

  test('a bad SEXTANT_BACKEND is reported, with exit status 1', () => {
    const { status, stdout } = sextant(['doctor', '--json'], { SEXTANT_BACKEND: 'gpu' });
    assert.equal(status, 1);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(report.backend, null);
    assert.match(
      String(report.backendError),
      /SEXTANT_BACKEND must be 'js' or 'native', got 'gpu'/,
    );
  });

  test('doctor prints readable lines', () => {
    const { status, stdout } = sextant(['doctor'], { SEXTANT_BACKEND: 'js' });
    assert.equal(status, 0);
    assert.match(stdout, /^sextant +\d+\.\d+\.\d+/m);
    assert.match(stdout, /^backend +js$/m);
    assert.match(stdout, /^threads +1$/m);
  });

  test('--help lists doctor; --version prints the package version', () => {
    const help = sextant(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: sextant/);
    assert.match(help.stdout, /^ {2}doctor( \[options\])? +show the backend/m);
    const v = sextant(['--version']);
    assert.equal(v.stdout.trim(), version);
  });

  test('an unknown command fails with a hint', () => {
    const { status, stderr } = sextant(['frobnicate']);
    assert.notEqual(status, 0);
    assert.match(stderr, /unknown command 'frobnicate'/);
  });
});
