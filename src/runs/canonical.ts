/**
 * Canonical JSON and the config hash: how the run store decides that two runs were asked for the
 * same thing. Two configs that differ only in key order or whitespace hash the same; a change to
 * any value changes the hash. Sweeps use the hash to skip configs that already have a finished run.
 */
import { createHash } from 'node:crypto';
import { RunStoreError } from './errors.js';

/**
 * The canonical JSON text of `value`: object keys sorted by code point at every depth, no
 * whitespace, numbers as `JSON.stringify` writes them. Object properties that are `undefined` are
 * left out (as `JSON.stringify` does), so an absent optional field and an unset one hash the same.
 *
 * Throws a `RunStoreError` naming the path (`config.optim.lr`) for what JSON cannot hold exactly:
 * NaN and infinities, bigints, functions, symbols, `undefined` inside arrays, and cycles.
 */
export function canonicalJson(value: unknown, path = 'config'): string {
  return write(value, path, new Set());
}

/** The sha256 (hex) of the canonical JSON of `config`; the `config_hash` column of the store. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new RunStoreError(`${path}: expected a finite number, got ${value}`);
      }
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new RunStoreError(`${path}: expected a JSON value, got a ${typeof value}`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new RunStoreError(`${path}: the config refers to itself (a cycle)`);
  seen.add(obj);
  let text: string;
  if (Array.isArray(obj)) {
    const items = obj.map((item, i) => {
      if (item === undefined) {
        throw new RunStoreError(`${path}[${i}]: expected a JSON value, got undefined`);
      }
      return write(item, `${path}[${i}]`, seen);
    });
    text = `[${items.join(',')}]`;
  } else {
    const toJson = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJson === 'function') {
      // Dates and similar: take the value they choose to be in JSON.
      text = write(toJson.call(obj), path, seen);
    } else {
      const record = obj as Record<string, unknown>;
      const entries = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`, seen)}`);
      text = `{${entries.join(',')}}`;
    }
  }
  seen.delete(obj);
  return text;
}
