/**
 * BPE tokenizers in the formats researchers have on disk:
 *
 * - GPT-2 byte-level BPE from `vocab.json` + `merges.txt` (`BpeTokenizer.fromVocabAndMerges`);
 * - Hugging Face `tokenizer.json` with `model.type` "BPE" (`BpeTokenizer.fromTokenizerJson`),
 *   both the byte-level kind (GPT-2: ByteLevel pre-tokenizer and decoder) and the
 *   SentencePiece kind (LLaMA: `▁` for spaces, `<0xNN>` byte-fallback tokens, either the
 *   Prepend + Replace normalizer or the Metaspace pre-tokenizer).
 *
 * Encoding: split out added tokens; normalize and pre-tokenize each stretch between them; BPE
 * each pre-token; optionally wrap in the post-processor's template. Decoding: ids to token
 * strings, then the decoder chain.
 *
 * LIMITATION: only `model.type` "BPE" (no WordPiece, Unigram or WordLevel yet); `truncation` and
 * `padding` must be null; `Split` pre-tokenizers are refused (see `pipeline.ts`). Text with lone
 * UTF-16 surrogates has no UTF-8 form: byte-level encoding turns each into U+FFFD.
 */
import fs from 'node:fs';
import { type AddedToken, AddedTokenMatcher } from './added-tokens.js';
import { BpeModel } from './bpe-model.js';
import { JsonFields, show, TokenizerError } from './errors.js';
import {
  type Decoder,
  type Normalizer,
  type PreTokenizer,
  parseDecoder,
  parseNormalizer,
  parsePostProcessor,
  parsePreTokenizer,
  type Template,
} from './pipeline.js';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

export interface BpeTokenizerParts {
  readonly model: BpeModel;
  readonly added: readonly AddedToken[];
  readonly normalizer: Normalizer | null;
  readonly preTokenizer: PreTokenizer | null;
  readonly decoder: Decoder | null;
  readonly template: Template | null;
}

