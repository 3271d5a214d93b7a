/**
 * safetensors: reading a file that PyTorch made (`fixtures/io/make_safetensors.py` wrote it with
 * struct and json from the published format, and stored torch's values beside it), round trips
 * of every written dtype, float16 / bfloat16 rounding against torch bit for bit, partial reads,
 * shards, atomic writes, every malformed-header case with its message, and fuzzing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  atomicWrite,
  HalfTensorStore,
  openSafetensors,
  SafetensorsError,
  SafetensorsFile,
  SafetensorsShards,
  saveSafetensors,
  saveSafetensorsSharded,
  toBf16Bits,
  toF16Bits,
} from '../src/io/index.js';
import { Tensor } from '../src/tensor/tensor.js';

const fixtureDir = new URL('../../fixtures/io/', import.meta.url);
const torchFile = new URL('torch-dtypes.safetensors', fixtureDir).pathname;

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  bits?: number[];
}
const expected = JSON.parse(
  fs.readFileSync(new URL('torch-dtypes.json', fixtureDir), 'utf8'),
) as Record<string, Expected>;

/** JSON cannot hold NaN or infinities; the fixture spells them as strings. */
function num(v: number | string): number {
  if (v === 'nan') return Number.NaN;
  if (v === 'inf') return Number.POSITIVE_INFINITY;
  if (v === '-inf') return Number.NEGATIVE_INFINITY;
  return v as number;
}

/** Exact equality that treats NaN as equal to NaN and tells -0 from +0. */
function assertSameValues(actual: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Object.is(actual[i], want[i]),
      `${what}[${i}]: got ${actual[i]}, expected ${want[i]}`,
    );
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-st-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpFile = (name = 'x.safetensors') => path.join(tmp, `${counter++}-${name}`);

/** Builds a file from a header (object or exact text), data bytes and optionally a fake length. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), length?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  const file = tmpFile();
  fs.writeFileSync(file, out);
  return file;
}

/** Asserts that `fn` throws a SafetensorsError whose message matches every pattern. */
function assertStError(fn: () => unknown, ...patterns: RegExp[]): SafetensorsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof SafetensorsError)) {
    assert.fail(`expected a SafetensorsError, got ${caught}`);
  }
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

