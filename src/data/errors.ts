/** Errors of the data layer: each names the file (and the column, row or field) at fault. */

/** A data file that cannot be used as asked; the message starts with the file. */
export class DataError extends Error {
  override name = 'DataError';
  constructor(
    /** The file at fault, or a description of the source ('the default corpus'). */
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}
