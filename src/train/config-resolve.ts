/**
 * Configs validated at the edge: one zod object schema per command, whose field docs
 * (`.describe()`) also become the command's flags and help (see `src/cli/schema-options.ts`).
 *
 * A config is resolved from up to two sources, flags over file: a YAML or JSON file
 * (`--config run.yaml`) and the flags given on the command line. Keys in a file may be written
 * camelCase, kebab-case or snake_case. The result is validated against the schema, defaults filled
 * in, and frozen. Every error names the field, the value, what was expected and where the value
 * came from, all at once:
 *
 *     invalid config:
 *       lr: expected a number > 0, got -1 (from --lr)
 *       batchSise: unknown field (from run.yaml); did you mean batchSize?
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/** A command's config schema: a strict object whose fields carry `.describe()` docs. */
export type ConfigSchema = z.ZodObject<z.ZodRawShape>;

/** A config that does not fit its schema; `problems` has one line per field at fault. */
export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid config:\n  ${problems.join('\n  ')}`);
  }
}

/** What a flag or a help line needs to know of one field. */
export interface FieldInfo {
  name: string;
  kind: 'number' | 'integer' | 'string' | 'enum' | 'boolean';
  description: string;
  /** The default, when the schema gives one. */
  defaultValue?: unknown;
  /** Enum choices. */
  choices?: readonly string[];
  /** Bounds of numbers, with whether they are included. */
  min?: { value: number; inclusive: boolean };
  max?: { value: number; inclusive: boolean };
  /** May be null (written `none` on the command line). */
  nullable: boolean;
  optional: boolean;
}

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  defaultValue?: unknown;
  checks?: { _zod: { def: { check: string; value?: number; inclusive?: boolean } } }[];
}

function defOf(t: z.ZodType): ZodDefLike {
  return (t as unknown as { def: ZodDefLike }).def;
}

/** The field's type with optional, nullable and default peeled off, and what was peeled. */
function peel(field: z.ZodType): {
  base: z.ZodType;
  optional: boolean;
  nullable: boolean;
  defaultValue?: unknown;
} {
  let t = field;
  let optional = false;
  let nullable = false;
  let defaultValue: unknown;
  for (;;) {
    const def = defOf(t);
    if (def.type === 'optional') optional = true;
    else if (def.type === 'nullable') nullable = true;
    else if (def.type === 'default') {
      defaultValue = def.defaultValue;
      optional = true;
    } else break;
    t = def.innerType as z.ZodType;
  }
  return defaultValue === undefined
    ? { base: t, optional, nullable }
    : { base: t, optional, nullable, defaultValue };
}

/** Describes every field of `schema` for flags and help. */
export function schemaFields(schema: ConfigSchema): FieldInfo[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const f = field as z.ZodType;
    const { base, optional, nullable, defaultValue } = peel(f);
    const def = defOf(base);
    const description = f.description ?? base.description ?? '';
    const info: FieldInfo = { name, kind: 'string', description, optional, nullable };
    if (defaultValue !== undefined) info.defaultValue = defaultValue;
    if (def.type === 'number') {
      const checks = (def.checks ?? []).map((c) => c._zod.def);
      const isInt = checks.some((c) => c.check === 'number_format');
      info.kind = isInt ? 'integer' : 'number';
      for (const c of checks) {
        if (c.check === 'greater_than' && c.value !== undefined) {
          info.min = { value: c.value, inclusive: c.inclusive === true };
        } else if (c.check === 'less_than' && c.value !== undefined) {
          info.max = { value: c.value, inclusive: c.inclusive === true };
        }
      }
    } else if (def.type === 'enum') {
      info.kind = 'enum';
      info.choices = (base as unknown as { options: string[] }).options;
    } else if (def.type === 'boolean') {
      info.kind = 'boolean';
    } else if (def.type !== 'string') {
      throw new TypeError(
        `config schema field '${name}': type '${def.type}' cannot become a flag (use number, ` +
          'string, enum or boolean)',
      );
    }
    return info;
  });
}

/** What a field accepts, in words: 'an integer >= 1', 'one of cosine, linear'. */
export function expectation(info: FieldInfo): string {
  let text: string;
  if (info.kind === 'enum') text = `one of ${(info.choices ?? []).join(', ')}`;
  else if (info.kind === 'boolean') text = 'true or false';
  else if (info.kind === 'string') text = 'a string';
  else {
    const parts = [info.kind === 'integer' ? 'an integer' : 'a number'];
    if (info.min) parts.push(`${info.min.inclusive ? '>=' : '>'} ${info.min.value}`);
    if (info.max && info.max.value < Number.MAX_SAFE_INTEGER) {
      parts.push(`${info.min ? 'and ' : ''}${info.max.inclusive ? '<=' : '<'} ${info.max.value}`);
    }
    text = parts.join(' ');
  }
  return info.nullable ? `${text}, or none` : text;
}

/** camelCase from kebab-case or snake_case (`batch-size`, `batch_size` -> `batchSize`). */
export function camelCase(key: string): string {
  return key.replace(/[-_]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Reads a YAML or JSON config file into an object (keys as written). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigValidationError([`--config ${file}: cannot read (${(e as Error).message})`]);
  }
  let value: unknown;
  try {
    // YAML is a superset of JSON, but JSON.parse gives JSON's own error positions.
    value = path.extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigValidationError([
      `--config ${file}: not valid YAML or JSON (${(e as Error).message})`,
    ]);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigValidationError([
      `--config ${file}: expected a mapping of field: value, got ` +
        (Array.isArray(value) ? 'a list' : typeof value),
    ]);
  }
  return value as Record<string, unknown>;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

/** The closest known name to `key` by edit distance, when it is close enough to be a typo. */
function suggest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(
        Math.min(
          (prev[j] as number) + 1,
          (cur[j - 1] as number) + 1,
          (prev[j - 1] as number) + cost,
        ),
      );
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** Where each value came from: a flag (`--lr`) or a file, for messages. */
export type ValueSources = Record<string, string>;

export interface ConfigSources {
  /** Values from a config file, keys as written there. */
  file?: { path: string; values: Record<string, unknown> };
  /** Values from flags (already camelCase), only those the user gave. */
  flags?: Record<string, unknown>;
  /** How each flag was spelled, for messages (`batchSize` -> `--batch-size`). */
  flagNames?: Record<string, string>;
}

/**
 * Merges `sources` (flags over file), validates against `schema`, fills defaults and freezes.
 * Throws `ConfigValidationError` listing every field at fault.
 */
export function resolveConfig<S extends ConfigSchema>(
  schema: S,
  sources: ConfigSources,
): Readonly<z.infer<S>> {
  const merged: Record<string, unknown> = {};
  const from: ValueSources = {};
  for (const [key, value] of Object.entries(sources.file?.values ?? {})) {
    const name = camelCase(key);
    merged[name] = value;
    from[name] = sources.file?.path ?? 'the config file';
  }
  for (const [name, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    merged[name] = value;
    from[name] = sources.flagNames?.[name] ?? `--${name}`;
  }
  const result = schema.safeParse(merged, { reportInput: true });
  if (result.success) return Object.freeze(result.data) as Readonly<z.infer<S>>;
  const fields = new Map(schemaFields(schema).map((f) => [f.name, f]));
  const problems: string[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = suggest(key, [...fields.keys()]);
        problems.push(
          `${key}: unknown field, value ${show(merged[key])} (from ${from[key] ?? 'input'}); ` +
            (hint !== null
              ? `did you mean ${hint}?`
              : `known fields: ${[...fields.keys()].join(', ')}`),
        );
      }
      continue;
    }
    const name = issue.path.map(String).join('.');
    const info = fields.get(name);
    const got = merged[name];
    const expected = info !== undefined ? expectation(info) : issue.message;
    const where = from[name] !== undefined ? ` (from ${from[name]})` : '';
    const value = got === undefined ? 'nothing (the field is required)' : show(got);
    problems.push(`${name}: expected ${expected}, got ${value}${where}`);
  }
  throw new ConfigValidationError(problems);
}

/** A resolved config as `field: value` lines, for printing at the start of a run. */
export function formatConfig(config: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(config);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys
    .filter((k) => config[k] !== undefined)
    .map((k) => {
      const v = config[k];
      return `  ${k.padEnd(width)}  ${typeof v === 'string' ? v : JSON.stringify(v)}`;
    })
    .join('\n');
}
