/**
 * The bench CLI's options: their help text, parsing and validation. Every flag is checked here,
 * at the edge, and errors name the flag and the value that came.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_STEPS, MODEL_NAMES } from './config.js';

export const SECTIONS = ['gemm', ...MODEL_NAMES] as const;
export type Section = (typeof SECTIONS)[number];

export const HELP = `usage: npm run bench -- [options]
  --json            one JSON object per line instead of the table
  --only LIST       comma-separated sections: ${SECTIONS.join(', ')} (default: all)
  --steps N         timed steps per measurement (default: ${Object.entries(DEFAULT_STEPS)
    .map(([m, n]) => `${m} ${n}`)
    .join(', ')}; GEMM samples 5)
  --threads LIST    comma-separated thread counts (default: 1 and all cores)
  --no-peer         skip PyTorch (the OpenBLAS GEMM peer still runs)
  --repeat N        run each training measurement N times, alternating sextant and torch,
                    and keep each side's fastest (default 1; helps on a shared machine)
  --python PATH     interpreter that imports torch (default: /usr/bin/python3)
  --from FILE       print the table of a saved --json run instead of measuring
  --help            this text`;

export interface BenchOptions {
  json: boolean;
  sections: Set<Section>;
  /** Overrides the per-model defaults when given. */
  steps: number | undefined;
  /** Runs per training measurement; each side's fastest is kept. */
  repeat: number;
  threads: number[];
  peer: boolean;
  python: string;
  /** Print the table of this saved `--json` run instead of measuring. */
  from: string | undefined;
  help: boolean;
}

function parseList(flag: string, text: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === ''))
    throw new RangeError(`bench: --${flag} has an empty item: '${text}'`);
  return items;
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`bench: --${flag} must be an integer >= 1, got '${text}'`);
  }
  return n;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      only: { type: 'string' },
      steps: { type: 'string' },
      threads: { type: 'string' },
      'no-peer': { type: 'boolean', default: false },
      repeat: { type: 'string', default: '1' },
      python: { type: 'string', default: '/usr/bin/python3' },
      from: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const sections = new Set<Section>(values.only ? [] : SECTIONS);
  for (const s of values.only ? parseList('only', values.only) : []) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      throw new RangeError(`bench: --only takes ${SECTIONS.join(', ')}; got '${s}'`);
    }
    sections.add(s as Section);
  }
  const steps = values.steps === undefined ? undefined : positiveInt('steps', values.steps);
  const cores = availableParallelism();
  const threads = values.threads
    ? parseList('threads', values.threads).map(Number)
    : [...new Set([1, cores])];
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) {
    throw new RangeError(`bench: --threads must list integers >= 1, got '${values.threads}'`);
  }
  return {
    json: values.json,
    sections,
    steps,
    threads: [...new Set(threads)].sort((a, b) => a - b),
    peer: !values['no-peer'],
    repeat: positiveInt('repeat', values.repeat),
    python: values.python,
    from: values.from,
    help: values.help,
  };
}
