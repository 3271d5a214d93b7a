/**
 * Tokenizers against reference files made offline by `fixtures/io/make_tokenizers.py`: a GPT-2
 * style byte-level BPE and a LLaMA-style SentencePiece BPE learned from a small corpus, with the
 * ids of varied texts computed by that script's own Python encoder (and, when it was run with
 * Hugging Face `tokenizers` installed, checked against it). Also hand-computed merge cases,
 * round-trip properties, the character tokenizer, and malformed files with the field named.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  BpeTokenizer,
  CharTokenizer,
  gpt2Split,
  loadTokenizer,
  type Tokenizer,
  TokenizerError,
} from '../src/io/index.js';

const dir = new URL('../../fixtures/io/tokenizers/', import.meta.url).pathname;
const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as {
  texts: Record<string, string>;
  decoded: Record<string, Record<string, string>>;
  [tokenizer: string]: Record<string, unknown>;
};
const idsOf = (tokenizer: string) => expected[tokenizer] as Record<string, number[]>;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-tok-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function assertTokError(fn: () => unknown, ...patterns: RegExp[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof TokenizerError)) assert.fail(`expected a TokenizerError, got ${caught}`);
  for (const p of patterns) assert.match(caught.message, p);
}

const tokenizers: [string, string, () => Tokenizer][] = [
  ['bytelevel', 'tokenizer.json', () => loadTokenizer(path.join(dir, 'bytelevel/tokenizer.json'))],
  [
    'bytelevel',
    'vocab.json + merges.txt',
    () =>
      BpeTokenizer.fromVocabAndMerges(
        path.join(dir, 'bytelevel/vocab.json'),
        path.join(dir, 'bytelevel/merges.txt'),
      ),
  ],
  [
    'sentencepiece',
    'tokenizer.json (Prepend + Replace normalizer)',
    () => loadTokenizer(path.join(dir, 'sentencepiece')),
  ],
  [
    'sentencepiece_metaspace',
    'tokenizer.json (Metaspace pre-tokenizer)',
    () => loadTokenizer(path.join(dir, 'sentencepiece/tokenizer-metaspace.json')),
  ],
];

describe('tokenizers: ids of the reference encoder', () => {
  for (const [key, source, make] of tokenizers) {
    test(`${key} from ${source}: every text encodes to the expected ids and decodes back`, () => {
      const tok = make();
      const cases = Object.entries(idsOf(key));
      assert.ok(cases.length >= 5);
      for (const [name, ids] of cases) {
        const text = expected.texts[name];
        assert.deepEqual(tok.encode(text), ids, `${key} ${name}`);
        // Decoding gives the text, except where the format itself loses something (see below).
        assert.equal(tok.decode(ids), expected.decoded[key][name] ?? text, `${key} ${name} decode`);
      }
    });
  }

  test('the varied text needs byte fallback, merges and added tokens', () => {
    const sp = loadTokenizer(path.join(dir, 'sentencepiece')) as BpeTokenizer;
    const ids = idsOf('sentencepiece').varied;
    const tokens = ids.map((id) => sp.idToToken(id) ?? '');
    assert.ok(
      tokens.some((t) => /^<0x[0-9A-F]{2}>$/.test(t)),
      'byte-fallback tokens',
    );
    assert.ok(
      tokens.some((t) => t.length > 3 && t.startsWith('\u2581')),
      'merged words',
    );
    const gpt = loadTokenizer(path.join(dir, 'bytelevel')) as BpeTokenizer;
    assert.deepEqual(gpt.encode('<|endoftext|>'), [gpt.tokenToId('<|endoftext|>')]);
  });

  test('what the formats lose on decoding, as Hugging Face decodes it', () => {
    // The legacy normalizer puts a space marker after each special token; Metaspace "first"
    // drops the markers of the first token, so leading spaces go.
    assert.equal(
      expected.decoded.sentencepiece.special_sentencepiece,
      '<s> Hello</s>  world<unk>  again',
    );
    assert.equal(expected.decoded.sentencepiece_metaspace.spaces[0], ' ');
    assert.deepEqual(Object.keys(expected.decoded.bytelevel), []);
  });
});

describe('tokenizers: special tokens, vocabulary and options', () => {
  const sp = loadTokenizer(path.join(dir, 'sentencepiece')) as BpeTokenizer;
  const gpt = loadTokenizer(path.join(dir, 'bytelevel/tokenizer.json')) as BpeTokenizer;

  test('vocabSize counts the vocabulary and the added tokens', () => {
    assert.equal(gpt.vocabSize, 557);
    assert.equal(sp.vocabSize, 3 + 256 + 82 + 300);
  });

  test('addSpecialTokens applies the template: <s> first for LLaMA, nothing for GPT-2', () => {
    const plain = sp.encode('Hello world');
    assert.deepEqual(sp.encode('Hello world', { addSpecialTokens: true }), [1, ...plain]);
    assert.deepEqual(
      gpt.encode('Hello world', { addSpecialTokens: true }),
      gpt.encode('Hello world'),
    );
  });

  test('skipSpecialTokens leaves special tokens out of the text', () => {
    const ids = gpt.encode('a<|endoftext|>b');
    assert.equal(ids.length, 3);
    assert.equal(gpt.decode(ids), 'a<|endoftext|>b');
    assert.equal(gpt.decode(ids, { skipSpecialTokens: true }), 'ab');
    assert.equal(
      sp.decode(sp.encode('hi', { addSpecialTokens: true }), { skipSpecialTokens: true }),
      'hi',
    );
  });

  test('an id outside the vocabulary is an error naming it', () => {
    assertTokError(
      () => gpt.decode([1, 5000]),
      /decode: id 5000 is not in the vocabulary \(size 557\)/,
    );
    assertTokError(() => sp.decode([-1]), /id -1 is not in the vocabulary/);
  });

  test('the GPT-2 split keeps contractions, space-prefixed words and whitespace runs apart', () => {
    assert.deepEqual(gpt2Split("I'm here,  they'll   go\n\n x"), [
      'I',
      "'m",
      ' here',
      ',',
      ' ',
      ' they',
      "'ll",
      '  ',
      ' go',
      '\n\n',
      ' x',
    ]);
    // Only an ASCII space joins the word after it; other whitespace stands alone.
    const pieces = gpt2Split('x\u0085\u00a0y 12 ½');
    assert.deepEqual(pieces, ['x', '\u0085', '\u00a0', 'y', ' 12', ' ½']);
  });
});

describe('tokenizers: round trips and robustness (property-based)', () => {
  const gpt = loadTokenizer(path.join(dir, 'bytelevel')) as BpeTokenizer;
  const sp = loadTokenizer(path.join(dir, 'sentencepiece')) as BpeTokenizer;
  // Well-formed text only: a lone surrogate has no UTF-8 form, so no byte tokenizer can keep it.
  const text = fc
    .string({
      unit: fc.oneof(
        fc.constantFrom(' ', '\n', 'e', '\u00e9', '日', '🙂', '<s>'),
        fc.string({ unit: 'binary', maxLength: 1 }),
      ),
      maxLength: 40,
    })
    .filter((s) => !/\p{Cs}/u.test(s));

  test('byte-level: decode(encode(text)) is the text, for any text', () => {
    fc.assert(
      fc.property(text, (s) => {
        assert.equal(gpt.decode(gpt.encode(s)), s);
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  test('SentencePiece with byte fallback: same, for text without special tokens', () => {
    fc.assert(
      fc.property(
        text.filter((s) => !/<s>|<\/s>|<unk>/.test(s)),
        (s) => {
          const ids = sp.encode(s);
          assert.ok(
            ids.every((id) => id > 0),
            'byte fallback means no <unk>',
          );
          assert.equal(sp.decode(ids), s);
        },
      ),
      { numRuns: 200, seed: 12 },
    );
  });

  test('a long text without spaces is one BPE word, merged in near-linear time', () => {
    const long = 'thesextantmeasurestheangle'.repeat(4000); // 104 000 characters
    const start = performance.now();
    const ids = sp.encode(long);
    const ms = performance.now() - start;
    assert.equal(sp.decode(ids), long);
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  });
});

/** Writes a tokenizer.json with `model` and top-level `extra` into tmp; returns its path. */
let fileCount = 0;
function tokenizerJson(
  model: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): string {
  const file = path.join(tmp, `tok-${fileCount++}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: null,
      decoder: null,
      model: { type: 'BPE', ...model },
      ...extra,
    }),
  );
  return file;
}
const small = {
  vocab: { a: 0, b: 1, c: 2, ab: 3, bc: 4, abc: 5, '<unk>': 6 },
  merges: ['b c', 'a b', 'a bc'],
};

describe('tokenizers: BPE merges on hand-computed cases', () => {
  test('lowest rank first, leftmost among equals', () => {
    const tok = BpeTokenizer.fromTokenizerJson(tokenizerJson(small));
    // abc: (b,c) has rank 0, then (a,bc) rank 2: one token.
    assert.deepEqual(tok.encode('abc'), [5]);
    // abab: (a,b) at 0 and at 2, both rank 1, (b,a) is no merge: two 'ab'.
    assert.deepEqual(tok.encode('abab'), [3, 3]);
    // abcbc: (b,c) twice first, then (a,bc): abc, bc.
    assert.deepEqual(tok.encode('abcbc'), [5, 4]);
    // Without a decoder, tokens are joined by spaces, as in Hugging Face.
    assert.equal(tok.decode([5, 4]), 'abc bc');
  });

  test('unknown characters: unk, fused or not, and an error when there is no unk', () => {
    const fused = BpeTokenizer.fromTokenizerJson(
      tokenizerJson({ ...small, unk_token: '<unk>', fuse_unk: true }),
    );
    assert.deepEqual(fused.encode('a€€b'), [0, 6, 1]);
    const unfused = BpeTokenizer.fromTokenizerJson(tokenizerJson({ ...small, unk_token: '<unk>' }));
    assert.deepEqual(unfused.encode('a€€b'), [0, 6, 6, 1]);
    const none = BpeTokenizer.fromTokenizerJson(tokenizerJson(small));
    assertTokError(
      () => none.encode('a€'),
      /character "€" \(U\+20AC\) is not in the vocabulary, and the model has neither/,
    );
  });

  test('ignore_merges emits a word found whole in the vocabulary', () => {
    const vocab = { ...small.vocab, ca: 7 };
    const tok = BpeTokenizer.fromTokenizerJson(
      tokenizerJson({ vocab, merges: small.merges, ignore_merges: true }),
    );
    assert.deepEqual(tok.encode('ca'), [7]);
    assert.deepEqual(
      BpeTokenizer.fromTokenizerJson(tokenizerJson({ vocab, merges: small.merges })).encode('ca'),
      [2, 0],
    );
  });

  test('added tokens: longest match wins; lstrip / rstrip swallow whitespace; single_word', () => {
    const added = (content: string, id: number, flags: Record<string, boolean> = {}) => ({
      id,
      content,
      special: true,
      ...flags,
    });
    const vocab = { ...small.vocab, ' ': 8 };
    const tok = BpeTokenizer.fromTokenizerJson(
      tokenizerJson(
        { vocab, merges: small.merges },
        {
          added_tokens: [
            added('<x>', 10),
            added('<x>>', 11),
            added('[M]', 12, { lstrip: true, rstrip: true }),
            added('cc', 13, { single_word: true }),
          ],
        },
      ),
    );
    assert.deepEqual(tok.encode('a<x>>b<x>c'), [0, 11, 1, 10, 2]);
    assert.deepEqual(tok.encode('a  [M]  b'), [0, 12, 1]);
    assert.deepEqual(tok.encode('cc acc'), [13, 8, 0, 2, 2]);
  });
});

describe('tokenizers: malformed files name the file and the field', () => {
  test('tokenizer.json fields', () => {
    const noModel = path.join(tmp, 'no-model.json');
    fs.writeFileSync(noModel, '{"added_tokens": []}');
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(noModel),
      /no-model\.json: field 'model': expected an object, got nothing/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ ...small, merges: ['a b c'] })),
      /field 'model\.merges\[0\]': expected "left right" or \[left, right\], got "a b c"/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ ...small, merges: ['a z'] })),
      /field 'merges\[0\]': "z" is not in the vocabulary/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ ...small, merges: ['c a'] })),
      /field 'merges\[0\]': the merge "ca" is not in the vocabulary/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ vocab: { a: 0.5 }, merges: [] })),
      /field 'model\.vocab\.a': expected a token id \(integer >= 0\), got 0\.5/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ vocab: { a: 0, b: 0 }, merges: [] })),
      /field 'vocab\.b': id 0 is also the id of "a"/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ ...small, type: 'WordPiece' })),
      /field 'model\.type': "WordPiece" is not supported yet/,
    );
    assertTokError(
      () =>
        BpeTokenizer.fromTokenizerJson(
          tokenizerJson(small, { pre_tokenizer: { type: 'Split', pattern: { Regex: '\\s' } } }),
        ),
      /field 'pre_tokenizer\.type': "Split" is not supported yet \(supported: Sequence, ByteLevel,/,
    );
    assertTokError(
      () =>
        BpeTokenizer.fromTokenizerJson(
          tokenizerJson(small, {
            normalizer: { type: 'Sequence', normalizers: [{ type: 'StripAccents' }] },
          }),
        ),
      /field 'normalizer\.normalizers\[0\]\.type': "StripAccents" is not supported yet/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson(small, { truncation: { max_length: 8 } })),
      /field 'truncation'/,
    );
    assertTokError(
      () =>
        BpeTokenizer.fromTokenizerJson(
          tokenizerJson(small, { added_tokens: [{ content: '<s>' }] }),
        ),
      /field 'added_tokens\[0\]\.id': expected a token id/,
    );
    assertTokError(
      () => BpeTokenizer.fromTokenizerJson(tokenizerJson({ ...small, unk_token: '<nope>' })),
      /field 'model\.unk_token': "<nope>" is not in the vocabulary/,
    );
    assertTokError(
      () =>
        BpeTokenizer.fromTokenizerJson(
          tokenizerJson({ ...small, continuing_subword_prefix: '##' }),
        ),
      /field 'model\.continuing_subword_prefix': "##" is not supported yet/,
    );
    assertTokError(
      () =>
        BpeTokenizer.fromTokenizerJson(
          tokenizerJson(small, { decoder: { type: 'Metaspace', replacement: '__' } }),
        ),
      /field 'decoder\.replacement': expected one character, got "__"/,
    );
  });

  test('vocab.json and merges.txt', () => {
    const vocab = path.join(tmp, 'vocab.json');
    const merges = path.join(tmp, 'merges.txt');
    fs.writeFileSync(vocab, JSON.stringify(small.vocab));
    fs.writeFileSync(merges, '#version: 0.2\nb c\na b\nabc\n');
    assertTokError(
      () => BpeTokenizer.fromVocabAndMerges(vocab, merges),
      /merges\.txt: field 'line 4': expected "left right", got "abc"/,
    );
    fs.writeFileSync(merges, '#version: 0.2\r\nb c\r\na b\r\n');
    assert.deepEqual(BpeTokenizer.fromVocabAndMerges(vocab, merges).encode('abc'), [0, 4]);
    fs.writeFileSync(vocab, '{"a": 0,');
    assertTokError(
      () => BpeTokenizer.fromVocabAndMerges(vocab, merges),
      /vocab\.json: not valid JSON/,
    );
    assertTokError(
      () => BpeTokenizer.fromVocabAndMerges(path.join(tmp, 'none.json'), merges),
      /none\.json: cannot read/,
    );
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    assertTokError(() => loadTokenizer(empty), /empty-\w+: folder has no tokenizer\.json/);
  });
});

describe('tokenizers: character level', () => {
  test('built from a corpus: code points in order, emoji as one token, round trip', () => {
    const tok = CharTokenizer.fromText('hello 🙂 wörld');
    assert.deepEqual(tok.chars, [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'ö', '🙂']);
    assert.equal(tok.vocabSize, 10);
    assert.deepEqual(tok.encode('hö🙂'), [3, 8, 9]);
    assert.equal(tok.decode(tok.encode('hello 🙂 wörld')), 'hello 🙂 wörld');
  });

  test('saved and loaded as JSON, also through loadTokenizer', () => {
    const tok = CharTokenizer.fromText('abc', { unk: '?' });
    const file = path.join(tmp, 'char-tokenizer.json');
    tok.save(file);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      type: 'char',
      version: 1,
      chars: ['?', 'a', 'b', 'c'],
      unk: '?',
    });
    const back = loadTokenizer(file) as CharTokenizer;
    assert.deepEqual(back.encode('abz'), [1, 2, 0]);
    const folder = path.join(tmp, 'char-model');
    fs.mkdirSync(folder);
    tok.save(path.join(folder, 'char-tokenizer.json'));
    assert.equal(loadTokenizer(folder).vocabSize, 4);
  });

  test('unknown characters, bad ids and bad files are errors that say what and where', () => {
    const tok = CharTokenizer.fromText('abc');
    assertTokError(
      () => tok.encode('ab🙂x'),
      /character "🙂" \(U\+1F642\) at index 2 is not in the vocabulary of 3/,
    );
    assertTokError(() => tok.decode([3]), /id 3 is outside 0\.\.2/);
    assertTokError(
      () => CharTokenizer.fromJSON({ type: 'char', version: 1, chars: ['a', 'a'] }, 'v.json'),
      /v\.json: field 'chars\[1\]': "a" appears twice/,
    );
    assertTokError(
      () => CharTokenizer.fromJSON({ type: 'char', version: 1, chars: ['ab'] }, 'v.json'),
      /field 'chars\[0\]': expected one character, got "ab"/,
    );
    assertTokError(
      () => CharTokenizer.fromJSON({ type: 'bpe' }, 'v.json'),
      /field 'type': expected "char", got "bpe"/,
    );
    assertTokError(
      () => CharTokenizer.fromJSON({ type: 'char', version: 1 }, 'v.json'),
      /field 'chars': expected an array, got nothing/,
    );
  });
});
