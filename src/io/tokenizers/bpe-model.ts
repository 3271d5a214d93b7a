/**
 * The BPE model: a vocabulary, ranked merges, and the merge loop that turns one pre-token into
 * token ids. Merges are keyed by the ids of the pair in a `Map`, so a lookup costs one hash of a
 * number; each pre-token's result is cached.
 *
 * The loop follows Hugging Face tokenizers: a priority queue of adjacent pairs ordered by merge
 * rank, then by position, so the leftmost of equal pairs merges first. For merges learned by BPE
 * training this gives the same result as GPT-2's original loop (merge all occurrences of the
 * best pair, repeat), which the fixtures' Python reference uses.
 */
import { JsonFields, show, TokenizerError } from './errors.js';

/** Ids must stay below 2^26 so that `left * 2^26 + right` is an exact Map key. */
const PAIR_SCALE = 2 ** 26;
/** Entries kept in the per-word cache before it is cleared. */
const CACHE_LIMIT = 100_000;
/** Words longer than this are not cached (a SentencePiece segment can be a whole document). */
const CACHE_WORD_LIMIT = 256;
const utf8 = new TextEncoder();

export interface BpeModelOptions {
  /** Token used for characters that are neither in the vocabulary nor byte-fallback encodable. */
  unkToken?: string | null;
  /** Consecutive unknown characters become one unknown token. */
  fuseUnk?: boolean;
  /** Unknown characters become their UTF-8 bytes as `<0xNN>` tokens. */
  byteFallback?: boolean;
  /** A word that is itself in the vocabulary is emitted whole, without merging. */
  ignoreMerges?: boolean;
}

interface Merge {
  readonly rank: number;
  readonly id: number;
}

export class BpeModel {
  readonly vocab: ReadonlyMap<string, number>;
  /** Token strings by id (holes are undefined). */
  readonly idToToken: readonly (string | undefined)[];
  private readonly merges = new Map<number, Merge>();
  private readonly unkId: number | null;
  private readonly byteIds: Int32Array | null;
  private readonly cache = new Map<string, number[]>();

  /**
   * `file` names the source in errors; `merges` are pairs in rank order. Every merge's parts and
   * result must be in the vocabulary.
   */
  constructor(
    readonly file: string,
    vocab: ReadonlyMap<string, number>,
    merges: readonly (readonly [string, string])[],
    readonly options: BpeModelOptions = {},
  ) {
    const f = new JsonFields(file);
    this.vocab = vocab;
    const idToToken: (string | undefined)[] = [];
    for (const [token, id] of vocab) {
      f.id(id, `vocab.${token}`);
      if (idToToken[id] !== undefined) {
        throw f.error(`vocab.${token}`, `id ${id} is also the id of ${show(idToToken[id])}`);
      }
      idToToken[id] = token;
    }
    this.idToToken = idToToken;
    merges.forEach(([a, b], rank) => {
      const field = `merges[${rank}]`;
      const left = vocab.get(a);
      const right = vocab.get(b);
      const merged = vocab.get(a + b);
      if (left === undefined || right === undefined) {
        throw f.error(field, `${show(left === undefined ? a : b)} is not in the vocabulary`);
      }
      if (merged === undefined)
        throw f.error(field, `the merge ${show(a + b)} is not in the vocabulary`);
      const key = left * PAIR_SCALE + right;
      // A repeated merge keeps its first (best) rank, as other implementations' rank maps do.
      if (!this.merges.has(key)) this.merges.set(key, { rank, id: merged });
    });
    const unk = options.unkToken ?? null;
    this.unkId = unk === null ? null : (vocab.get(unk) ?? null);
    if (unk !== null && this.unkId === null) {
      throw f.error('model.unk_token', `${show(unk)} is not in the vocabulary`);
    }
    this.byteIds = options.byteFallback ? this.findByteTokens() : null;
  }

  /** The ids of `<0x00>`..`<0xFF>`, or null when any is missing (then unknowns go to unk). */
  private findByteTokens(): Int32Array | null {
    const ids = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (id === undefined) return null;
      ids[b] = id;
    }
    return ids;
  }

  /** Token ids of one pre-token. */
  tokenize(word: string): number[] {
    if (word === '') return [];
    if (this.options.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const ids = this.merge(this.symbols(word));
    if (word.length <= CACHE_WORD_LIMIT) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** The word's characters as ids; unknown ones by byte fallback or as unk. */
  private symbols(word: string): number[] {
    const out: number[] = [];
    let lastWasUnk = false;
    for (const ch of word) {
      const id = this.vocab.get(ch);
      if (id !== undefined) {
        out.push(id);
        lastWasUnk = false;
      } else if (this.byteIds !== null) {
        for (const b of utf8.encode(ch)) out.push(this.byteIds[b]);
        lastWasUnk = false;
      } else if (this.unkId !== null) {
        if (!(lastWasUnk && this.options.fuseUnk)) out.push(this.unkId);
        lastWasUnk = true;
      } else {
        const code = (ch.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
        throw new TokenizerError(
          this.file,
          `character ${show(ch)} (U+${code}) is not in the vocabulary, and the model has ` +
            'neither byte fallback nor an unk_token',
        );
      }
    }
    return out;
  }

  /** Applies merges lowest rank first (leftmost among equals) until none applies. */
  private merge(sym: number[]): number[] {
    const n = sym.length;
    if (n < 2) return sym;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new PairHeap();
    const push = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const m = this.merges.get(sym[i] * PAIR_SCALE + sym[j]);
      if (m !== undefined) heap.push(m.rank, i, sym[i], sym[j]);
    };
    for (let i = 0; i < n - 1; i++) push(i);
    while (heap.size > 0) {
      const { pos, left, right } = heap.pop();
      const j = next[pos];
      // Skip entries made stale by an earlier merge at or next to this position.
      if (!alive[pos] || j < 0 || sym[pos] !== left || sym[j] !== right) continue;
      sym[pos] = (this.merges.get(left * PAIR_SCALE + right) as Merge).id;
      alive[j] = 0;
      next[pos] = next[j];
      if (next[j] >= 0) prev[next[j]] = pos;
      if (prev[pos] >= 0) push(prev[pos]);
      push(pos);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }
}

/** A binary min-heap of candidate merges ordered by (rank, position). */
class PairHeap {
  private rank: number[] = [];
  private pos: number[] = [];
  private left: number[] = [];
  private right: number[] = [];

  get size(): number {
    return this.rank.length;
  }

  push(rank: number, pos: number, left: number, right: number): void {
    this.rank.push(rank);
    this.pos.push(pos);
    this.left.push(left);
    this.right.push(right);
    let i = this.rank.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { pos: number; left: number; right: number } {
    const top = { pos: this.pos[0], left: this.left[0], right: this.right[0] };
    const last = this.rank.length - 1;
    this.swap(0, last);
    this.rank.pop();
    this.pos.pop();
    this.left.pop();
    this.right.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < last && this.less(l, smallest)) smallest = l;
      if (r < last && this.less(r, smallest)) smallest = r;
      if (smallest === i) break;
      this.swap(i, smallest);
      i = smallest;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    return (
      this.rank[a] < this.rank[b] || (this.rank[a] === this.rank[b] && this.pos[a] < this.pos[b])
    );
  }

  private swap(a: number, b: number): void {
    for (const arr of [this.rank, this.pos, this.left, this.right]) {
      const t = arr[a];
      arr[a] = arr[b];
      arr[b] = t;
    }
  }
}
