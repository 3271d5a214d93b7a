/** What every sextant tokenizer offers. */

export interface EncodeOptions {
  /**
   * Add the special tokens of the tokenizer's template (LLaMA's `<s>` at the start), as
   * Hugging Face's `tokenizer(text)` does by default. Default false: the text's own tokens only.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (`<|endoftext|>`, `<s>`...). Default false. */
  skipSpecialTokens?: boolean;
}

/** Text to token ids and back. */
export interface Tokenizer {
  /** One more than the largest token id. */
  readonly vocabSize: number;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
}
