/**
 * Chooses the kernel table. The native backend is used when its addon loads; `SEXTANT_BACKEND=js`
 * or `=native` overrides (native then fails loudly if it cannot load). `SEXTANT_THREADS` sets the
 * native backend's threads (default: all cores).
 */
import { jsKernels } from './js/index.js';
import type { Kernels } from './kernels.js';
import { loadNativeKernels, nativeLoadError } from './native/index.js';

let active: Kernels | null = null;

function checkThreadsVariable(): void {
  const threads = process.env.SEXTANT_THREADS;
  if (threads !== undefined && threads !== '' && !/^[1-9][0-9]*$/.test(threads)) {
    throw new Error(`SEXTANT_THREADS must be a positive integer, got '${threads}'`);
  }
}

function choose(): Kernels {
  checkThreadsVariable();
  const wanted = process.env.SEXTANT_BACKEND;
  if (wanted !== undefined && wanted !== '' && wanted !== 'js' && wanted !== 'native') {
    throw new Error(`SEXTANT_BACKEND must be 'js' or 'native', got '${wanted}'`);
  }
  if (wanted === 'js') return jsKernels;
  const native = loadNativeKernels();
  if (native) return native;
  if (wanted === 'native') {
    throw new Error(
      `SEXTANT_BACKEND=native, but the native addon did not load: ${nativeLoadError()}. ` +
        'Rebuild it with `npm run build:native`.',
    );
  }
  // Nobody asked for the reference backend: say once why everything is about 100x slower.
  process.stderr.write(
    `sextant: the native addon did not load (${String(nativeLoadError()).split('\n')[0]}); ` +
      'running on the js reference backend, which is far slower. Rebuild it with ' +
      '`npm run build:native`, or set SEXTANT_BACKEND=js to silence this.\n',
  );
  return jsKernels;
}

/** The kernel table in use. */
export function kernels(): Kernels {
  if (active === null) active = choose();
  return active;
}

/** Switches backend for the rest of the process (tests run the same suite on both). */
export function setBackend(name: 'js' | 'native'): Kernels {
  if (name === 'js') {
    active = jsKernels;
    return active;
  }
  const native = loadNativeKernels();
  if (!native) throw new Error(`the native backend is not available: ${nativeLoadError()}`);
  active = native;
  return active;
}

/** Backends that can be used in this process. */
export function availableBackends(): ('js' | 'native')[] {
  return loadNativeKernels() ? ['js', 'native'] : ['js'];
}

export { jsKernels };
export type { Kernels };
