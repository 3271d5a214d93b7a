/**
 * The stages around the BPE model in a Hugging Face `tokenizer.json`, parsed into functions:
 * normalizers (text to text), pre-tokenizers (text to pre-tokens), decoders (tokens to text
 * pieces) and the post-processor template (special tokens around the ids). Only the stage types
 * that GPT-2 and LLaMA tokenizers use are implemented; any other type is a `TokenizerError`
 * naming its field, never skipped.
 *
 * LIMITATION: `Split` pre-tokenizers and `Regex` patterns (LLaMA 3, GPT-4 style tokenizers) are
 * not supported yet: their Oniguruma patterns need translating to JavaScript first.
 */
import { fromByteChars, gpt2Split, toByteChars } from './byte-level.js';
import { type JsonFields, show } from './errors.js';

export type Normalizer = (text: string) => string;
/** `atStart`: whether the text begins at offset 0 of the input (Metaspace "first" needs it). */
export type PreTokenizer = (text: string, atStart: boolean) => string[];
export type Decoder = (tokens: string[]) => string[];
/** The ids of the single-sequence template: special-token ids, with 'A' where the text goes. */
export type Template = readonly (readonly number[] | 'A')[];

function typeOf(f: JsonFields, v: unknown, field: string): [Record<string, unknown>, string] {
  const o = f.object(v, field);
  return [o, f.string(o.type, `${field}.type`)];
}

function unsupported(f: JsonFields, field: string, type: string, supported: string): Error {
  return f.error(`${field}.type`, `${show(type)} is not supported yet (supported: ${supported})`);
}

/** The String pattern of a Replace stage. */
function stringPattern(f: JsonFields, o: Record<string, unknown>, field: string): string {
  const p = f.object(o.pattern, `${field}.pattern`);
  if (p.String === undefined) {
    throw f.error(`${field}.pattern`, `only String patterns are supported yet, got ${show(p)}`);
  }
  return f.string(p.String, `${field}.pattern.String`);
}

export function parseNormalizer(f: JsonFields, v: unknown, field: string): Normalizer | null {
  if (v === null || v === undefined) return null;
  const [o, type] = typeOf(f, v, field);
  switch (type) {
    case 'Sequence': {
      const parts = f
        .array(o.normalizers, `${field}.normalizers`)
        .map((n, i) => parseNormalizer(f, n, `${field}.normalizers[${i}]`));
      return (text) => parts.reduce((t, p) => (p === null ? t : p(t)), text);
    }
    case 'Prepend': {
      const prepend = f.string(o.prepend, `${field}.prepend`);
      return (text) => (text === '' ? text : prepend + text);
    }
    case 'Replace': {
      const from = stringPattern(f, o, field);
      const to = f.string(o.content, `${field}.content`);
      return (text) => text.replaceAll(from, to);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (text) => text.normalize(type);
    case 'Lowercase':
      return (text) => text.toLowerCase();
    default:
      throw unsupported(
        f,
        field,
        type,
        'Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase',
      );
  }
}

/** Metaspace's prepend scheme, from `prepend_scheme` or the older `add_prefix_space`. */
function prependScheme(f: JsonFields, o: Record<string, unknown>, field: string): string {
  if (o.prepend_scheme !== undefined) {
    const s = f.string(o.prepend_scheme, `${field}.prepend_scheme`);
    if (s !== 'always' && s !== 'first' && s !== 'never') {
      throw f.error(
        `${field}.prepend_scheme`,
        `expected "always", "first" or "never", got ${show(s)}`,
      );
    }
    return s;
  }
  return f.bool(o.add_prefix_space, `${field}.add_prefix_space`, true) ? 'always' : 'never';
}

function replacementChar(f: JsonFields, o: Record<string, unknown>, field: string): string {
  const r = f.string(o.replacement, `${field}.replacement`);
  if ([...r].length !== 1)
    throw f.error(`${field}.replacement`, `expected one character, got ${show(r)}`);
  return r;
}

export function parsePreTokenizer(f: JsonFields, v: unknown, field: string): PreTokenizer | null {
  if (v === null || v === undefined) return null;
  const [o, type] = typeOf(f, v, field);
  switch (type) {
    case 'Sequence': {
      const parts = f
        .array(o.pretokenizers, `${field}.pretokenizers`)
        .map((p, i) => parsePreTokenizer(f, p, `${field}.pretokenizers[${i}]`));
      return (text, atStart) => {
        let pieces = [text];
        for (const p of parts) {
          if (p !== null) pieces = pieces.flatMap((piece, k) => p(piece, atStart && k === 0));
        }
        return pieces;
      };
    }
    case 'ByteLevel': {
      const prefix = f.bool(o.add_prefix_space, `${field}.add_prefix_space`, true);
      const useRegex = f.bool(o.use_regex, `${field}.use_regex`, true);
      return (text) => {
        const t = prefix && !text.startsWith(' ') ? ` ${text}` : text;
        return (useRegex ? gpt2Split(t) : [t]).map(toByteChars);
      };
    }
    case 'Metaspace': {
      const mark = replacementChar(f, o, field);
      const scheme = prependScheme(f, o, field);
      // Before the `split` flag existed, Metaspace always split at the marker.
      const split = f.bool(o.split, `${field}.split`, true);
      return (text, atStart) => {
        let t = text.replaceAll(' ', mark);
        if (!t.startsWith(mark) && (scheme === 'always' || (scheme === 'first' && atStart))) {
          t = mark + t;
        }
        if (!split) return [t];
        // Split before each marker, which stays with the piece that follows it.
        return t.split(new RegExp(`(?=${escapeRegExp(mark)})`, 'u')).filter((p) => p !== '');
      };
    }
    default:
      throw unsupported(f, field, type, 'Sequence, ByteLevel, Metaspace');
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One U+FFFD per byte when the gathered bytes are not UTF-8, as Hugging Face's ByteFallback. */
function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    try {
      out.push(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)));
    } catch {
      for (let i = 0; i < bytes.length; i++) out.push('\ufffd');
    }
    bytes = [];
  };
  for (const t of tokens) {
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
    if (m !== null) {
      bytes.push(Number.parseInt(m[1], 16));
      continue;
    }
    flush();
    out.push(t);
  }
  flush();
  return out;
}

