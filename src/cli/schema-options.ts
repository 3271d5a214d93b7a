/**
 * Flags from config schemas: each field of a zod object schema (see src/train/config-resolve.ts)
 * becomes a commander option named in kebab-case (`batchSize` -> `--batch-size <integer>`), whose
 * help is the field's `.describe()` text with its expectation and default. Booleans are switches
 * (`--json`; `--no-x` too when the default is true).
 *
 * Commander is given no defaults: the schema fills them, so that a value from a config file is
 * not hidden by a default, and `flagValues` returns exactly the flags the user typed, turned into
 * numbers where the field is numeric (a value that is not a number is passed on as typed, for the
 * schema to report).
 */
import { type Command, Option } from 'commander';
import {
  type ConfigSchema,
  expectation,
  type FieldInfo,
  schemaFields,
} from '../train/config-resolve.js';

/** `batchSize` -> `batch-size`. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** What a string flag's value is, for the usage line, by the field names the schemas use. */
const STRING_PLACEHOLDERS: Readonly<Record<string, string>> = {
  data: 'file',
  labels: 'file',
  config: 'file',
  tokenizer: 'char|path',
  resume: 'run-id',
  runs: 'dir',
  target: 'column',
  ignore: 'columns',
  name: 'text',
};

function placeholder(info: FieldInfo): string {
  if (info.kind === 'enum') return '<choice>';
  if (info.kind === 'integer') return '<integer>';
  if (info.kind === 'number') return '<number>';
  return `<${STRING_PLACEHOLDERS[info.name] ?? kebabCase(info.name).split('-').pop()}>`;
}

function helpText(info: FieldInfo): string {
  const notes: string[] = [];
  // Strings and switches explain themselves; numbers and choices say what they accept.
  if (info.kind !== 'boolean' && info.kind !== 'string') notes.push(expectation(info));
  if (info.defaultValue !== undefined && info.kind !== 'boolean') {
    notes.push(`default ${JSON.stringify(info.defaultValue)}`);
  }
  return notes.length > 0 ? `${info.description} (${notes.join('; ')})` : info.description;
}

/** Adds an option to `command` for every field of `schema`. Returns the command. */
export function addSchemaOptions(command: Command, schema: ConfigSchema): Command {
  for (const info of schemaFields(schema)) {
    const flag = kebabCase(info.name);
    if (info.kind === 'boolean') {
      command.addOption(new Option(`--${flag}`, helpText(info)));
      if (info.defaultValue === true)
        command.addOption(new Option(`--no-${flag}`, `not: ${info.description}`));
      continue;
    }
    // Choices are listed in the help but checked by the schema, so every bad value gets the same
    // kind of message (field, value, expectation).
    command.addOption(new Option(`--${flag} ${placeholder(info)}`, helpText(info)));
  }
  return command;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The values of `schema`'s fields among commander's parsed `options` (only those given), with
 * numbers parsed and `none` / `null` as null for nullable fields. Also how each was spelled.
 */
export function flagValues(
  schema: ConfigSchema,
  options: Readonly<Record<string, unknown>>,
): { values: Record<string, unknown>; names: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const names: Record<string, string> = {};
  for (const info of schemaFields(schema)) {
    const raw = options[info.name];
    if (raw === undefined) continue;
    names[info.name] = `--${kebabCase(info.name)}`;
    if (typeof raw !== 'string') {
      values[info.name] = raw;
      continue;
    }
    if (info.nullable && (raw === 'none' || raw === 'null')) values[info.name] = null;
    else if ((info.kind === 'number' || info.kind === 'integer') && NUMBER.test(raw.trim())) {
      values[info.name] = Number(raw);
    } else values[info.name] = raw;
  }
  return { values, names };
}
