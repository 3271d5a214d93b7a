/**
 * CSV tables (RFC 4180): a header row, then records of comma-separated fields. A field may be
 * quoted with `"`; inside quotes, commas and line breaks are part of the field and `""` is one
 * quote. Line ends may be LF or CRLF. Every record must have as many fields as the header.
 *
 * Cells stay strings here; `table.ts` decides which columns are numbers and encodes them.
 */
import fs from 'node:fs';
import { DataError } from './errors.js';

/** A parsed table: column names and rows of string cells. */
export interface CsvTable {
  /** The file, for messages. */
  source: string;
  header: string[];
  rows: string[][];
  /** The 1-based line on which each row starts (for messages about a row). */
  lines: number[];
}

/** Reads and parses a CSV file (UTF-8, an optional byte-order mark). */
export function readCsv(file: string): CsvTable {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(file, `cannot read the CSV file (${(e as Error).message})`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new DataError(file, 'is gzip-compressed; decompress it (gunzip) and give the .csv');
  }
  const nul = bytes.subarray(0, 1 << 16).indexOf(0);
  if (nul >= 0) {
    throw new DataError(file, `looks binary, not CSV text: a NUL byte at offset ${nul}`);
  }
  const table = parseCsv(bytes.toString('utf8'), file);
  if (table.header.length === 1) {
    const [name] = table.header as [string];
    const other = [';', '\t', '|'].find((d) => name.includes(d));
    if (other !== undefined) {
      throw new DataError(
        file,
        `has one column, '${name.slice(0, 60)}': fields look separated by ` +
          `'${other === '\t' ? '\\t' : other}', and sextant reads comma-separated files`,
      );
    }
  }
  return table;
}

/**
 * Parses CSV text. Throws a `DataError` naming `source` and the line for an unclosed quote, a
 * quote inside an unquoted field, a record with too few or too many fields, and an empty table.
 */
export function parseCsv(text: string, source: string): CsvTable {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let atFieldStart = true;
  const endField = () => {
    fields.push(field);
    field = '';
    atFieldStart = true;
  };
  const endRecord = () => {
    endField();
    // A blank line (one empty field) is skipped, as most readers do.
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
    fields = [];
  };
  while (i < body.length) {
    const c = body[i] as string;
    if (atFieldStart && c === '"') {
      // A quoted field: read to the closing quote.
      const open = line;
      i += 1;
      for (;;) {
        if (i >= body.length) {
          throw new DataError(source, `line ${open}: a quoted field is never closed`);
        }
        const q = body[i] as string;
        if (q === '"') {
          if (body[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        if (q === '\n') line += 1;
        field += q;
        i += 1;
      }
      const next = body[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        throw new DataError(
          source,
          `line ${line}: unexpected ${JSON.stringify(next)} after a closing quote ` +
            '(a quote inside a field must be written "")',
        );
      }
      atFieldStart = false;
      continue;
    }
    if (c === ',') {
      endField();
      i += 1;
    } else if (c === '\n' || c === '\r') {
      endRecord();
      i += c === '\r' && body[i + 1] === '\n' ? 2 : 1;
      line += 1;
      recordLine = line;
    } else {
      if (c === '"') {
        throw new DataError(
          source,
          `line ${line}: a quote inside an unquoted field (quote the whole field and write "")`,
        );
      }
      field += c;
      atFieldStart = false;
      i += 1;
    }
  }
  if (field !== '' || fields.length > 0 || !atFieldStart) endRecord();
  const [head, ...rest] = records;
  if (head === undefined) throw new DataError(source, 'the CSV file is empty (no header row)');
  const header = head.fields.map((h) => h.trim());
  header.forEach((h, c) => {
    if (h === '') throw new DataError(source, `header: column ${c + 1} has no name`);
    const first = header.indexOf(h);
    if (first !== c) {
      throw new DataError(
        source,
        `header: column name '${h}' appears twice (columns ${first + 1} and ${c + 1})`,
      );
    }
  });
  for (const r of rest) {
    if (r.fields.length !== header.length) {
      throw new DataError(
        source,
        `line ${r.line}: ${r.fields.length} fields, but the header has ${header.length} ` +
          '(a ragged row; quote fields that contain commas)',
      );
    }
  }
  return { source, header, rows: rest.map((r) => r.fields), lines: rest.map((r) => r.line) };
}