describe('safetensors: a file written from PyTorch tensors', () => {
  const file = SafetensorsFile.open(torchFile);
  after(() => file.close());

  test('names, metadata and info match the header PyTorch values came from', () => {
    assert.deepEqual(new Set(file.names()), new Set(Object.keys(expected)));
    assert.deepEqual(file.metadata, { format: 'pt', made_by: 'fixtures/io/make_safetensors.py' });
    for (const [name, e] of Object.entries(expected)) {
      const info = file.info(name);
      assert.equal(info.dtype, e.dtype, name);
      assert.deepEqual(info.shape, e.shape, name);
    }
    assert.equal(file.info('f16.matrix').byteLength, 2 * 10);
  });

  test('every dtype reads to the values torch holds (floats widened exactly)', () => {
    for (const [name, e] of Object.entries(expected)) {
      if (name === 'i64.too_big') continue;
      const t = file.read(name);
      assert.deepEqual(t.shape, e.shape, name);
      const wantDType =
        e.dtype === 'F64' ? 'float64' : /^(F|BF)/.test(e.dtype) ? 'float32' : 'int32';
      assert.equal(t.dtype, wantDType, name);
      assertSameValues(t.data, e.values.map(num), name);
    }
  });

  test('BOOL and U8 read as int32; integers and halves also read as float64 on request', () => {
    assert.deepEqual([...file.read('bool.mask').data], [1, 0, 0, 1, 1, 1]);
    assert.deepEqual([...file.read('u8.pixels').data], [0, 17, 255, 128, 1, 2]);
    const big = file.read('i64.too_big', { dtype: 'float64' });
    assert.deepEqual([...big.data], [1, 2 ** 31, 3]);
    const half = file.read('bf16.matrix', { dtype: 'float64' });
    assertSameValues(half.data, expected['bf16.matrix'].values.map(num), 'bf16 as float64');
  });

  test('an I64 value outside int32 is an error naming the tensor, element and value', () => {
    assertStError(
      () => file.read('i64.too_big'),
      /torch-dtypes\.safetensors/,
      /tensor 'i64\.too_big'/,
      /element 1 of I64 has value 2147483648, outside the int32 range/,
    );
  });

  test('floats cannot be read as int32', () => {
    assertStError(() => file.read('f32.matrix', { dtype: 'int32' }), /cannot read F32 as int32/);
  });

  test('float16 and bfloat16 narrowing matches torch bit for bit, widening value for value', () => {
    const source = Float32Array.from(expected['narrow.source'].values.map(num));
    const f16 = (expected['narrow.f16'].bits ?? []).map((b) => b & 0xffff);
    const bf16 = (expected['narrow.bf16'].bits ?? []).map((b) => b & 0xffff);
    assert.equal(f16.length, source.length);
    // NaN payloads differ between torch's scalar and vector paths; any NaN pattern is right.
    const ours16 = toF16Bits(source);
    const oursBf = toBf16Bits(source);
    for (let i = 0; i < source.length; i++) {
      if (!Number.isNaN(source[i])) continue;
      assert.ok((ours16[i] & 0x7c00) === 0x7c00 && (ours16[i] & 0x3ff) !== 0, 'f16 NaN');
      assert.ok((oursBf[i] & 0x7f80) === 0x7f80 && (oursBf[i] & 0x7f) !== 0, 'bf16 NaN');
      ours16[i] = f16[i];
      oursBf[i] = bf16[i];
    }
    assert.ok(source.some(Number.isNaN), 'the fixture holds a NaN');
    assertSameValues(ours16, f16, 'f16 bits');
    assertSameValues(oursBf, bf16, 'bf16 bits');
    assertSameValues(
      file.read('narrow.f16').data,
      expected['narrow.f16_wide'].values.map(num),
      'f16',
    );
    assertSameValues(
      file.read('narrow.bf16').data,
      expected['narrow.bf16_wide'].values.map(num),
      'bf16',
    );
  });

  test('readRaw gives the stored bytes; readHalf keeps the 16-bit patterns', () => {
    const raw = file.readRaw('i32.grid');
    assert.deepEqual([...new Int32Array(raw.buffer)], [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5]);
    const half = file.readHalf('narrow.f16');
    assert.equal(half.dtype, 'F16');
    assertSameValues(
      half.data,
      (expected['narrow.f16'].bits ?? []).map((b) => b & 0xffff),
      'half',
    );
    assertStError(() => file.readHalf('f32.matrix'), /readHalf needs F16 or BF16, got F32/);
  });

  test('HalfTensorStore keeps F16/BF16 weights at 2 bytes each and widens on demand', () => {
    const store = HalfTensorStore.load(file);
    assert.deepEqual(store.names().sort(), [
      'bf16.matrix',
      'f16.matrix',
      'narrow.bf16',
      'narrow.f16',
    ]);
    const elements = 10 + 10 + 2 * expected['narrow.source'].values.length;
    assert.equal(store.byteLength, 2 * elements);
    const wide = store.widen('f16.matrix');
    assert.equal(wide.dtype, 'float32');
    assertSameValues(wide.data, expected['f16.matrix'].values.map(num), 'widen');
    assert.equal(store.widen('bf16.matrix', 'float64').dtype, 'float64');
    assertStError(() => store.widen('f32.matrix'), /HalfTensorStore: tensor 'f32\.matrix'/);
  });

  test('an unknown name lists what the file has', () => {
    assertStError(() => file.read('nope'), /tensor 'nope': no such tensor \(the file has 18: /);
  });
});

describe('safetensors: writing', () => {
  const values = [0, 1, -2, 0.5, -0.25, 1024, 3, -7, 0.125, 6];
  const shape = [2, 5];

  test('every written dtype round-trips, with the header laid out as the spec says', () => {
    const file = tmpFile();
    const f32 = new Tensor(Float32Array.from(values), shape);
    const f64 = new Tensor(Float64Array.from([Math.PI, -Math.E]), [2]);
    const ints = new Tensor(Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0]), [3]);
    saveSafetensors(
      file,
      {
        a32: f32,
        a16: f32,
        abf16: f32,
        a64: f64,
        i32: ints,
        i64: ints,
        scalar: new Tensor(new Float32Array([9]), []),
      },
      {
        metadata: { format: 'pt' },
        dtypes: { a16: 'F16', abf16: 'BF16', i64: 'I64' },
      },
    );
    // Check the layout with an independent parse of the bytes.
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0, 'data starts 8-aligned');
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    assert.deepEqual(header.__metadata__, { format: 'pt' });
    assert.deepEqual(header.a16, { dtype: 'F16', shape, data_offsets: header.a16.data_offsets });
    assert.equal(header.i64.dtype, 'I64');
    assert.equal(header.a64.data_offsets[0], 0, 'largest elements first');

    const r = SafetensorsFile.open(file);
    try {
      assertSameValues(r.read('a32').data, values, 'F32');
      assertSameValues(r.read('a16').data, values, 'F16');
      assertSameValues(r.read('abf16').data, values, 'BF16');
      assertSameValues(r.read('a64').data, [Math.PI, -Math.E], 'F64');
      assertSameValues(r.read('i32').data, [-(2 ** 31), 2 ** 31 - 1, 0], 'I32');
      assertSameValues(r.read('i64').data, [-(2 ** 31), 2 ** 31 - 1, 0], 'I64');
      assert.deepEqual(r.read('scalar').shape, []);
      assert.equal(r.info('i64').dtype, 'I64');
    } finally {
      r.close();
    }
  });

  test('half tensors are written bit for bit; a float cannot be stored as an integer', () => {
    const source = SafetensorsFile.open(torchFile);
    const half = source.readHalf('narrow.bf16');
    source.close();
    const file = tmpFile();
    saveSafetensors(file, new Map([['w', half]]));
    const back = SafetensorsFile.open(file);
    assertSameValues(back.readHalf('w').data, half.data, 'bits');
    back.close();
    const f = new Tensor(new Float32Array(2), [2]);
    assertStError(
      () => saveSafetensors(tmpFile(), { w: f }, { dtypes: { w: 'I32' } }),
      /tensor 'w': cannot store a float32 tensor as I32/,
    );
    assertStError(() => saveSafetensors(tmpFile(), { __metadata__: f }), /reserved/);
  });

  test('a failed write leaves the old file as it was and no temporary file behind', () => {
    const file = tmpFile('keep.safetensors');
    saveSafetensors(file, { w: new Tensor(Float32Array.from([1, 2]), [2]) });
    const before = fs.readFileSync(file);
    assertStError(
      () =>
        atomicWrite(file, (fd: number) => {
          fs.writeSync(fd, 'partial');
          throw new Error('disk full');
        }),
      /keep\.safetensors: write failed \(disk full\)/,
    );
    assert.deepEqual(fs.readFileSync(file), before);
    const leftovers = fs
      .readdirSync(tmp)
      .filter((f) => f.includes('keep.safetensors') && f.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  });
});

