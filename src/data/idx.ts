/**
 * IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.
 *
 * Layout (big-endian): two zero bytes, a type byte, the number of dimensions n, then n sizes as
 * 32-bit integers, then the values row-major. Images are `[N, H, W]` unsigned bytes (magic
 * 0x00000803 = 2051), labels `[N]` unsigned bytes (magic 0x00000801 = 2049).
 */
import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from './errors.js';

/** The IDX element types: type byte, name, bytes per element. */
const IDX_TYPES: Record<number, { name: IdxType; size: number }> = {
  8: { name: 'uint8', size: 1 },
  9: { name: 'int8', size: 1 },
  11: { name: 'int16', size: 2 },
  12: { name: 'int32', size: 4 },
  13: { name: 'float32', size: 4 },
  14: { name: 'float64', size: 8 },
};

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The magic number of IDX image files (unsigned bytes, 3 dimensions). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** The magic number of IDX label files (unsigned bytes, 1 dimension). */
export const IDX_LABELS_MAGIC = 0x00000801;

/** An IDX array read into memory: values as numbers in a typed array, row-major. */
export interface IdxArray {
  /** The magic number (`0x0000 type ndim`). */
  magic: number;
  type: IdxType;
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Reads an IDX file, gunzipping it when it starts with the gzip signature. */
export function readIdx(file: string): IdxArray {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(file, `cannot read the IDX file (${(e as Error).message})`);
  }
  let bytes = raw;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      bytes = gunzipSync(raw);
    } catch (e) {
      throw new DataError(file, `is gzipped but does not decompress (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, file);
}

/** Parses IDX bytes (not gzipped); `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new DataError(file, `too short for an IDX header (${bytes.length} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const typeInfo = IDX_TYPES[bytes[2] as number];
  const ndim = bytes[3] as number;
  if (bytes[0] !== 0 || bytes[1] !== 0 || typeInfo === undefined || ndim === 0) {
    throw new DataError(
      file,
      `not an IDX file: magic number 0x${magic.toString(16).padStart(8, '0')}, expected ` +
        '0x000008nn..0x00000enn (e.g. 0x00000803 for images, 0x00000801 for labels)',
    );
  }
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new DataError(
      file,
      `the IDX header needs ${headerBytes} bytes, the file has ${bytes.length}`,
    );
  }
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * typeInfo.size;
  if (bytes.length !== expected) {
    throw new DataError(
      file,
      `an IDX ${typeInfo.name} array of shape [${dims.join(', ')}] needs ${expected} bytes, ` +
        `the file has ${bytes.length} (truncated or not IDX)`,
    );
  }
  const body = headerBytes;
  let data: IdxArray['data'];
  switch (typeInfo.name) {
    case 'uint8':
      data = Uint8Array.from(bytes.subarray(body, expected));
      break;
    case 'int8':
      data = Int8Array.from(bytes.subarray(body, expected), (b) => (b << 24) >> 24);
      break;
    default: {
      // Multi-byte values are big-endian: read each through the DataView.
      const n = count;
      const s = typeInfo.size;
      if (typeInfo.name === 'int16') {
        data = Int16Array.from({ length: n }, (_, i) => view.getInt16(body + i * s, false));
      } else if (typeInfo.name === 'int32') {
        data = Int32Array.from({ length: n }, (_, i) => view.getInt32(body + i * s, false));
      } else if (typeInfo.name === 'float32') {
        data = Float32Array.from({ length: n }, (_, i) => view.getFloat32(body + i * s, false));
      } else {
        data = Float64Array.from({ length: n }, (_, i) => view.getFloat64(body + i * s, false));
      }
    }
  }
  return { magic, type: typeInfo.name, dims, data };
}

/** A labelled image set: pixels scaled to [0, 1]. */
export interface ImageSet {
  /** `[N, H, W]` row-major, values in [0, 1]. */
  pixels: Float32Array;
  /** `[N]` class ids. */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  /** One more than the largest label. */
  numClasses: number;
  /** The two files, for messages and configs. */
  source: { images: string; labels: string };
}

/**
 * Reads an IDX image file and its IDX label file, checking their magic numbers (2051 and 2049)
 * and that they hold the same number of examples.
 */
export function readImageSet(imagesFile: string, labelsFile: string): ImageSet {
  const images = readIdx(imagesFile);
  if (images.magic !== IDX_IMAGES_MAGIC) {
    throw new DataError(
      imagesFile,
      `expected IDX images (magic 0x00000803: unsigned bytes, [N, H, W]), got magic ` +
        `0x${images.magic.toString(16).padStart(8, '0')} (${images.type}, ` +
        `[${images.dims.join(', ')}])` +
        (images.magic === IDX_LABELS_MAGIC ? '; this is a label file' : ''),
    );
  }
  const labels = readIdx(labelsFile);
  if (labels.magic !== IDX_LABELS_MAGIC) {
    throw new DataError(
      labelsFile,
      `expected IDX labels (magic 0x00000801: unsigned bytes, [N]), got magic ` +
        `0x${labels.magic.toString(16).padStart(8, '0')} (${labels.type}, ` +
        `[${labels.dims.join(', ')}])` +
        (labels.magic === IDX_IMAGES_MAGIC ? '; this is an image file' : ''),
    );
  }
  const [N, H, W] = images.dims as [number, number, number];
  const [M] = labels.dims as [number];
  if (N !== M) {
    throw new DataError(
      labelsFile,
      `holds ${M} labels but ${imagesFile} holds ${N} images; give the labels of those images`,
    );
  }
  if (N === 0) throw new DataError(imagesFile, 'holds no images');
  const pixels = new Float32Array(N * H * W);
  const raw = images.data as Uint8Array;
  for (let i = 0; i < pixels.length; i++) pixels[i] = (raw[i] as number) / 255;
  const labelIds = Int32Array.from(labels.data as Uint8Array);
  let numClasses = 0;
  for (const l of labelIds) numClasses = Math.max(numClasses, l + 1);
  return {
    pixels,
    labels: labelIds,
    count: N,
    height: H,
    width: W,
    numClasses,
    source: { images: imagesFile, labels: labelsFile },
  };
}
