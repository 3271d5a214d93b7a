/**
 * Reading safetensors checkpoints without loading them whole: `SafetensorsFile` reads the header
 * when opened and then only the bytes of the tensors asked for, with positioned reads
 * (`fs.readSync` at an offset). `SafetensorsShards` opens a sharded checkpoint
 * (`model.safetensors.index.json`) as one set of tensors, and `HalfTensorStore` keeps F16 / BF16
 * weights in their 16 bits and widens each to float32 only when a layer needs it, so a model
 * whose float32 weights exceed memory can still run.
 *
 * Dtype mapping (the `dtype` option of `read` overrides the default):
 *
 * | stored                  | default   | also allowed      | notes                               |
 * | ----------------------- | --------- | ----------------- | ----------------------------------- |
 * | F32, F16, BF16          | float32   | float64           | widening is exact                   |
 * | F64                     | float64   | float32           | float32 rounds to nearest           |
 * | I32, I16, I8, U16, U8   | int32     | float32, float64  |                                     |
 * | I64, U32, U64           | int32     | float32, float64  | int32: range-checked; floats: exact |
 * | BOOL                    | int32 0/1 | float32, float64  | bytes other than 0, 1: error        |
 * | F8_E4M3, F8_E5M2        | -         | -                 | not supported yet                   |
 */
