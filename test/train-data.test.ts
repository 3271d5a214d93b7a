/**
 * Data for training: CSV parsing and table encoding (quoted fields, missing values, a non-numeric
 * target, the Telco churn table with its blank TotalCharges), text corpora (empty and binary files
 * refused), IDX files (MNIST and Fashion-MNIST read where they lie in ../shared/data), and the
 * seeded samplers whose position a resume restores.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCsv, readCsv } from '../src/data/csv.js';
import { DataError } from '../src/data/errors.js';
import { readIdx, readImageSet } from '../src/data/idx.js';
import { EpochSampler } from '../src/data/sampler.js';
import { encodeTable, fitTableEncoding } from '../src/data/table.js';
import { defaultCorpus, RandomWindows, readTextFile, sequentialBatches } from '../src/data/text.js';
import { Generator } from '../src/tensor/random.js';
import { SHARED_DATA } from './helpers.js';

// This file runs as dist/test/*.js; the shared data sets lie beside the repository.
const _root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = SHARED_DATA;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sextant-data-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
}

/** Asserts that `fn` throws a DataError whose message matches `pattern`. */
function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('CSV parsing', () => {
  test('quoted fields with commas, quotes and line breaks; CRLF; blank lines skipped', () => {
    const t = parseCsv(
      'name,note,n\r\n"Smith, J","said ""hi""",1\r\n\r\nLee,"two\nlines",2\r\n',
      'x.csv',
    );
    assert.deepEqual(t.header, ['name', 'note', 'n']);
    assert.deepEqual(t.rows, [
      ['Smith, J', 'said "hi"', '1'],
      ['Lee', 'two\nlines', '2'],
    ]);
    assert.deepEqual(t.lines, [2, 4]);
  });

  test('ragged rows, stray quotes, unclosed quotes and empty files name the file and line', () => {
    refuses(
      () => parseCsv('a,b\n1,2\n3\n', 'r.csv'),
      /^r\.csv: line 3: 1 fields, but the header has 2/,
    );
    refuses(
      () => parseCsv('a,b\n1,"x\n', 'q.csv'),
      /^q\.csv: line 2: a quoted field is never closed/,
    );
    refuses(
      () => parseCsv('a,b\n1,x"y\n', 's.csv'),
      /^s\.csv: line 2: a quote inside an unquoted field/,
    );
    refuses(() => parseCsv('', 'e.csv'), /^e\.csv: the CSV file is empty/);
    refuses(() => parseCsv('a,a\n1,2\n', 'd.csv'), /column name 'a' appears twice/);
  });

  test('gzip, binary and semicolon-separated files are named for what they are', () => {
    const write = (name: string, bytes: Uint8Array | string) => {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, bytes);
      return file;
    };
    const gz = write('t.csv.gz', Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0));
    refuses(() => readCsv(gz), /t\.csv\.gz: is gzip-compressed; decompress it/);
    const bin = write('b.csv', Uint8Array.of(0x61, 0x2c, 0x62, 0x0a, 0x31, 0x00, 0x32));
    refuses(() => readCsv(bin), /b\.csv: looks binary, not CSV text: a NUL byte at offset 5/);
    const semi = write('s.csv', 'x;y\n1;2\n');
    refuses(() => readCsv(semi), /s\.csv: has one column, 'x;y': fields look separated by ';'/);
  });
});

