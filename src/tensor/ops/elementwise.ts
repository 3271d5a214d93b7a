/**
 * Elementwise ops with NumPy broadcasting. Each op counts one FLOP per output element; its
 * backward counts the FLOPs of the ops it is written with.
 */
import { kernels } from '../../backends/index.js';
import type { BinaryOp, CompareOp, FloatArray, Strided, UnaryOp } from '../../backends/kernels.js';
import { record } from '../autograd.js';
import { allocate, assertFloat, type DType, type FloatDType } from '../dtype.js';
import { DTypeError } from '../errors.js';
import { countFlops } from '../flops.js';
import { broadcastShapes, broadcastStrides, type Shape, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';

export type Operand = Tensor | number;

/** A number becomes a zero-dimensional tensor of `like`'s dtype. */
export function lift(x: Operand, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  const data = allocate(like.dtype, 1);
  data[0] = x;
  return new Tensor(data, []);
}

/** A dense tensor seen through the strides of the broadcast `shape`. */
export function broadcastView(x: Tensor, shape: Shape): Strided {
  return { data: x.data, offset: 0, strides: broadcastStrides(x.shape, shape) };
}

function checkDTypes(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new DTypeError(
      `${op}: operands have different dtypes, ${a.describe()} and ${b.describe()}; ` +
        'convert one with cast()',
    );
  }
}

/** Sums a broadcast gradient back down to `shape` (the backward of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(g, axes, true), shape);
}

function binaryForward(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkDTypes(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = Tensor.empty(shape, a.dtype);
  kernels().binary(
    op,
    broadcastView(a, shape),
    broadcastView(b, shape),
    out.data,
    new Int32Array(shape),
  );
  countFlops(out.size);
  return out;
}

function binaryGrad(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  dy: Tensor,
): [Tensor | null, Tensor | null] {
  const need = (t: Tensor, g: () => Tensor) => (t.requiresGrad ? sumToShape(g(), t.shape) : null);
  switch (op) {
    case 'add':
      return [need(a, () => dy), need(b, () => dy)];
    case 'sub':
      return [need(a, () => dy), need(b, () => neg(dy))];
    case 'mul':
      return [need(a, () => mul(dy, b)), need(b, () => mul(dy, a))];
    case 'div':
      return [need(a, () => div(dy, b)), need(b, () => neg(div(mul(dy, out), b)))];
    case 'pow':
      return [
        need(a, () => mul(dy, mul(b, pow(a, sub(b, 1))))),
        need(b, () => mul(dy, mul(out, log(a)))),
      ];
    case 'maximum':
    case 'minimum': {
      // The chosen operand takes the gradient; ties split it evenly, as in PyTorch.
      const wins = op === 'maximum' ? gt : lt;
      const share = (x: Tensor, y: Tensor) =>
        add(cast01(wins(x, y), dy.dtype), mul(cast01(eq(x, y), dy.dtype), 0.5));
      return [need(a, () => mul(dy, share(a, b))), need(b, () => mul(dy, share(b, a)))];
    }
  }
}

function cast01(mask: Tensor, dtype: DType): Tensor {
  const data = allocate(dtype, mask.size);
  data.set(mask.data);
  return new Tensor(data, mask.shape);
}

function binaryOp(op: BinaryOp, x: Operand, y: Operand): Tensor {
  const a = x instanceof Tensor ? x : lift(x, y as Tensor);
  const b = lift(y, a);
  const out = binaryForward(op, a, b);
  if (a.dtype === 'int32') return out;
  return record(out, op, [a, b], (dy) => binaryGrad(op, a, b, out, dy));
}

export const add = (a: Operand, b: Operand): Tensor => binaryOp('add', a, b);
export const sub = (a: Operand, b: Operand): Tensor => binaryOp('sub', a, b);
export const mul = (a: Operand, b: Operand): Tensor => binaryOp('mul', a, b);
export const div = (a: Operand, b: Operand): Tensor => binaryOp('div', a, b);
export const pow = (a: Operand, b: Operand): Tensor => binaryOp('pow', a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binaryOp('maximum', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binaryOp('minimum', a, b);

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  assertFloat(op, x.dtype);
  const out = Tensor.empty(x.shape, x.dtype);
  kernels().unary(op, x.data as FloatArray, out.data as FloatArray);
  countFlops(x.size);
  return record(out, op, [x], (dy) => {
    const dx = Tensor.empty(x.shape, x.dtype);
    const k = kernels();
    k.unaryBackward(
      op,
      x.data as FloatArray,
      out.data as FloatArray,
      dy.data as FloatArray,
      dx.data as FloatArray,
    );
    countFlops(2 * x.size);
    return [dx];
  });
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
/** GELU; `approximate: 'tanh'` is GPT-2's form, the default the exact erf form. */
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor =>
  unaryOp(approximate === 'tanh' ? 'geluTanh' : 'gelu', x);
