/**
 * Character-level tokenizer: one token per Unicode code point (an emoji made of one code point
 * is one token; a flag made of two is two). Built from a corpus, whose distinct characters in
 * code-point order become ids 0..n-1, and saved as JSON:
 * `{"type": "char", "version": 1, "chars": [...], "unk": null}`.
 */
import fs from 'node:fs';
import { atomicWrite } from '../safetensors-write.js';
import { JsonFields, show, TokenizerError } from './errors.js';
import type { Tokenizer } from './types.js';

export interface CharTokenizerJson {
  type: 'char';
  version: 1;
  chars: string[];
  /** A character from `chars` that stands for characters outside them; null makes them errors. */
  unk: string | null;
}

export class CharTokenizer implements Tokenizer {
  readonly chars: readonly string[];
  readonly unk: string | null;
  private readonly ids = new Map<string, number>();
  private readonly unkId: number | null;

  /** `chars` in id order, each one code point, no repeats; `unk`, if given, one of them. */
  constructor(chars: readonly string[], unk: string | null = null, file = 'CharTokenizer') {
    const f = new JsonFields(file);
    chars.forEach((c, i) => {
      if (typeof c !== 'string' || [...c].length !== 1) {
        throw f.error(`chars[${i}]`, `expected one character, got ${show(c)}`);
      }
      if (this.ids.has(c)) throw f.error(`chars[${i}]`, `${show(c)} appears twice`);
      this.ids.set(c, i);
    });
    this.chars = Object.freeze([...chars]);
    this.unk = unk;
    this.unkId = unk === null ? null : (this.ids.get(unk) ?? null);
    if (unk !== null && this.unkId === null)
      throw f.error('unk', `${show(unk)} is not one of the chars`);
  }

  /** The distinct characters of `text` (plus `unk`, if given) in code-point order. */
  static fromText(text: string, options: { unk?: string } = {}): CharTokenizer {
    const set = new Set(text);
    if (options.unk !== undefined) set.add(options.unk);
    const chars = [...set].sort(
      (a, b) => (a.codePointAt(0) as number) - (b.codePointAt(0) as number),
    );
    return new CharTokenizer(chars, options.unk ?? null);
  }

  /** From the saved JSON object; `file` names the source in errors. */
  static fromJSON(json: unknown, file = 'char tokenizer'): CharTokenizer {
    const f = new JsonFields(file);
    const o = f.object(json, '(root)');
    if (o.type !== 'char') throw f.error('type', `expected "char", got ${show(o.type)}`);
    if (o.version !== 1) throw f.error('version', `expected 1, got ${show(o.version)}`);
    const chars = f.array(o.chars, 'chars').map((c, i) => f.string(c, `chars[${i}]`));
    const unk = o.unk === null || o.unk === undefined ? null : f.string(o.unk, 'unk');
    return new CharTokenizer(chars, unk, file);
  }

  static load(file: string): CharTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new TokenizerError(file, `cannot read JSON (${(e as Error).message})`);
    }
    return CharTokenizer.fromJSON(json, file);
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  toJSON(): CharTokenizerJson {
    return { type: 'char', version: 1, chars: [...this.chars], unk: this.unk };
  }

  /** Saves the vocabulary as JSON, atomically. */
  save(file: string): void {
    const text = `${JSON.stringify(this.toJSON())}\n`;
    atomicWrite(file, (fd) => fs.writeSync(fd, text));
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let index = 0;
    for (const c of text) {
      const id = this.ids.get(c) ?? this.unkId;
      if (id === null) {
        const code = (c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
        throw new TokenizerError(
          'CharTokenizer.encode',
          `character ${show(c)} (U+${code}) at index ${index} is not in the vocabulary of ` +
            `${this.chars.length} (build it from a corpus that has it, or give an unk)`,
        );
      }
      out.push(id);
      index += c.length;
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    let out = '';
    for (const id of ids) {
      const c = this.chars[id];
      if (c === undefined) {
        throw new TokenizerError(
          'CharTokenizer.decode',
          `id ${show(id)} is outside 0..${this.chars.length - 1}`,
        );
      }
      out += c;
    }
    return out;
  }
}
