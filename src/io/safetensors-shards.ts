/**
 * Sharded safetensors checkpoints, as the Hugging Face hub stores large models: a
 * `model.safetensors.index.json` whose `weight_map` maps each tensor name to the shard file that
 * holds it, next to the shards. `SafetensorsShards` opens them as one set of tensors;
 * `openSafetensors` opens a file, an index or a model folder alike.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { findDuplicateKey, SafetensorsError, type TensorInfo } from './safetensors.js';
import {
  type HalfTensor,
  type ReadOptions,
  SafetensorsFile,
  type TensorSource,
} from './safetensors-read.js';

/** The index file name Hugging Face uses for sharded safetensors checkpoints. */
export const SHARD_INDEX_NAME = 'model.safetensors.index.json';
/** The single-file checkpoint name Hugging Face uses. */
export const SINGLE_FILE_NAME = 'model.safetensors';

/** Index files are small JSON maps; refuse absurd sizes rather than read them whole. */
const MAX_INDEX_BYTES = 100_000_000;

/** Several shard files opened as one logical checkpoint. Call `close()` when done. */
export class SafetensorsShards implements TensorSource {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The index's own `metadata` object (Hugging Face writes `total_size` there). */
  readonly indexMetadata: Readonly<Record<string, unknown>>;
  private readonly shards: ReadonlyMap<string, SafetensorsFile>;
  private readonly owner: ReadonlyMap<string, SafetensorsFile>;

  private constructor(
    indexPath: string,
    shards: Map<string, SafetensorsFile>,
    owner: Map<string, SafetensorsFile>,
    indexMetadata: Record<string, unknown>,
  ) {
    this.path = indexPath;
    this.shards = shards;
    this.owner = owner;
    this.indexMetadata = Object.freeze(indexMetadata);
    this.metadata = shards.values().next().value?.metadata ?? Object.freeze({});
  }

  /**
   * Opens the index at `indexPath` and the header of every shard it names. Every tensor in the
   * weight map must be in its shard, and every tensor of a shard must be mapped to that shard.
   */
  static open(indexPath: string): SafetensorsShards {
    const { weightMap, metadata } = readIndex(indexPath);
    const dir = path.dirname(indexPath);
    const shards = new Map<string, SafetensorsFile>();
    try {
      for (const shardName of new Set(weightMap.values())) {
        shards.set(shardName, SafetensorsFile.open(path.join(dir, shardName)));
      }
      const owner = new Map<string, SafetensorsFile>();
      for (const [name, shardName] of weightMap) {
        const shard = shards.get(shardName) as SafetensorsFile;
        if (!shard.has(name)) {
          throw new SafetensorsError(
            indexPath,
            `weight_map puts it in '${shardName}', which has no such tensor`,
            name,
          );
        }
        owner.set(name, shard);
      }
      for (const [shardName, shard] of shards) {
        for (const name of shard.names()) {
          if (owner.get(name) !== shard) {
            const mapped = weightMap.get(name);
            throw new SafetensorsError(
              indexPath,
              `found in shard '${shardName}' but weight_map ` +
                (mapped === undefined ? 'does not list it' : `maps it to '${mapped}'`),
              name,
            );
          }
        }
      }
      return new SafetensorsShards(indexPath, shards, owner, metadata);
    } catch (e) {
      for (const s of shards.values()) s.close();
      throw e;
    }
  }

  /** The shard file names, in the order the index first names them. */
  shardFiles(): string[] {
    return [...this.shards.keys()];
  }

  names(): string[] {
    return [...this.shards.values()].flatMap((s) => s.names());
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    return this.shardOf(name).info(name);
  }

  read(name: string, options?: ReadOptions): Tensor {
    return this.shardOf(name).read(name, options);
  }

  readRaw(name: string): Uint8Array {
    return this.shardOf(name).readRaw(name);
  }

  readHalf(name: string): HalfTensor {
    return this.shardOf(name).readHalf(name);
  }

  /** Bytes read from all shards so far, headers included. */
  get bytesRead(): number {
    let total = 0;
    for (const s of this.shards.values()) total += s.bytesRead;
    return total;
  }

  close(): void {
    for (const s of this.shards.values()) s.close();
  }

  private shardOf(name: string): SafetensorsFile {
    const shard = this.owner.get(name);
    if (shard === undefined) {
      throw new SafetensorsError(
        this.path,
        `no such tensor (the weight map has ${this.owner.size})`,
        name,
      );
    }
    return shard;
  }
}

function readIndex(indexPath: string): {
  weightMap: Map<string, string>;
  metadata: Record<string, unknown>;
} {
  let text: string;
  try {
    const size = fs.statSync(indexPath).size;
    if (size > MAX_INDEX_BYTES) {
      throw new Error(`${size} bytes, more than the ${MAX_INDEX_BYTES} accepted`);
    }
    text = fs.readFileSync(indexPath, 'utf8');
  } catch (e) {
    throw new SafetensorsError(indexPath, `cannot read index (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(indexPath, `index is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(indexPath, 'index must be a JSON object with a weight_map');
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) {
    const last = duplicate[duplicate.length - 1];
    throw new SafetensorsError(indexPath, `duplicate key '${duplicate.join("' > '")}'`, last);
  }
  // Other top-level keys cannot change any tensor's bytes, so they are allowed.
  const { weight_map: map, metadata } = json as Record<string, unknown>;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new SafetensorsError(indexPath, `weight_map must be an object, got ${typeof map}`);
  }
  if (metadata !== undefined && (metadata === null || typeof metadata !== 'object')) {
    throw new SafetensorsError(indexPath, 'metadata must be an object');
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || !isPlainRelative(shard)) {
      throw new SafetensorsError(
        indexPath,
        `weight_map value must be a shard file name beside the index, got ${JSON.stringify(shard)}`,
        name,
      );
    }
    weightMap.set(name, shard);
  }
  if (weightMap.size === 0) throw new SafetensorsError(indexPath, 'weight_map is empty');
  return { weightMap, metadata: { ...(metadata as Record<string, unknown> | undefined) } };
}

/** A shard must stay inside the checkpoint folder: relative, no '..' segments. */
function isPlainRelative(p: string): boolean {
  if (p === '' || path.isAbsolute(p) || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((seg) => seg !== '..' && seg !== '');
}

/**
 * Opens a checkpoint: a `.safetensors` file, a `*.index.json` shard index, or a model folder
 * holding `model.safetensors.index.json` (preferred) or `model.safetensors`.
 */
export function openSafetensors(location: string): TensorSource {
  let isDir = false;
  try {
    isDir = fs.statSync(location).isDirectory();
  } catch (e) {
    throw new SafetensorsError(location, `cannot open (${(e as Error).message})`);
  }
  if (isDir) {
    const index = path.join(location, SHARD_INDEX_NAME);
    if (fs.existsSync(index)) return SafetensorsShards.open(index);
    const single = path.join(location, SINGLE_FILE_NAME);
    if (fs.existsSync(single)) return SafetensorsFile.open(single);
    throw new SafetensorsError(
      location,
      `folder has neither ${SHARD_INDEX_NAME} nor ${SINGLE_FILE_NAME}`,
    );
  }
  if (location.endsWith('.index.json')) return SafetensorsShards.open(location);
  return SafetensorsFile.open(location);
}
