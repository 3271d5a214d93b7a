// Builds the native addon at `npm install` / `npm ci` time. Without a C++ toolchain the build
// fails; sextant still works on the `js` backend, so the failure is a warning, unless
// SEXTANT_REQUIRE_NATIVE=1 (as in CI), where it fails the install.
import { spawnSync } from 'node:child_process';

const result = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: true });
if (result.status !== 0) {
  const required = process.env.SEXTANT_REQUIRE_NATIVE === '1';
  console.error(
    `sextant: the native addon did not build (node-gyp exited with ${result.status}). ` +
      (required
        ? 'SEXTANT_REQUIRE_NATIVE=1, so the install fails.'
        : 'The js backend will be used; it is much slower. Install g++, make and python3, ' +
          'then run `npm run build:native`.'),
  );
  process.exit(required ? 1 : 0);
}
