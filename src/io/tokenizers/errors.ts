/** Errors of the tokenizers, and the checked reading of their JSON files. */

/** A tokenizer file with a missing or malformed field, or text or ids it cannot handle. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
  /** The file at fault (or the operation, for errors not tied to a file). */
  readonly file: string;
  /** The field at fault, as a path such as `model.merges[12]`. */
  readonly field: string | undefined;

  constructor(file: string, message: string, field?: string) {
    super(`tokenizer ${file}:${field === undefined ? '' : ` field '${field}':`} ${message}`);
    this.file = file;
    this.field = field;
  }
}

/** Shows a JSON value briefly inside a message. */
export function show(v: unknown): string {
  const text = JSON.stringify(v);
  if (text === undefined) return String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Typed access to the fields of a parsed JSON file; each failure names the file and field. */
export class JsonFields {
  constructor(readonly file: string) {}

  error(field: string, message: string): TokenizerError {
    return new TokenizerError(this.file, message, field);
  }

  object(v: unknown, field: string): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw this.error(field, `expected an object, got ${v === undefined ? 'nothing' : show(v)}`);
    }
    return v as Record<string, unknown>;
  }

  array(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) {
      throw this.error(field, `expected an array, got ${v === undefined ? 'nothing' : show(v)}`);
    }
    return v;
  }

  string(v: unknown, field: string): string {
    if (typeof v !== 'string') {
      throw this.error(field, `expected a string, got ${v === undefined ? 'nothing' : show(v)}`);
    }
    return v;
  }

  /** A token id: an integer in [0, 2^26), the range the merge table can key. */
  id(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 26) {
      throw this.error(field, `expected a token id (integer >= 0), got ${show(v)}`);
    }
    return v;
  }

  bool(v: unknown, field: string, fallback?: boolean): boolean {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') {
      throw this.error(
        field,
        `expected true or false, got ${v === undefined ? 'nothing' : show(v)}`,
      );
    }
    return v;
  }
}
