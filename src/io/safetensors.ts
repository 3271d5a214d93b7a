/**
 * The safetensors format, shared by the reader (`safetensors-read.ts`) and the writer
 * (`safetensors-write.ts`): the dtype table, the typed error, the header parser and validator,
 * and the float16 / bfloat16 bit conversions.
 *
 * A safetensors file is: 8 bytes holding N as an unsigned little-endian 64-bit integer; N bytes
 * of UTF-8 JSON (an object mapping each tensor name to `{dtype, shape, data_offsets}`, plus an
 * optional `__metadata__` map of strings), padded with spaces; then the data buffer. Each
 * tensor's `data_offsets` are `[begin, end)` relative to the start of the buffer, and the tensors
 * tile the buffer exactly: no gaps, no overlaps, nothing left over. All numbers little-endian.
 *
 * Validation here is total: every malformed header becomes a `SafetensorsError` naming the file
 * and, where one is at fault, the tensor. Nothing here reads tensor bytes.
 */

/** The element types of the safetensors specification that sextant knows the size of. */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Bytes per element of each known dtype. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
});

/** The 16-bit float dtypes that `readHalf` and `HalfTensorStore` keep as raw bits. */
export type HalfDType = 'F16' | 'BF16';

/** The spec caps the header at 100 MB, so a corrupt length cannot make us allocate gigabytes. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A file that is not valid safetensors, or a read that cannot be done; names file and tensor. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  /** The file at fault. */
  readonly file: string;
  /** The tensor at fault, when one is. */
  readonly tensor: string | undefined;

  constructor(file: string, message: string, tensor?: string) {
    const where = tensor === undefined ? '' : ` tensor '${tensor}':`;
    super(`safetensors ${file}:${where} ${message}`);
    this.file = file;
    this.tensor = tensor;
  }
}

/** One tensor's entry in a validated header. Offsets are relative to the data buffer. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** `[begin, end)` in bytes, relative to the start of the data buffer (as in the header). */
  readonly dataOffsets: readonly [number, number];
  /** Absolute position of the first byte in the file (8 + header length + begin). */
  readonly fileOffset: number;
  readonly byteLength: number;
}

/** A validated header: tensors in file order and the metadata map. */
export interface ParsedHeader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
}

export function isKnownDType(s: string): s is SafetensorsDType {
  return Object.hasOwn(DTYPE_SIZE, s);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Parses and validates the JSON header of a file whose data buffer holds `dataBytes` bytes and
 * starts at file position `dataStart`. Throws `SafetensorsError` on any defect.
 */
export function parseHeader(
  file: string,
  headerText: string,
  dataStart: number,
  dataBytes: number,
): ParsedHeader {
  // The spec requires the header to open with '{'; this also rejects leading padding.
  if (!headerText.startsWith('{')) {
    throw new SafetensorsError(file, `header must start with '{', got ${describe(headerText[0])}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(file, `header must be a JSON object, got ${describe(json)}`);
  }
  // JSON.parse keeps the last of two equal keys without a word; scan the text for them.
  const duplicate = findDuplicateKey(headerText);
  if (duplicate !== null) {
    const path = duplicate.map((k) => `'${k}'`).join(' > ');
    throw new SafetensorsError(file, `header has a duplicate key ${path}`, duplicate[0]);
  }
  const entries = json as Record<string, unknown>;
  const metadata = parseMetadata(file, entries.__metadata__);
  const infos: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    if (name === '__metadata__') continue;
    infos.push(parseEntry(file, name, entry, dataStart));
  }
  checkTiling(file, infos, dataBytes);
  return { tensors: new Map(infos.map((t) => [t.name, t])), metadata };
}

function parseMetadata(file: string, value: unknown): Readonly<Record<string, string>> {
  if (value === undefined || value === null) return Object.freeze({});
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(file, `__metadata__ must be an object, got ${describe(value)}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(
        file,
        `__metadata__ values must be strings, got ${describe(v)} for key '${k}'`,
      );
    }
    // defineProperty, not assignment: a key such as '__proto__' must stay an ordinary entry.
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return Object.freeze(out);
}

function parseEntry(file: string, name: string, entry: unknown, dataStart: number): TensorInfo {
  const fail = (msg: string): never => {
    throw new SafetensorsError(file, msg, name);
  };
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    fail(`entry must be an object {dtype, shape, data_offsets}, got ${describe(entry)}`);
  }
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
      fail(`unexpected key '${key}' (expected only dtype, shape, data_offsets)`);
    }
  }
  const { dtype, shape, data_offsets: offsets } = e;
  if (typeof dtype !== 'string') return fail(`dtype must be a string, got ${describe(dtype)}`);
  if (!isKnownDType(dtype)) {
    return fail(`unknown dtype '${dtype}' (known: ${Object.keys(DTYPE_SIZE).join(', ')})`);
  }
  if (!Array.isArray(shape)) return fail(`shape must be an array, got ${describe(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`shape ${describe(shape)} has dimension ${describe(d)}; expected integers >= 0`);
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    return fail(`data_offsets must be [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      fail(`data_offsets ${describe(offsets)} must hold integers >= 0`);
    }
  }
  const b = begin as number;
  const en = end as number;
  if (en < b) fail(`data_offsets [${b}, ${en}] end before they begin`);
  const byteLength = en - b;
  const itemSize = DTYPE_SIZE[dtype];
  // Multiply step by step, stopping before the product leaves the exact integer range.
  let count = shape.includes(0) ? 0 : 1;
  let overflow = false;
  for (const d of shape as number[]) {
    if (count === 0) break;
    if (count * d * itemSize > Number.MAX_SAFE_INTEGER) {
      overflow = true;
      break;
    }
    count *= d;
  }
  if (overflow || count * itemSize !== byteLength) {
    const shown = overflow ? 'more than 2^53' : `${count * itemSize}`;
    fail(
      `shape ${describe(shape)} of ${dtype} needs ${shown} bytes, but data_offsets ` +
        `[${b}, ${en}] hold ${byteLength}`,
    );
  }
  return Object.freeze({
    name,
    dtype,
    shape: Object.freeze([...(shape as number[])]),
    dataOffsets: Object.freeze([b, en] as [number, number]),
    fileOffset: dataStart + b,
    byteLength,
  });
}