// The default import (not named imports) so that tests can observe reads by wrapping readSync.
import fs from 'node:fs';
import type { AnyArray } from '../backends/kernels.js';
import { allocate, type DType, type FloatDType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import {
  bf16ToF32,
  f16ToF32,
  type HalfDType,
  HOST_IS_LITTLE_ENDIAN,
  MAX_HEADER_BYTES,
  type ParsedHeader,
  parseHeader,
  SafetensorsError,
  type TensorInfo,
} from './safetensors.js';

/** Options of `read`: the dtype of the returned tensor (see the table at the top of the file). */
export interface ReadOptions {
  dtype?: DType;
}

/** A 16-bit float tensor kept as its raw bits. */
export interface HalfTensor {
  readonly dtype: HalfDType;
  readonly shape: readonly number[];
  readonly data: Uint16Array;
}

/** What a single file and a sharded set have in common: named tensors read on demand. */
export interface TensorSource {
  /** The file (or index file) this was opened from. */
  readonly path: string;
  /** The `__metadata__` map (of the first shard, for a sharded set). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names in file order (shard by shard for a sharded set). */
  names(): string[];
  has(name: string): boolean;
  /** The tensor's dtype, shape and byte range, without reading it. */
  info(name: string): TensorInfo;
  /** Reads one tensor into memory, converted as the dtype table says. */
  read(name: string, options?: ReadOptions): Tensor;
  /** The tensor's stored bytes, unconverted (little-endian). */
  readRaw(name: string): Uint8Array;
  /** An F16 or BF16 tensor as its 16-bit patterns, without widening. */
  readHalf(name: string): HalfTensor;
  close(): void;
}

/** Largest single read: `fs.readSync` lengths are limited to 2^31 - 1 bytes. */
const READ_CHUNK = 1 << 30;

/** One safetensors file, open for reading. Call `close()` when done. */
export class SafetensorsFile implements TensorSource {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Size of the file when it was opened. */
  readonly fileSize: number;
  private readonly header: ParsedHeader;
  private fd: number | null;
  private readCount = 0;

  private constructor(file: string, fd: number, fileSize: number, header: ParsedHeader) {
    this.path = file;
    this.fd = fd;
    this.fileSize = fileSize;
    this.header = header;
    this.metadata = header.metadata;
  }

  /** Opens `file` and reads and validates its header only. Throws `SafetensorsError`. */
  static open(file: string): SafetensorsFile {
    if (!HOST_IS_LITTLE_ENDIAN) {
      throw new SafetensorsError(file, 'reading needs a little-endian host (not supported yet)');
    }
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new SafetensorsError(file, `cannot open (${(e as Error).message})`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      const counter = { bytes: 0 };
      const header = readHeader(file, fd, size, counter);
      const opened = new SafetensorsFile(file, fd, size, header);
      opened.readCount = counter.bytes;
      return opened;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Bytes read from the file so far, header included (to check that reads stay partial). */
  get bytesRead(): number {
    return this.readCount;
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (t === undefined) {
      const names = this.names();
      const shown = names.slice(0, 8).join(', ') + (names.length > 8 ? ', ...' : '');
      throw new SafetensorsError(
        this.path,
        `no such tensor (the file has ${names.length}: ${shown})`,
        name,
      );
    }
    return t;
  }

  readRaw(name: string): Uint8Array {
    const t = this.info(name);
    const bytes = new Uint8Array(t.byteLength);
    this.readInto(bytes, t.fileOffset, name);
    return bytes;
  }

  readHalf(name: string): HalfTensor {
    const t = this.info(name);
    if (t.dtype !== 'F16' && t.dtype !== 'BF16') {
      throw new SafetensorsError(this.path, `readHalf needs F16 or BF16, got ${t.dtype}`, name);
    }
    const bytes = this.readRaw(name);
    const data = new Uint16Array(bytes.buffer, 0, bytes.length / 2);
    return Object.freeze({ dtype: t.dtype, shape: t.shape, data });
  }

  read(name: string, options: ReadOptions = {}): Tensor {
    const t = this.info(name);
    const target = options.dtype ?? defaultDType(t);
    if (t.dtype === 'F8_E4M3' || t.dtype === 'F8_E5M2') {
      // LIMITATION: 8-bit float checkpoints are not decoded yet.
      throw new SafetensorsError(this.path, `dtype ${t.dtype} is not supported yet`, name);
    }
    if (target === 'int32' && isFloatStored(t)) {
      throw new SafetensorsError(
        this.path,
        `cannot read ${t.dtype} as int32 (expected float32 or float64)`,
        name,
      );
    }
    // Read straight into the result when the stored layout is the requested one.
    if (
      (t.dtype === 'F32' && target === 'float32') ||
      (t.dtype === 'F64' && target === 'float64')
    ) {
      const out = allocate(target, t.byteLength / (t.dtype === 'F32' ? 4 : 8));
      this.readInto(new Uint8Array(out.buffer), t.fileOffset, name);
      return new Tensor(out, t.shape);
    }
    if (t.dtype === 'I32' && target === 'int32') {
      const out = new Int32Array(t.byteLength / 4);
      this.readInto(new Uint8Array(out.buffer), t.fileOffset, name);
      return new Tensor(out, t.shape);
    }
    const bytes = this.readRaw(name);
    return new Tensor(convert(this.path, t, bytes, target), t.shape);
  }

  /** Closes the file; later reads throw. Safe to call twice. */
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private readInto(into: Uint8Array, position: number, name: string): void {
    if (this.fd === null) {
      throw new SafetensorsError(this.path, 'read after close()', name);
    }
    const counter = { bytes: 0 };
    try {
      readFully(this.path, this.fd, into, position, counter, name);
    } finally {
      this.readCount += counter.bytes;
    }
  }
}

function defaultDType(t: TensorInfo): DType {
  if (t.dtype === 'F64') return 'float64';
  return isFloatStored(t) ? 'float32' : 'int32';
}

function isFloatStored(t: TensorInfo): boolean {
  return t.dtype.startsWith('F') || t.dtype === 'BF16';
}

/** Reads exactly `into.length` bytes at `position`, in chunks; a short file is an error. */
function readFully(
  file: string,
  fd: number,
  into: Uint8Array,
  position: number,
  counter: { bytes: number },
  tensor?: string,
): void {
  let done = 0;
  while (done < into.length) {
    const want = Math.min(READ_CHUNK, into.length - done);
    const got = fs.readSync(fd, into, done, want, position + done);
    if (got === 0) {
      throw new SafetensorsError(
        file,
        `file ended at byte ${position + done}, expected ${into.length - done} more ` +
          '(was it changed after opening?)',
        tensor,
      );
    }
    done += got;
    counter.bytes += got;
  }
}

function readHeader(
  file: string,
  fd: number,
  size: number,
  counter: { bytes: number },
): ParsedHeader {
  if (size < 8) {
    throw new SafetensorsError(file, `file has ${size} bytes, fewer than the 8-byte header length`);
  }
  const lengthBytes = new Uint8Array(8);
  readFully(file, fd, lengthBytes, 0, counter);
  const n = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      file,
      `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit of the format`,
    );
  }
  const headerLength = Number(n);
  if (8 + headerLength > size) {
    throw new SafetensorsError(
      file,
      `header length ${headerLength} exceeds the file (${size} bytes, ` +
        `${size - 8} after the length)`,
    );
  }
  const headerBytes = new Uint8Array(headerLength);
  readFully(file, fd, headerBytes, 8, counter);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8');
  }
  return parseHeader(file, text, 8 + headerLength, size - 8 - headerLength);
}

