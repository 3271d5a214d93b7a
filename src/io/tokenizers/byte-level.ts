/**
 * GPT-2's byte-level pieces: the pre-tokenization pattern that splits text into words, numbers,
 * punctuation runs and whitespace runs, and the reversible map from the 256 byte values to
 * printable characters that lets BPE work on bytes while its vocabulary stays readable text.
 */

/**
 * Whitespace as the Unicode White_Space property has it: what `\s` means in the Oniguruma
 * engine of Hugging Face tokenizers and in Python's `regex` module. JavaScript's own `\s` differs
 * (it lacks U+0085 and adds U+FEFF), so the pattern spells the set out.
 */
const WS =
  '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/**
 * `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` with `\s` as above.
 * Every character is a letter, a number, whitespace or none of these, so the matches tile the
 * text.
 */
export const GPT2_SPLIT_PATTERN = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+` +
    `|[${WS}]+(?![^${WS}])|[${WS}]+`,
  'gu',
);

const WHITESPACE = new RegExp(`^[${WS}]$`, 'u');

/** Whether the one-character string `c` is Unicode whitespace. */
export function isWhitespace(c: string): boolean {
  return WHITESPACE.test(c);
}

/** Splits `text` into GPT-2 pre-tokens; their concatenation is `text`. */
export function gpt2Split(text: string): string[] {
  return text.match(GPT2_SPLIT_PATTERN) ?? [];
}

/**
 * GPT-2's byte-to-character map: the printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`)
 * stand for themselves; the other 68 bytes take the characters from U+0100 on, in byte order.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(printable(b) ? b : next++);
  return Object.freeze(map);
})();

/** The inverse of `BYTE_TO_CHAR`, indexed by character code (all are below U+0144). */
const CHAR_TO_BYTE: Int16Array = (() => {
  const inverse = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => {
    inverse[c.charCodeAt(0)] = b;
  });
  return inverse;
})();

const utf8 = new TextEncoder();

/** The UTF-8 bytes of `piece`, each as its GPT-2 character. */
export function toByteChars(piece: string): string {
  let out = '';
  for (const b of utf8.encode(piece)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * Bytes back from byte characters, as UTF-8 text (invalid sequences become U+FFFD). A character
 * outside the map (from an added token's content) stands for its own UTF-8 bytes.
 */
export function fromByteChars(text: string): string {
  const bytes: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    const b = code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code] : -1;
    if (b >= 0) bytes.push(b);
    else bytes.push(...utf8.encode(ch));
  }
  return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
}