describe('safetensors: reading only what is asked for', () => {
  test('a header and one small tensor of a 50 MB file read a few KB, not the file', () => {
    const file = tmpFile('big.safetensors');
    const big = new Float32Array(12_500_000); // 50 MB
    big[big.length - 1] = 42;
    saveSafetensors(file, {
      big: new Tensor(big, [big.length]),
      small: new Tensor(Float32Array.from([1, 2, 3]), [3]),
    });
    // Count every byte that goes through fs.readSync, whoever calls it.
    const original = fs.readSync;
    let bytes = 0;
    fs.readSync = ((...args: Parameters<typeof fs.readSync>) => {
      const got = (original as (...a: unknown[]) => number)(...args);
      bytes += got;
      return got;
    }) as typeof fs.readSync;
    try {
      const f = SafetensorsFile.open(file);
      assert.deepEqual([...f.read('small').data], [1, 2, 3]);
      assert.ok(bytes < 4096, `read ${bytes} bytes`);
      assert.equal(f.bytesRead, bytes);
      assert.equal(f.read('big').data[big.length - 1], 42);
      assert.equal(bytes, f.bytesRead);
      assert.equal(bytes, fs.statSync(file).size, 'after reading both: the whole file, once');
      f.close();
    } finally {
      fs.readSync = original;
    }
  });

  test('a file that shrinks after opening is an error, not a short tensor', () => {
    const file = tmpFile();
    saveSafetensors(file, { w: new Tensor(new Float32Array(100), [100]) });
    const f = SafetensorsFile.open(file);
    fs.truncateSync(file, 100);
    assertStError(() => f.read('w'), /tensor 'w': file ended at byte 100, expected .* more/);
    f.close();
    assertStError(() => f.read('w'), /read after close\(\)/);
  });
});