export const silu = (x: Tensor): Tensor => unaryOp('silu', x);
export const square = (x: Tensor): Tensor => unaryOp('square', x);

/** `x * scale + shift` in one pass. */
export function affine(x: Tensor, scale: number, shift = 0): Tensor {
  assertFloat('affine', x.dtype);
  const out = Tensor.zeros(x.shape, x.dtype);
  kernels().affine(x.data as FloatArray, scale, shift, out.data as FloatArray);
  countFlops(2 * x.size);
  return record(out, 'affine', [x], (dy) => [affine(dy, scale)]);
}

function compareOp(op: CompareOp, x: Operand, y: Operand): Tensor {
  const a = x instanceof Tensor ? x : lift(x, y as Tensor);
  const b = lift(y, a);
  checkDTypes(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = Tensor.zeros(shape, 'int32');
  kernels().compare(
    op,
    broadcastView(a, shape),
    broadcastView(b, shape),
    out.data as Int32Array,
    new Int32Array(shape),
  );
  countFlops(out.size);
  return out;
}

/** Comparisons give int32 masks of 0 and 1; they have no gradient. */
export const eq = (a: Operand, b: Operand): Tensor => compareOp('eq', a, b);
export const ne = (a: Operand, b: Operand): Tensor => compareOp('ne', a, b);
export const lt = (a: Operand, b: Operand): Tensor => compareOp('lt', a, b);
export const le = (a: Operand, b: Operand): Tensor => compareOp('le', a, b);
export const gt = (a: Operand, b: Operand): Tensor => compareOp('gt', a, b);
export const ge = (a: Operand, b: Operand): Tensor => compareOp('ge', a, b);

/** `cond != 0 ? a : b`, broadcasting all three. */
export function where(cond: Tensor, x: Operand, y: Operand): Tensor {
  if (cond.dtype !== 'int32') {
    throw new DTypeError(`where: the condition must be an int32 mask, got ${cond.describe()}`);
  }
  const a = x instanceof Tensor ? x : lift(x, y instanceof Tensor ? y : scalarOf(0, 'float32'));
  const b = lift(y, a);
  checkDTypes('where', a, b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const out = Tensor.zeros(shape, a.dtype);
  kernels().where(
    broadcastView(cond, shape) as Strided<Int32Array>,
    broadcastView(a, shape),
    broadcastView(b, shape),
    out.data,
    new Int32Array(shape),
  );
  if (a.dtype === 'int32') return out;
  return record(out, 'where', [a, b], (dy) => {
    const zero = lift(0, dy);
    return [
      a.requiresGrad ? sumToShape(where(cond, dy, zero), a.shape) : null,
      b.requiresGrad ? sumToShape(where(cond, zero, dy), b.shape) : null,
    ];
  });
}

function scalarOf(v: number, dtype: FloatDType): Tensor {
  const data = allocate(dtype, 1);
  data[0] = v;
  return new Tensor(data, []);
}

/** `x` with `value` wherever `mask` (int32, broadcast to `x`) is nonzero. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const out = where(mask, lift(value, x), x);
  if (!sameShape(out.shape, x.shape)) {
    throw new DTypeError(
      `maskedFill: mask [${mask.shape}] must broadcast to the tensor's shape [${x.shape}]`,
    );
  }
  return out;
}
