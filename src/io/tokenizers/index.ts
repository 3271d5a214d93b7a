/**
 * Tokenizers: character-level, GPT-2 byte-level BPE and SentencePiece-style BPE, and
 * `loadTokenizer` to open whichever a folder holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BpeTokenizer } from './bpe-tokenizer.js';
import { CharTokenizer } from './char.js';
import { TokenizerError } from './errors.js';
import type { Tokenizer } from './types.js';

export type { AddedToken } from './added-tokens.js';
export { BpeModel, type BpeModelOptions } from './bpe-model.js';
export { BpeTokenizer, type BpeTokenizerParts } from './bpe-tokenizer.js';
export {
  BYTE_TO_CHAR,
  fromByteChars,
  GPT2_SPLIT_PATTERN,
  gpt2Split,
  toByteChars,
} from './byte-level.js';
export { CharTokenizer, type CharTokenizerJson } from './char.js';
export { TokenizerError } from './errors.js';
export type { DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

/** The file name `CharTokenizer` vocabularies are saved under in a model folder. */
export const CHAR_TOKENIZER_NAME = 'char-tokenizer.json';

/**
 * Opens the tokenizer in `location`: a `tokenizer.json`, a `char-tokenizer.json`, or a folder
 * holding `tokenizer.json` (preferred), `vocab.json` + `merges.txt`, or `char-tokenizer.json`.
 */
export function loadTokenizer(location: string): Tokenizer {
  const isDir = fs.existsSync(location) && fs.statSync(location).isDirectory();
  if (!isDir) {
    if (path.basename(location) === CHAR_TOKENIZER_NAME) return CharTokenizer.load(location);
    return BpeTokenizer.fromTokenizerJson(location);
  }
  const at = (name: string) => path.join(location, name);
  if (fs.existsSync(at('tokenizer.json')))
    return BpeTokenizer.fromTokenizerJson(at('tokenizer.json'));
  if (fs.existsSync(at('vocab.json')) && fs.existsSync(at('merges.txt'))) {
    return BpeTokenizer.fromVocabAndMerges(at('vocab.json'), at('merges.txt'));
  }
  if (fs.existsSync(at(CHAR_TOKENIZER_NAME))) return CharTokenizer.load(at(CHAR_TOKENIZER_NAME));
  throw new TokenizerError(
    location,
    `folder has no tokenizer.json, vocab.json + merges.txt, or ${CHAR_TOKENIZER_NAME}`,
  );
}