/** The tensors must tile `[0, dataBytes)` exactly, as the spec demands. */
function checkTiling(file: string, infos: readonly TensorInfo[], dataBytes: number): void {
  const sorted = [...infos].sort(
    (x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1],
  );
  let covered = 0;
  let previous: TensorInfo | undefined;
  for (const t of sorted) {
    const [b, e] = t.dataOffsets;
    if (e > dataBytes) {
      throw new SafetensorsError(
        file,
        `data_offsets [${b}, ${e}] fall outside the data buffer of ${dataBytes} bytes`,
        t.name,
      );
    }
    if (b < covered) {
      throw new SafetensorsError(
        file,
        `data_offsets [${b}, ${e}] overlap tensor '${previous?.name}' ` +
          `[${previous?.dataOffsets[0]}, ${previous?.dataOffsets[1]}]`,
        t.name,
      );
    }
    if (b > covered) {
      throw new SafetensorsError(
        file,
        `data_offsets [${b}, ${e}] leave bytes [${covered}, ${b}) of the buffer unused ` +
          '(tensors must cover the buffer exactly)',
        t.name,
      );
    }
    covered = e;
    previous = t;
  }
  if (covered !== dataBytes) {
    throw new SafetensorsError(
      file,
      `the tensors cover ${covered} bytes of the data buffer, but it holds ${dataBytes} ` +
        '(trailing bytes, or a truncated header)',
    );
  }
}

/**
 * Returns the key path of the first key repeated within one JSON object of `text` (which must
 * be valid JSON), or null. Walks the text once with an explicit stack, so deep nesting cannot
 * overflow the call stack.
 */
export function findDuplicateKey(text: string): string[] | null {
  // One frame per open container: the keys seen (objects only) and the key that led into it.
  const stack: { keys: Set<string> | null; via: string }[] = [];
  let pendingKey = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j + 1;
      // A string is a key when the next non-space character is ':'.
      let k = i;
      while (k < n && isJsonSpace(text.charCodeAt(k))) k++;
      const top = stack[stack.length - 1];
      if (text.charCodeAt(k) === 0x3a /* : */ && top?.keys) {
        const key = JSON.parse(raw) as string;
        if (top.keys.has(key)) return [...stack.slice(1).map((f) => f.via), key];
        top.keys.add(key);
        pendingKey = key;
        i = k + 1;
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push({ keys: c === 0x7b ? new Set() : null, via: pendingKey });
      pendingKey = '';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    }
    i++;
  }
  return null;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

// ---- float16 and bfloat16 bits. Widening is exact; narrowing rounds to nearest, ties to even.

let f16Table: Float32Array | null = null;

/** All 65536 float16 values as float32, built once (256 KB) so widening is one lookup. */
function halfTable(): Float32Array {
  if (f16Table !== null) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

/** Widens float16 bits to float32 (exact). */
export function f16ToF32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const table = halfTable();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Widens bfloat16 bits to float32 (exact: bfloat16 is the top half of a float32). */
export function bf16ToF32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return out;
}

/** Rounds `v` to an integer, ties to even (exact for the magnitudes used here). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Bits of the nearest binary float with `expBits` exponent and `mantBits` fraction bits to `x`
 * (ties to even; overflow to infinity; NaN to the quiet NaN). Works from the exact double, so a
 * float64 input is rounded once, not twice through float32.
 */
function toSmallFloatBits(x: number, expBits: number, mantBits: number): number {
  const bias = 2 ** (expBits - 1) - 1;
  const expMask = 2 ** expBits - 1;
  const signBit = 2 ** (expBits + mantBits);
  const inf = expMask * 2 ** mantBits;
  if (Number.isNaN(x)) return inf | (1 << (mantBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  // At or past the midpoint between the largest finite value and 2^(bias+1): infinity.
  if (a >= (2 - 2 ** -(mantBits + 1)) * 2 ** bias) return sign | inf;
  const minNormal = 2 ** (1 - bias);
  if (a < minNormal) {
    // Subnormal: a multiple of 2^(1 - bias - mantBits); rounding up may reach the smallest normal,
    // whose bits follow on naturally.
    return sign | roundHalfEven(a / 2 ** (1 - bias - mantBits));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e - 1) * 2 ** mantBits);
  if (m === 2 ** mantBits) {
    m = 0;
    e++;
  }
  return sign | ((e + bias) * 2 ** mantBits + m);
}

/** Narrows numbers to float16 bits, rounding to nearest even. */
export function toF16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toSmallFloatBits(values[i], 5, 10);
  return out;
}

/** Narrows numbers to bfloat16 bits, rounding to nearest even (as PyTorch does). */
export function toBf16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toSmallFloatBits(values[i], 8, 7);
  return out;
}

/**
 * The format is little-endian; sextant reads it through typed arrays in host byte order.
 * LIMITATION: big-endian hosts are refused with a "not supported yet" error.
 */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