export function parseDecoder(f: JsonFields, v: unknown, field: string): Decoder | null {
  if (v === null || v === undefined) return null;
  const [o, type] = typeOf(f, v, field);
  switch (type) {
    case 'Sequence': {
      const parts = f
        .array(o.decoders, `${field}.decoders`)
        .map((d, i) => parseDecoder(f, d, `${field}.decoders[${i}]`));
      return (tokens) => parts.reduce((t, d) => (d === null ? t : d(t)), tokens);
    }
    case 'ByteLevel':
      return (tokens) => [fromByteChars(tokens.join(''))];
    case 'Replace': {
      const from = stringPattern(f, o, field);
      const to = f.string(o.content, `${field}.content`);
      return (tokens) => tokens.map((t) => t.replaceAll(from, to));
    }
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = replacementChar(f, { replacement: o.content }, `${field}.content`);
      const count = (k: string) => f.id(o[k], `${field}.${k}`);
      const start = count('start');
      const stop = count('stop');
      return (tokens) => tokens.map((t) => stripChars(t, content, start, stop));
    }
    case 'Metaspace': {
      const mark = replacementChar(f, o, field);
      const scheme = prependScheme(f, o, field);
      // The first token's markers are dropped (they were prepended), the others become spaces.
      return (tokens) =>
        tokens.map((t, i) => t.replaceAll(mark, i === 0 && scheme !== 'never' ? '' : ' '));
    }
    default:
      throw unsupported(
        f,
        field,
        type,
        'Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace',
      );
  }
}

/** Removes up to `start` leading and `stop` trailing copies of `c`. */
function stripChars(t: string, c: string, start: number, stop: number): string {
  const chars = [...t];
  let from = 0;
  while (from < start && from < chars.length && chars[from] === c) from++;
  let to = chars.length;
  while (chars.length - to < stop && to > from && chars[to - 1] === c) to--;
  return chars.slice(from, to).join('');
}

/** The single-sequence template of a post-processor; null when it adds nothing. */
export function parsePostProcessor(f: JsonFields, v: unknown, field: string): Template | null {
  if (v === null || v === undefined) return null;
  const [o, type] = typeOf(f, v, field);
  switch (type) {
    case 'ByteLevel':
      return null;
    case 'Sequence': {
      const parts = f
        .array(o.processors, `${field}.processors`)
        .map((p, i) => parsePostProcessor(f, p, `${field}.processors[${i}]`))
        .filter((p): p is Template => p !== null);
      if (parts.length > 1) throw f.error(field, 'more than one template is not supported');
      return parts[0] ?? null;
    }
    case 'TemplateProcessing': {
      const specials = f.object(o.special_tokens, `${field}.special_tokens`);
      return f.array(o.single, `${field}.single`).map((item, i) => {
        const where = `${field}.single[${i}]`;
        const it = f.object(item, where);
        if (it.Sequence !== undefined) {
          const id = f.string(
            f.object(it.Sequence, `${where}.Sequence`).id,
            `${where}.Sequence.id`,
          );
          if (id !== 'A') throw f.error(`${where}.Sequence.id`, `expected "A", got ${show(id)}`);
          return 'A' as const;
        }
        const name = f.string(
          f.object(it.SpecialToken, `${where}.SpecialToken`).id,
          `${where}.SpecialToken.id`,
        );
        const spec = f.object(specials[name], `${field}.special_tokens.${name}`);
        return f
          .array(spec.ids, `${field}.special_tokens.${name}.ids`)
          .map((x, k) => f.id(x, `${field}.special_tokens.${name}.ids[${k}]`));
      });
    }
    default:
      throw unsupported(f, field, type, 'ByteLevel, TemplateProcessing, Sequence');
  }
}
