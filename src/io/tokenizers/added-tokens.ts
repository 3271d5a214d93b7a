/**
 * Added tokens (`<|endoftext|>`, `<s>`, `</s>`, ...): matched in the text before anything else
 * runs, so that their text is never split by BPE. At each position the longest added token that
 * matches wins, as Hugging Face's leftmost-longest matcher does.
 *
 * LIMITATION: tokens flagged `normalized: true` are matched in the raw text, not in the
 * normalized text. The two differ only when a normalizer changes the token's own characters
 * (for example a token holding a space under the SentencePiece `' '`-to-`▁` normalizer).
 */
import { isWhitespace } from './byte-level.js';

export interface AddedToken {
  readonly id: number;
  readonly content: string;
  /** Special tokens are the ones `skipSpecialTokens` leaves out when decoding. */
  readonly special: boolean;
  /** Match only when not inside a word. */
  readonly singleWord: boolean;
  /** The match swallows the whitespace before it. */
  readonly lstrip: boolean;
  /** The match swallows the whitespace after it. */
  readonly rstrip: boolean;
  readonly normalized: boolean;
}

/** A stretch of text to tokenize, or one added token. `offset` is where it starts in the text. */
export interface Segment {
  readonly text: string;
  readonly offset: number;
  readonly token?: AddedToken;
}

const WORD_CHAR = /[\p{L}\p{N}_]/u;

/** Splits text around added tokens. */
export class AddedTokenMatcher {
  /** Candidates by first UTF-16 unit, longest first. */
  private readonly byFirst = new Map<string, AddedToken[]>();

  constructor(readonly tokens: readonly AddedToken[]) {
    for (const t of tokens) {
      if (t.content === '') continue;
      const list = this.byFirst.get(t.content[0]) ?? [];
      list.push(t);
      this.byFirst.set(t.content[0], list);
    }
    for (const list of this.byFirst.values())
      list.sort((a, b) => b.content.length - a.content.length);
  }

  split(text: string): Segment[] {
    if (this.byFirst.size === 0) return text === '' ? [] : [{ text, offset: 0 }];
    const out: Segment[] = [];
    let start = 0;
    let i = 0;
    while (i < text.length) {
      const hit = this.matchAt(text, i);
      if (hit === null) {
        i++;
        continue;
      }
      let from = i;
      let to = i + hit.content.length;
      if (hit.lstrip) while (from > start && isWhitespace(text[from - 1])) from--;
      if (hit.rstrip) while (to < text.length && isWhitespace(text[to])) to++;
      if (from > start) out.push({ text: text.slice(start, from), offset: start });
      out.push({ text: text.slice(from, to), offset: from, token: hit });
      start = to;
      i = to;
    }
    if (start < text.length) out.push({ text: text.slice(start), offset: start });
    return out;
  }

  private matchAt(text: string, i: number): AddedToken | null {
    const candidates = this.byFirst.get(text[i]);
    if (candidates === undefined) return null;
    for (const t of candidates) {
      if (!text.startsWith(t.content, i)) continue;
      if (t.singleWord) {
        const before = i > 0 ? text[i - 1] : '';
        const after = text[i + t.content.length] ?? '';
        if (WORD_CHAR.test(before) || WORD_CHAR.test(after)) continue;
      }
      return t;
    }
    return null;
  }
}
