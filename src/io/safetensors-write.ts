/**
 * Writing safetensors checkpoints that Hugging Face `safetensors` and transformers load back.
 *
 * Writes are atomic: the file is built under a temporary name in the destination folder, synced
 * to disk, then renamed over the destination, so a crash never leaves a half-written checkpoint
 * where a good one was. Tensors are encoded one at a time, so memory holds at most one tensor's
 * bytes beyond the tensors themselves.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import {
  DTYPE_SIZE,
  HOST_IS_LITTLE_ENDIAN,
  type SafetensorsDType,
  SafetensorsError,
  toBf16Bits,
  toF16Bits,
} from './safetensors.js';
import type { HalfTensor } from './safetensors-read.js';
import { SHARD_INDEX_NAME } from './safetensors-shards.js';

/** The dtypes sextant writes. LIMITATION: U8, BOOL and the 8-bit floats are read-only for now. */
export type WriteDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64';
export type FloatWriteDType = 'F32' | 'F16' | 'BF16' | 'F64';

/** A tensor to save: a sextant tensor, or 16-bit float bits kept as they are. */
export type SaveEntry = Tensor | HalfTensor;

export interface SaveOptions {
  /** The `__metadata__` string map (Hugging Face writes `{format: 'pt'}`). */
  metadata?: Readonly<Record<string, string>>;
  /** The stored dtype of float tensors: default F32 for float32 and F64 for float64. */
  dtype?: FloatWriteDType;
  /** The stored dtype of int32 tensors: default I32 (PyTorch index buffers are I64). */
  intDtype?: 'I32' | 'I64';
  /** Per-tensor dtypes, overriding `dtype` and `intDtype`. */
  dtypes?: Readonly<Record<string, WriteDType>>;
}

interface Planned {
  readonly name: string;
  readonly entry: SaveEntry;
  readonly dtype: WriteDType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

/**
 * Saves `tensors` to `file` in safetensors format, atomically (temporary file in the same folder,
 * fsync, rename). Throws `SafetensorsError` naming the tensor for a dtype that cannot hold it.
 */
export function saveSafetensors(
  file: string,
  tensors: ReadonlyMap<string, SaveEntry> | Readonly<Record<string, SaveEntry>>,
  options: SaveOptions = {},
): void {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new SafetensorsError(file, 'writing needs a little-endian host (not supported yet)');
  }
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const plan = entries.map(([name, entry]) => planEntry(file, name, entry, options));
  const metadata = checkMetadata(file, options.metadata);
  // Larger elements first (stable otherwise), as Hugging Face does, so each tensor's data stays
  // aligned to its element size when the buffer start is 8-aligned.
  plan.sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype]);
  const header = buildHeader(plan, metadata);
  atomicWrite(file, (fd) => {
    writeAll(fd, header);
    for (const p of plan) writeAll(fd, encode(file, p));
  });
}

function planEntry(file: string, name: string, entry: SaveEntry, options: SaveOptions): Planned {
  if (name === '__metadata__') {
    throw new SafetensorsError(file, 'the name __metadata__ is reserved by the format', name);
  }
  const override = options.dtypes?.[name];
  if (!(entry instanceof Tensor)) {
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.data.length !== count) {
      throw new SafetensorsError(
        file,
        `half tensor of shape [${entry.shape.join(', ')}] needs ${count} values, ` +
          `has ${entry.data.length}`,
        name,
      );
    }
    if (override !== undefined && override !== entry.dtype) {
      throw new SafetensorsError(
        file,
        `${entry.dtype} bits are written as they are; cannot store them as ${override} ` +
          '(widen the tensor first)',
        name,
      );
    }
    return { name, entry, dtype: entry.dtype, shape: entry.shape, byteLength: count * 2 };
  }
  let dtype: WriteDType;
  if (entry.dtype === 'int32') dtype = override ?? options.intDtype ?? 'I32';
  else dtype = override ?? options.dtype ?? (entry.dtype === 'float64' ? 'F64' : 'F32');
  if (entry.dtype !== 'int32' && (dtype === 'I32' || dtype === 'I64')) {
    throw new SafetensorsError(
      file,
      `cannot store a ${entry.dtype} tensor as ${dtype} (cast it to int32 first)`,
      name,
    );
  }
  const byteLength = entry.size * DTYPE_SIZE[dtype];
  return { name, entry, dtype, shape: entry.shape, byteLength };
}