describe('table encoding', () => {
  const rows = [
    'size,colour,label',
    '1.5,red,cat',
    '2.5,,dog',
    'NA,blue,cat',
    '3.5,red,"big dog"',
    '4.5,blue,dog',
    '5.5,red,cat',
    '6.5,blue,',
    '7.5,red,dog',
    '8.5,green,cat',
    '9.5,red,dog',
    '10.5,blue,cat',
  ].join('\n');

  test('a non-numeric target is a classification; missing values are imputed or zero', () => {
    const table = parseCsv(rows, 'pets.csv');
    const enc = fitTableEncoding(table, { target: 'label' });
    assert.equal(enc.task, 'classification');
    assert.deepEqual(enc.classes, ['big dog', 'cat', 'dog']);
    assert.deepEqual(
      enc.columns.map((c) => [c.name, c.kind]),
      [
        ['size', 'numeric'],
        ['colour', 'onehot'],
      ],
    );
    assert.equal(enc.numFeatures, 4); // size, and blue / green / red
    const out = encodeTable(table, enc);
    assert.equal(out.count, 10); // the row with a missing label is left out
    assert.equal(out.droppedMissingTarget, 1);
    // Row 3 (NA size) gets the mean, 0 after standardising; row 2 (no colour) all zeros.
    assert.equal(out.features[2 * 4], 0);
    assert.deepEqual(Array.from(out.features.subarray(1 * 4 + 1, 1 * 4 + 4)), [0, 0, 0]);
    assert.deepEqual(Array.from(out.targets), [1, 2, 1, 0, 2, 1, 2, 1, 2, 1]);
  });

  test('errors: missing target column, constant target, too few rows, regression on text', () => {
    const table = parseCsv(rows, 'pets.csv');
    refuses(
      () => fitTableEncoding(table, { target: 'kind' }),
      /^pets\.csv: no target column 'kind'; the columns are: size, colour, label$/,
    );
    refuses(
      () => fitTableEncoding(table, { target: 'Label' }),
      /^pets\.csv: no target column 'Label' \(did you mean 'label'\?\); the columns are: /,
    );
    const constant = parseCsv('x,y\n1,a\n2,a\n3,a\n', 'c.csv');
    refuses(
      () => fitTableEncoding(constant, { target: 'y', minRows: 2 }),
      /^c\.csv: target column 'y' is constant \(every row is "a"\)/,
    );
    refuses(
      () => fitTableEncoding(constant, { target: 'y' }),
      /^c\.csv: too few rows: 3 have a value in target column 'y' \(of 3\); at least 10 are needed/,
    );
    refuses(
      () => fitTableEncoding(table, { target: 'label', task: 'regression' }),
      /target column 'label' has the non-numeric value "cat"; regression needs numbers/,
    );
  });

  test('the task follows the target: few integers classify, other numbers regress', () => {
    const ints = parseCsv(
      `x,y\n${Array.from({ length: 12 }, (_, i) => `${i},${i % 3}`).join('\n')}`,
      'i.csv',
    );
    assert.equal(fitTableEncoding(ints, { target: 'y' }).task, 'classification');
    const reals = parseCsv(
      `x,y\n${Array.from({ length: 12 }, (_, i) => `${i},${i * 1.5}`).join('\n')}`,
      'r.csv',
    );
    const enc = fitTableEncoding(reals, { target: 'y' });
    assert.equal(enc.task, 'regression');
    assert.equal(enc.targetMean, 8.25); // mean of 0, 1.5, ..., 16.5
    assert.equal(fitTableEncoding(ints, { target: 'y', task: 'regression' }).task, 'regression');
  });

  test('Telco churn: blank TotalCharges imputed, customerID dropped, Churn classified', () => {
    const table = readCsv(path.join(shared, 'telco-churn', 'Telco-Customer-Churn.csv'));
    assert.equal(table.rows.length, 7043);
    const enc = fitTableEncoding(table, { target: 'Churn' });
    assert.equal(enc.task, 'classification');
    assert.deepEqual(enc.classes, ['No', 'Yes']);
    const byName = new Map(enc.columns.map((c) => [c.name, c]));
    assert.deepEqual(byName.get('customerID'), {
      name: 'customerID',
      kind: 'dropped',
      reason: 'every value differs (an identifier)',
    });
    assert.equal(byName.get('TotalCharges')?.kind, 'numeric');
    assert.equal(byName.get('tenure')?.kind, 'numeric');
    assert.equal(byName.get('PaymentMethod')?.kind, 'onehot');
    // 4 numeric columns + one-hot: 5 two-valued, 9 three-valued, PaymentMethod four.
    assert.equal(enc.numFeatures, 4 + 5 * 2 + 9 * 3 + 4);
    const out = encodeTable(table, enc);
    assert.equal(out.count, 7043);
    assert.equal(out.features.length, 7043 * enc.numFeatures);
    assert.ok(out.features.every(Number.isFinite), 'every feature is a finite number');
    let yes = 0;
    for (const y of out.targets) yes += y;
    assert.equal(yes, 1869); // the file's count of Churn = Yes
  });
});