describe('safetensors: sharded checkpoints', () => {
  const tensors = new Map<string, Tensor>();
  for (let i = 0; i < 5; i++) {
    tensors.set(
      `layers.${i}.weight`,
      new Tensor(
        Float32Array.from({ length: 8 }, (_, k) => i * 10 + k),
        [2, 4],
      ),
    );
  }

  test('a sharded save opens as one set of tensors from the folder', () => {
    const dir = path.join(tmp, 'sharded');
    const files = saveSafetensorsSharded(dir, tensors, {
      maxShardBytes: 70,
      metadata: { format: 'pt' },
    });
    assert.deepEqual(files, [
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const index = JSON.parse(
      fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'),
    );
    assert.equal(index.metadata.total_size, 5 * 32);
    assert.equal(index.weight_map['layers.4.weight'], 'model-00003-of-00003.safetensors');
    const set = openSafetensors(dir);
    assert.ok(set instanceof SafetensorsShards);
    assert.deepEqual(set.names(), [...tensors.keys()]);
    for (const [name, t] of tensors) assert.deepEqual([...set.read(name).data], [...t.data]);
    assert.deepEqual(set.metadata, { format: 'pt' });
    set.close();
  });

  test('everything in one shard is written as model.safetensors', () => {
    const dir = path.join(tmp, 'single');
    assert.deepEqual(saveSafetensorsSharded(dir, tensors, { maxShardBytes: 1e9 }), [
      'model.safetensors',
    ]);
    const set = openSafetensors(dir);
    assert.ok(set instanceof SafetensorsFile);
    set.close();
  });

  test('index errors name the index, the tensor and the shard', () => {
    const dir = path.join(tmp, 'bad-index');
    saveSafetensorsSharded(dir, tensors, { maxShardBytes: 70 });
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const good = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    const writeIndex = (index: unknown) => fs.writeFileSync(indexPath, JSON.stringify(index));

    writeIndex({ weight_map: { ...good.weight_map, ghost: 'model-00001-of-00003.safetensors' } });
    assertStError(() => openSafetensors(dir), /tensor 'ghost': weight_map puts it in 'model-00001/);
    const partial = { ...good.weight_map };
    delete partial['layers.0.weight'];
    writeIndex({ weight_map: partial });
    assertStError(
      () => openSafetensors(dir),
      /'layers\.0\.weight': found in shard .* does not list it/,
    );
    writeIndex({ weight_map: { ...good.weight_map, 'layers.0.weight': '../escape.safetensors' } });
    assertStError(() => openSafetensors(dir), /must be a shard file name beside the index/);
    fs.writeFileSync(indexPath, '{"weight_map": {"a": "x", "a": "y"}}');
    assertStError(() => openSafetensors(dir), /duplicate key 'weight_map' > 'a'/);
    writeIndex({ weight_map: { ...good.weight_map, 'layers.0.weight': 'missing.safetensors' } });
    assertStError(() => openSafetensors(dir), /missing\.safetensors: cannot open/);
  });
});

describe('safetensors: malformed files are clear errors', () => {
  const eight = new Uint8Array(8);
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
    dtype: 'F32',
    shape,
    data_offsets: [begin, end],
  });
  const open = (file: string) => SafetensorsFile.open(file);

  test('too short for the length field, and header lengths past the file or the 100 MB cap', () => {
    const tiny = tmpFile();
    fs.writeFileSync(tiny, new Uint8Array(5));
    assertStError(() => open(tiny), /file has 5 bytes, fewer than the 8-byte header length/);
    const long = rawFile({ w: f32(0, 8) }, eight, 1000n);
    assertStError(() => open(long), /header length 1000 exceeds the file \(/);
    const huge = rawFile('{}', new Uint8Array(0), 2n ** 63n);
    assertStError(() => open(huge), /header length 9223372036854775808 exceeds the 100000000-byte/);
    assertStError(
      () => open(path.join(tmp, 'absent.safetensors')),
      /absent\.safetensors: cannot open/,
    );
  });

  test('malformed, non-object and non-UTF-8 headers', () => {
    assertStError(() => open(rawFile('{"w": {', eight)), /header is not valid JSON/);
    assertStError(() => open(rawFile('[1, 2]')), /header must start with '\{', got "\["/);
    assertStError(() => open(rawFile(' {}')), /must start with '\{'/);
    const bad = rawFile('{"\u00ff": 1}');
    const bytes = fs.readFileSync(bad);
    bytes[10] = 0xff; // break the UTF-8 of the key
    fs.writeFileSync(bad, bytes);
    assertStError(() => open(bad), /header is not valid UTF-8/);
    assertStError(() => open(rawFile({ w: [1] })), /tensor 'w': entry must be an object/);
  });

  test('offsets outside the buffer, overlapping, leaving gaps or trailing bytes', () => {
    assertStError(
      () => open(rawFile({ w: f32(0, 16) }, eight)),
      /tensor 'w': data_offsets \[0, 16\] fall outside the data buffer of 8 bytes/,
    );
    assertStError(
      () => open(rawFile({ a: f32(0, 8), b: f32(4, 12) }, new Uint8Array(12))),
      /tensor 'b': data_offsets \[4, 12\] overlap tensor 'a' \[0, 8\]/,
    );
    assertStError(
      () => open(rawFile({ a: f32(0, 4), b: f32(8, 12) }, new Uint8Array(12))),
      /tensor 'b': data_offsets \[8, 12\] leave bytes \[4, 8\) of the buffer unused/,
    );
    assertStError(
      () => open(rawFile({ a: f32(0, 4) }, eight)),
      /the tensors cover 4 bytes of the data buffer, but it holds 8/,
    );
    assertStError(
      () => open(rawFile({ a: f32(8, 4, [0]) }, eight)),
      /tensor 'a': data_offsets \[8, 4\] end before they begin/,
    );
    assertStError(
      () => open(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, eight)),
      /tensor 'a': data_offsets must be \[begin, end\], got \[0\]/,
    );
    assertStError(
      () => open(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8.5] } }, eight)),
      /data_offsets \[0,8\.5\] must hold integers >= 0/,
    );
  });

  test('unknown dtypes, bad shapes and shapes that do not fit the byte range', () => {
    assertStError(
      () => open(rawFile({ w: { dtype: 'F128', shape: [1], data_offsets: [0, 8] } }, eight)),
      /tensor 'w': unknown dtype 'F128' \(known: BOOL, U8/,
    );
    assertStError(
      () => open(rawFile({ w: f32(0, 8, [3]) }, eight)),
      /tensor 'w': shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] hold 8/,
    );
    assertStError(
      () => open(rawFile({ w: f32(0, 8, [-2]) }, eight)),
      /dimension -2; expected integers >= 0/,
    );
    assertStError(() => open(rawFile({ w: f32(0, 8, [1.5]) }, eight)), /dimension 1\.5/);
    assertStError(
      () => open(rawFile({ w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, eight)),
      /shape must be an array, got "2"/,
    );
    // Dimensions whose product overflows: caught without arithmetic past the byte range.
    assertStError(
      () => open(rawFile({ w: f32(0, 8, [2 ** 50, 2 ** 50, 2 ** 50]) }, eight)),
      /needs more than 2\^53 bytes, but data_offsets \[0, 8\] hold 8/,
    );
    assertStError(
      () => open(rawFile({ w: { ...f32(0, 8), extra: 1 } }, eight)),
      /tensor 'w': unexpected key 'extra'/,
    );
  });

  test('duplicate names, duplicate fields and non-string metadata', () => {
    const dup =
      '{"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}, ' +
      '"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    assertStError(() => open(rawFile(dup, eight)), /tensor 'w': header has a duplicate key 'w'/);
    const dupField = '{"w": {"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
    assertStError(
      () => open(rawFile(dupField, eight)),
      /tensor 'w': header has a duplicate key 'w' > 'dtype'/,
    );
    assertStError(
      () => open(rawFile({ __metadata__: { a: 1 }, w: f32(0, 8) }, eight)),
      /__metadata__ values must be strings, got 1 for key 'a'/,
    );
    // Escaped spellings of the same key are the same key.
    const escaped = '{"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "\\u0077": {}}';
    assertStError(() => open(rawFile(escaped, eight)), /duplicate key 'w'/);
  });

  test('BOOL bytes other than 0 and 1, and 8-bit floats, are refused when read', () => {
    const f = open(
      rawFile({ b: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, Uint8Array.from([1, 7])),
    );
    assertStError(
      () => f.read('b'),
      /tensor 'b': element 1 of BOOL has value 7, but BOOL bytes must be 0 or 1/,
    );
    f.close();
    const g = open(
      rawFile({ e: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
    );
    assertStError(() => g.read('e'), /tensor 'e': dtype F8_E4M3 is not supported yet/);
    g.close();
  });

  test('a tensor named __proto__ and empty files are ordinary', () => {
    const f = open(
      rawFile('{"__proto__": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', eight),
    );
    assert.deepEqual(f.names(), ['__proto__']);
    assert.deepEqual([...f.read('__proto__').data], [0, 0]);
    f.close();
    const empty = open(rawFile('{}'));
    assert.deepEqual(empty.names(), []);
    empty.close();
  });
});

describe('safetensors: fuzzing never crashes, hangs or reads out of bounds', () => {
  /** Opens and reads every tensor; only SafetensorsError may come out. */
  function loadAll(file: string): void {
    let f: SafetensorsFile | undefined;
    try {
      f = SafetensorsFile.open(file);
      const size = fs.statSync(file).size;
      for (const name of f.names()) {
        const info = f.info(name);
        assert.ok(info.fileOffset + info.byteLength <= size, 'range inside the file');
        for (const dtype of [undefined, 'float64'] as const) {
          try {
            const t = f.read(name, { dtype });
            assert.equal(
              t.size,
              info.shape.reduce((a: number, b: number) => a * b, 1),
            );
          } catch (e) {
            if (!(e instanceof SafetensorsError)) throw e;
          }
        }
      }
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
    } finally {
      f?.close();
    }
  }

  const base = fs.readFileSync(torchFile);
  const fuzzFile = path.join(tmp, 'fuzz.safetensors');

  test('random byte edits and truncations of a real file', () => {
    // Mostly characters that keep the header JSON-like, so that edits get past the parser.
    const jsonish = [...'0123456789[]{}",: -.eE'].map((c) => c.charCodeAt(0));
    const value = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...jsonish));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), value), { minLength: 1, maxLength: 4 }),
        // One run in five also cuts the file short.
        fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.nat() },
        ),
        // Aim most edits at the length field and the header, where the structure lives.
        fc.integer({ min: 0, max: 3 }),
        (edits, cut, where) => {
          const bytes = Buffer.from(base);
          const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
          const span = where === 0 ? bytes.length : headerEnd;
          for (const [pos, v] of edits) bytes[pos % span] = v;
          const out = cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
          fs.writeFileSync(fuzzFile, out);
          loadAll(fuzzFile);
        },
      ),
      { numRuns: 150, seed: 20240601 },
    );
  });

  test('random headers from random entries, dtypes, shapes and offsets', () => {
    const dtype = fc.constantFrom(
      'F32',
      'F16',
      'BF16',
      'F64',
      'I64',
      'I32',
      'U8',
      'BOOL',
      'U64',
      'F8_E5M2',
      'Q4',
      '',
    );
    const dim = fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constantFrom(1.5, 2 ** 53, '3', null));
    const entry = fc.record({
      dtype,
      shape: fc.oneof(fc.array(dim, { maxLength: 3 }), fc.constant(7)),
      data_offsets: fc.oneof(
        fc.tuple(fc.integer({ min: -1, max: 80 }), fc.integer({ min: -1, max: 80 })),
        fc.array(fc.nat(80), { maxLength: 3 }),
      ),
    });
    const header = fc.dictionary(
      fc.oneof(
        fc.constantFrom('a', 'b', 'c', '__metadata__', '__proto__'),
        fc.string({ maxLength: 4 }),
      ),
      fc.oneof({ weight: 6, arbitrary: entry }, { weight: 1, arbitrary: fc.jsonValue() }),
      { maxKeys: 4 },
    );
    fc.assert(
      fc.property(header, fc.nat(96), fc.nat(), (h, dataLength, fill) => {
        const data = new Uint8Array(dataLength).fill(fill % 3);
        loadAll(rawFile(h, data));
      }),
      { numRuns: 150, seed: 7 },
    );
  });
});