/** Converts stored little-endian bytes of `t` to a typed array of `target`. */
function convert(file: string, t: TensorInfo, bytes: Uint8Array, target: DType): AnyArray {
  const buf = bytes.buffer;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = allocate(target, n);
  const fail = (i: number, value: bigint | number, why: string): never => {
    throw new SafetensorsError(
      file,
      `element ${i} of ${t.dtype} has value ${value}, ${why} (read it as another dtype, ` +
        'or convert the checkpoint)',
      t.name,
    );
  };
  switch (t.dtype) {
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(buf, 0, n);
      const wide = t.dtype === 'F16' ? f16ToF32(bits) : bf16ToF32(bits);
      if (target === 'float32') return wide;
      out.set(wide);
      return out;
    }
    case 'I64':
    case 'U64': {
      const src = t.dtype === 'I64' ? new BigInt64Array(buf, 0, n) : new BigUint64Array(buf, 0, n);
      const [lo, hi] =
        target === 'int32' ? [-(2n ** 31n), 2n ** 31n - 1n] : [-(2n ** 53n), 2n ** 53n];
      const range = target === 'int32' ? 'outside the int32 range' : 'not exactly representable';
      for (let i = 0; i < n; i++) {
        const v = src[i];
        if (v < lo || v > hi) fail(i, v, range);
        out[i] = Number(v);
      }
      return out;
    }
    case 'U32': {
      const src = new Uint32Array(buf, 0, n);
      for (let i = 0; i < n; i++) {
        if (target === 'int32' && src[i] > 0x7fffffff) fail(i, src[i], 'outside the int32 range');
        out[i] = src[i];
      }
      return out;
    }
    case 'BOOL': {
      for (let i = 0; i < n; i++) {
        if (bytes[i] > 1) fail(i, bytes[i], 'but BOOL bytes must be 0 or 1');
        out[i] = bytes[i];
      }
      return out;
    }
    default: {
      out.set(storedView(t, buf, n));
      return out;
    }
  }
}

/** A typed-array view of the stored values for the dtypes that `TypedArray.set` converts. */
function storedView(t: TensorInfo, buf: ArrayBufferLike, n: number): ArrayLike<number> {
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(buf, 0, n);
    case 'F64':
      return new Float64Array(buf, 0, n);
    case 'I32':
      return new Int32Array(buf, 0, n);
    case 'I16':
      return new Int16Array(buf, 0, n);
    case 'U16':
      return new Uint16Array(buf, 0, n);
    case 'I8':
      return new Int8Array(buf, 0, n);
    case 'U8':
      return new Uint8Array(buf, 0, n);
    default:
      throw new Error(`safetensors: internal: no view for ${t.dtype}`);
  }
}

/** Widens a half tensor to a float tensor (float32 by default). */
export function widenHalf(half: HalfTensor, dtype: FloatDType = 'float32'): Tensor {
  const wide = half.dtype === 'F16' ? f16ToF32(half.data) : bf16ToF32(half.data);
  return new Tensor(dtype === 'float32' ? wide : Float64Array.from(wide), half.shape);
}

/**
 * F16 / BF16 weights kept in memory as 16-bit patterns (half the bytes of float32), widened
 * one at a time with `widen(name)` when a layer runs. A 7B-parameter model takes about 13.5 GB
 * this way instead of 27 GB.
 */
export class HalfTensorStore {
  private readonly entries = new Map<string, HalfTensor>();

  /**
   * Loads the F16 / BF16 tensors of `source` (all of them, or those in `names`, each of which
   * must be F16 or BF16). Other tensors are left for `source.read`.
   */
  static load(source: TensorSource, names?: Iterable<string>): HalfTensorStore {
    const store = new HalfTensorStore();
    const wanted = names ?? source.names().filter((n) => isHalf(source.info(n).dtype));
    for (const name of wanted) store.set(name, source.readHalf(name));
    return store;
  }

  set(name: string, half: HalfTensor): void {
    this.entries.set(name, half);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The stored half tensor; throws naming the missing tensor. */
  get(name: string): HalfTensor {
    const half = this.entries.get(name);
    if (half === undefined) {
      throw new SafetensorsError('HalfTensorStore', 'no such tensor in the store', name);
    }
    return half;
  }

  /** A fresh float tensor of `name`'s values; the 16-bit copy stays in the store. */
  widen(name: string, dtype: FloatDType = 'float32'): Tensor {
    return widenHalf(this.get(name), dtype);
  }

  /** Bytes held by the stored 16-bit data. */
  get byteLength(): number {
    let total = 0;
    for (const h of this.entries.values()) total += h.data.byteLength;
    return total;
  }

  delete(name: string): boolean {
    return this.entries.delete(name);
  }
}

function isHalf(dtype: string): dtype is HalfDType {
  return dtype === 'F16' || dtype === 'BF16';
}