describe('text corpora', () => {
  test('empty, white-space-only, binary, non-UTF-8, missing and folder corpora are refused', () => {
    const empty = write('empty.txt', '');
    refuses(() => readTextFile(empty), new RegExp(`^${empty}: the corpus is empty \\(0 bytes\\)`));
    refuses(
      () => readTextFile(write('blank.txt', ' \n\t\n')),
      /holds only white space \(4 bytes\)/,
    );
    const binary = write('model.bin', new Uint8Array([0x41, 0x42, 0x00, 0x7f, 0x10]));
    refuses(
      () => readTextFile(binary),
      new RegExp(`^${binary}: looks binary, not text: a NUL byte at offset 2`),
    );
    const latin1 = write('latin1.txt', new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));
    refuses(
      () => readTextFile(latin1),
      /is not UTF-8 text \(invalid byte sequence near offset \d\)/,
    );
    refuses(
      () => readTextFile(path.join(tmp, 'nope.txt')),
      /nope\.txt: cannot read the corpus \(ENOENT/,
    );
    refuses(() => readTextFile(tmp), /is a folder; give a text file/);
  });

  test('a UTF-8 file reads, without its byte-order mark; the default corpus is Moby Dick', () => {
    const file = write('ok.txt', '\uFEFFCall me Ishmael.');
    assert.equal(readTextFile(file).text, 'Call me Ishmael.');
    const moby = defaultCorpus();
    assert.equal(moby.source, 'moby-dick');
    assert.ok(moby.text.length > 1_000_000 && moby.text.includes('Call me Ishmael'));
  });

  test('random windows depend on the batch index only, so a restored position repeats them', () => {
    const ids = Int32Array.from({ length: 500 }, (_, i) => i);
    const a = new RandomWindows(ids, 8, 4, new Generator(1).fork('data'));
    const first = [a.next(), a.next(), a.next()];
    // y is x shifted by one token.
    for (let i = 0; i < 8; i++)
      assert.equal(first[0]?.y.data[i], (first[0]?.x.data[i] as number) + 1);
    const b = new RandomWindows(ids, 8, 4, new Generator(1).fork('data'));
    b.position = 2;
    assert.deepEqual(b.next().x.data, first[2]?.x.data);
    assert.notDeepEqual(first[0]?.x.data, first[1]?.x.data);
    const held = sequentialBatches(ids, 8, 4, 100);
    assert.equal(held.length, 16); // floor(499 / 8) = 62 windows, 16 batches of at most 4
    assert.equal(held[15]?.x.shape[0], 2);
    assert.deepEqual(
      Array.from(held[0]?.x.data.subarray(8, 16) ?? []),
      [8, 9, 10, 11, 12, 13, 14, 15],
    );
  });

  test('epoch order visits every example once per epoch and resumes from its position', () => {
    const a = new EpochSampler(10, new Generator(4).fork('data'));
    const epoch = a.next(10);
    assert.deepEqual(
      [...epoch].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const ahead = a.next(7); // 7 of epoch 1
    const b = new EpochSampler(10, new Generator(4).fork('data'));
    b.position = { epoch: 1, cursor: 3 };
    assert.deepEqual(b.next(4), ahead.slice(3, 7));
    assert.throws(() => {
      b.position = { epoch: 0, cursor: 11 };
    }, /cursor in 0\.\.10/);
  });
});

describe('IDX files', () => {
  test('MNIST test images and labels: magic numbers, shapes, pixel range', () => {
    const dir = path.join(shared, 'mnist');
    const images = readIdx(path.join(dir, 't10k-images-idx3-ubyte.gz'));
    assert.equal(images.magic, 0x803);
    assert.deepEqual(images.dims, [10000, 28, 28]);
    const set = readImageSet(
      path.join(dir, 't10k-images-idx3-ubyte.gz'),
      path.join(dir, 't10k-labels-idx1-ubyte.gz'),
    );
    assert.equal(set.count, 10000);
    assert.equal(set.numClasses, 10);
    assert.ok(set.pixels.every((p) => p >= 0 && p <= 1));
    const counts = new Array(10).fill(0);
    for (const l of set.labels) counts[l] += 1;
    // The class counts of the MNIST test set (counted independently from the raw file).
    assert.deepEqual(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  test('Fashion-MNIST half a: 5000 images, class counts as its SOURCE.md lists', () => {
    const dir = path.join(shared, 'fashion-mnist');
    const set = readImageSet(
      path.join(dir, 't10k-a-images-idx3-ubyte.gz'),
      path.join(dir, 't10k-a-labels-idx1-ubyte.gz'),
    );
    assert.equal(set.count, 5000);
    const counts = new Array(10).fill(0);
    for (const l of set.labels) counts[l] += 1;
    assert.deepEqual(counts, [507, 481, 521, 500, 521, 485, 482, 500, 526, 477]);
  });

  test('wrong magic, swapped files, truncation and count mismatches are named', () => {
    const labels = write('labels.idx', new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 5, 6]));
    const images = write(
      'images.idx',
      new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 255]),
    );
    refuses(
      () => readImageSet(labels, images),
      /labels\.idx: expected IDX images \(magic 0x00000803.*0x00000801.*; this is a label file/,
    );
    refuses(
      () => readImageSet(images, labels),
      /images\.idx: holds 2 labels but .*images\.idx holds 1 images|labels\.idx: holds 2 labels/,
    );
    const truncated = write('short.idx', new Uint8Array([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]));
    refuses(() => readIdx(truncated), /needs 13 bytes, the file has 10 \(truncated or not IDX\)/);
    refuses(
      () => readIdx(write('text.idx', 'hello world')),
      /not an IDX file: magic number 0x68656c6c/,
    );
  });
});
