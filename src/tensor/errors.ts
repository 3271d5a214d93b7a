/**
 * Errors raised by the tensor engine. Each names the op and shows what was expected and what came.
 */

/** Operand shapes that cannot work together (broadcasting, matmul inner sizes, ...). */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** An operand of the wrong dtype (an int32 tensor where floats are needed, mixed floats...). */
export class DTypeError extends Error {
  override name = 'DTypeError';
}

/** An index outside the axis it indexes (gather, embedding, cross-entropy targets...). */
export class IndexError extends Error {
  override name = 'IndexError';
}

/** A feature the engine does not support yet; the message names the missing case. */
export class NotSupportedError extends Error {
  override name = 'NotSupportedError';
}

/** Formats a shape the way the errors show it: `[2, 3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