/** Reads and parses a JSON file, naming the file on failure. */
function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TokenizerError(file, `cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(file, `not valid JSON (${(e as Error).message})`);
  }
}

function readVocab(f: JsonFields, v: unknown, field: string): Map<string, number> {
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(f.object(v, field))) {
    vocab.set(token, f.id(id, `${field}.${token}`));
  }
  return vocab;
}

/** Merges as `"a b"` strings (the classic layout) or `[a, b]` pairs (tokenizers 0.20+). */
function readMerges(f: JsonFields, v: unknown, field: string): [string, string][] {
  return f.array(v, field).map((m, i) => {
    if (
      Array.isArray(m) &&
      m.length === 2 &&
      typeof m[0] === 'string' &&
      typeof m[1] === 'string'
    ) {
      return [m[0], m[1]];
    }
    const parts = typeof m === 'string' ? m.split(' ') : [];
    if (parts.length !== 2) {
      throw f.error(`${field}[${i}]`, `expected "left right" or [left, right], got ${show(m)}`);
    }
    return [parts[0], parts[1]];
  });
}

/** "" and null both mean "none" for the subword affixes; anything else is not supported. */
function checkNoAffix(f: JsonFields, v: unknown, field: string): void {
  if (v !== undefined && v !== null && v !== '') {
    throw f.error(field, `${show(v)} is not supported yet (expected null or "")`);
  }
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  private readonly matcher: AddedTokenMatcher;
  private readonly addedById = new Map<number, AddedToken>();

  constructor(private readonly parts: BpeTokenizerParts) {
    this.matcher = new AddedTokenMatcher(parts.added);
    for (const t of parts.added) this.addedById.set(t.id, t);
    let max = parts.model.idToToken.length - 1;
    for (const t of parts.added) max = Math.max(max, t.id);
    this.vocabSize = max + 1;
  }

  /** Loads a Hugging Face `tokenizer.json` whose model is BPE. */
  static fromTokenizerJson(file: string): BpeTokenizer {
    const f = new JsonFields(file);
    const root = f.object(readJson(file), '(root)');
    for (const key of ['truncation', 'padding'] as const) {
      if (root[key] !== null && root[key] !== undefined) {
        throw f.error(key, `${show(root[key])} is not supported yet (expected null)`);
      }
    }
    const m = f.object(root.model, 'model');
    const type = f.string(m.type ?? 'BPE', 'model.type');
    if (type !== 'BPE')
      throw f.error('model.type', `${show(type)} is not supported yet (expected "BPE")`);
    if (m.dropout !== null && m.dropout !== undefined && m.dropout !== 0) {
      throw f.error('model.dropout', `${show(m.dropout)} is not supported (expected null)`);
    }
    checkNoAffix(f, m.continuing_subword_prefix, 'model.continuing_subword_prefix');
    checkNoAffix(f, m.end_of_word_suffix, 'model.end_of_word_suffix');
    const unk =
      m.unk_token === null || m.unk_token === undefined
        ? null
        : f.string(m.unk_token, 'model.unk_token');
    const model = new BpeModel(
      file,
      readVocab(f, m.vocab, 'model.vocab'),
      readMerges(f, m.merges, 'model.merges'),
      {
        unkToken: unk,
        fuseUnk: f.bool(m.fuse_unk, 'model.fuse_unk', false),
        byteFallback: f.bool(m.byte_fallback, 'model.byte_fallback', false),
        ignoreMerges: f.bool(m.ignore_merges, 'model.ignore_merges', false),
      },
    );
    const added = f.array(root.added_tokens ?? [], 'added_tokens').map((t, i) => {
      const field = `added_tokens[${i}]`;
      const o = f.object(t, field);
      return Object.freeze({
        id: f.id(o.id, `${field}.id`),
        content: f.string(o.content, `${field}.content`),
        special: f.bool(o.special, `${field}.special`, false),
        singleWord: f.bool(o.single_word, `${field}.single_word`, false),
        lstrip: f.bool(o.lstrip, `${field}.lstrip`, false),
        rstrip: f.bool(o.rstrip, `${field}.rstrip`, false),
        normalized: f.bool(o.normalized, `${field}.normalized`, false),
      });
    });
    return new BpeTokenizer({
      model,
      added,
      normalizer: parseNormalizer(f, root.normalizer, 'normalizer'),
      preTokenizer: parsePreTokenizer(f, root.pre_tokenizer, 'pre_tokenizer'),
      decoder: parseDecoder(f, root.decoder, 'decoder'),
      template: parsePostProcessor(f, root.post_processor, 'post_processor'),
    });
  }

  /**
   * Loads a GPT-2 byte-level BPE from `vocab.json` and `merges.txt`. `specialTokens` defaults to
   * `<|endoftext|>` when the vocabulary has it, as GPT-2's tokenizer configuration declares.
   */
  static fromVocabAndMerges(
    vocabFile: string,
    mergesFile: string,
    options: { specialTokens?: readonly string[] } = {},
  ): BpeTokenizer {
    const vocab = readVocab(new JsonFields(vocabFile), readJson(vocabFile), '(root)');
    let text: string;
    try {
      text = fs.readFileSync(mergesFile, 'utf8');
    } catch (e) {
      throw new TokenizerError(mergesFile, `cannot read (${(e as Error).message})`);
    }
    const merges: [string, string][] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '' || (i === 0 && line.startsWith('#version'))) return;
      const parts = line.split(' ');
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
        throw new TokenizerError(
          mergesFile,
          `expected "left right", got ${show(line)}`,
          `line ${i + 1}`,
        );
      }
      merges.push([parts[0], parts[1]]);
    });
    const specials = options.specialTokens ?? (vocab.has('<|endoftext|>') ? ['<|endoftext|>'] : []);
    const added = specials.map((content) => {
      const id = vocab.get(content);
      if (id === undefined)
        throw new TokenizerError(
          vocabFile,
          `special token ${show(content)} is not in the vocabulary`,
        );
      return {
        id,
        content,
        special: true,
        singleWord: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
      };
    });
    const byteLevel = parsePreTokenizer(
      new JsonFields(vocabFile),
      { type: 'ByteLevel', add_prefix_space: false },
      'pre_tokenizer',
    );
    return new BpeTokenizer({
      model: new BpeModel(mergesFile, vocab, merges),
      added,
      normalizer: null,
      preTokenizer: byteLevel,
      decoder: parseDecoder(new JsonFields(vocabFile), { type: 'ByteLevel' }, 'decoder'),
      template: null,
    });
  }

  /** The id of a token string (vocabulary or added), or undefined. */
  tokenToId(token: string): number | undefined {
    for (const t of this.parts.added) if (t.content === token) return t.id;
    return this.parts.model.vocab.get(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.parts.model.idToToken[id];
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const { normalizer, preTokenizer, model } = this.parts;
    const ids: number[] = [];
    for (const seg of this.matcher.split(text)) {
      if (seg.token !== undefined) {
        ids.push(seg.token.id);
        continue;
      }
      // Normalizers and pre-tokenizers run on each stretch between added tokens separately.
      const normalized = normalizer === null ? seg.text : normalizer(seg.text);
      const pieces =
        preTokenizer === null ? [normalized] : preTokenizer(normalized, seg.offset === 0);
      for (const piece of pieces) for (const id of model.tokenize(piece)) ids.push(id);
    }
    if (!options.addSpecialTokens || this.parts.template === null) return ids;
    return this.parts.template.flatMap((item) => (item === 'A' ? ids : [...item]));
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added?.special && options.skipSpecialTokens) continue;
      const token = added?.content ?? this.parts.model.idToToken[id];
      if (token === undefined) {
        throw new TokenizerError(
          'decode',
          `id ${show(id)} is not in the vocabulary (size ${this.vocabSize})`,
        );
      }
      tokens.push(token);
    }
    const { decoder } = this.parts;
    // Without a decoder, Hugging Face joins tokens with spaces.
    return decoder === null ? tokens.join(' ') : decoder(tokens).join('');
  }
}