function checkMetadata(
  file: string,
  metadata: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(
        file,
        `metadata values must be strings, got ${typeof v} for key '${k}'`,
      );
    }
  }
  return { ...metadata };
}

/** The 8-byte length plus the JSON header, padded with spaces to a multiple of 8 bytes. */
function buildHeader(plan: readonly Planned[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  let offset = 0;
  for (const p of plan) {
    const entry = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.byteLength] };
    // defineProperty keeps a tensor named '__proto__' an ordinary key.
    Object.defineProperty(header, p.name, { value: entry, enumerable: true });
    offset += p.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** The stored bytes of one planned tensor. */
function encode(file: string, p: Planned): Uint8Array {
  const e = p.entry;
  if (!(e instanceof Tensor)) return bytesOf(e.data);
  const values = e.data;
  switch (p.dtype) {
    case 'F32':
      return bytesOf(values instanceof Float32Array ? values : Float32Array.from(values));
    case 'F64':
      return bytesOf(values instanceof Float64Array ? values : Float64Array.from(values));
    case 'F16':
      return bytesOf(toF16Bits(values));
    case 'BF16':
      return bytesOf(toBf16Bits(values));
    case 'I32':
      return bytesOf(values);
    case 'I64': {
      const wide = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i++) wide[i] = BigInt(values[i]);
      return bytesOf(wide);
    }
    default:
      throw new SafetensorsError(file, `cannot write dtype ${p.dtype}`, p.name);
  }
}

/** Writes all of `bytes` at the current position, in chunks of at most 1 GiB. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(1 << 30, bytes.length - done));
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Runs `write` on a temporary file beside `file`, syncs it and renames it to `file`; on failure
 * removes the temporary file and leaves any existing `file` untouched.
 */
export function atomicWrite(file: string, write: (fd: number) => void): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx');
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(file, `write failed (${(e as Error).message})`);
  }
  syncDir(dir);
}

/** Makes the rename durable; some platforms cannot fsync a folder, which is then skipped. */
function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Not all file systems allow this; the rename itself has already happened.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

export interface ShardOptions extends SaveOptions {
  /** Largest shard in bytes of tensor data (a bigger single tensor gets a shard of its own). */
  maxShardBytes: number;
}

/**
 * Saves a checkpoint folder the way Hugging Face shards one: `model-0000k-of-0000n.safetensors`
 * plus `model.safetensors.index.json`, or a single `model.safetensors` when everything fits in
 * one shard. Shards are written before the index, each atomically. Returns the files written.
 */
export function saveSafetensorsSharded(
  dir: string,
  tensors: ReadonlyMap<string, SaveEntry> | Readonly<Record<string, SaveEntry>>,
  options: ShardOptions,
): string[] {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const groups: [string, SaveEntry][][] = [[]];
  let used = 0;
  let total = 0;
  for (const [name, entry] of entries) {
    const bytes = planEntry(path.join(dir, 'model.safetensors'), name, entry, options).byteLength;
    const current = groups[groups.length - 1];
    if (current.length > 0 && used + bytes > options.maxShardBytes) {
      groups.push([]);
      used = 0;
    }
    groups[groups.length - 1].push([name, entry]);
    used += bytes;
    total += bytes;
  }
  fs.mkdirSync(dir, { recursive: true });
  if (groups.length === 1) {
    saveSafetensors(path.join(dir, 'model.safetensors'), new Map(groups[0]), options);
    return ['model.safetensors'];
  }
  const n = groups.length;
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  groups.forEach((group, k) => {
    const shard = `model-${pad(k + 1)}-of-${pad(n)}.safetensors`;
    saveSafetensors(path.join(dir, shard), new Map(group), options);
    for (const [name] of group) {
      Object.defineProperty(weightMap, name, { value: shard, enumerable: true });
    }
    files.push(shard);
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  const text = `${JSON.stringify(index, null, 2)}\n`;
  atomicWrite(path.join(dir, SHARD_INDEX_NAME), (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
  files.push(SHARD_INDEX_NAME);
  return files;
}

export type { SafetensorsDType };
