/**
 * Attaches the ops to `Tensor` as methods, so `x.matmul(w).add(b).relu().sum()` reads left to
 * right. Every method is the op of the same name with `this` as its first operand.
 */
import { type BackwardOptions, backward } from './autograd.js';
import { cast } from './create.js';
import type { DType } from './dtype.js';
import * as ew from './ops/elementwise.js';
import { gather, indexSelect } from './ops/indexing.js';
import { type MatmulOptions, matmul } from './ops/matmul.js';
import { logSoftmax, softmax } from './ops/nn.js';
import * as red from './ops/reduce.js';
import * as sh from './ops/shape.js';
import { Tensor } from './tensor.js';

type Operand = ew.Operand;
type Axes = number | number[];

declare module './tensor.js' {
  interface Tensor {
    backward(grad?: Tensor, options?: BackwardOptions): void;
    add(other: Operand): Tensor;
    sub(other: Operand): Tensor;
    mul(other: Operand): Tensor;
    div(other: Operand): Tensor;
    pow(other: Operand): Tensor;
    maximum(other: Operand): Tensor;
    minimum(other: Operand): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    abs(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    gelu(approximate?: 'none' | 'tanh'): Tensor;
    silu(): Tensor;
    square(): Tensor;
    eq(other: Operand): Tensor;
    ne(other: Operand): Tensor;
    lt(other: Operand): Tensor;
    le(other: Operand): Tensor;
    gt(other: Operand): Tensor;
    ge(other: Operand): Tensor;
    maskedFill(mask: Tensor, value: number): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    variance(axes?: Axes, keepdim?: boolean, correction?: number): Tensor;
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    permute(order: readonly number[]): Tensor;
    transpose(a?: number, b?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    squeeze(axis?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    flatten(start?: number, end?: number): Tensor;
    slice(axis: number, start: number, end?: number): Tensor;
    split(sizes: number | readonly number[], axis?: number): Tensor[];
    gather(axis: number, index: Tensor): Tensor;
    indexSelect(axis: number, index: Tensor): Tensor;
    matmul(other: Tensor, options?: MatmulOptions): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    cast(dtype: DType): Tensor;
  }
}

const methods: Partial<Record<keyof Tensor, (this: Tensor, ...args: never[]) => unknown>> = {
  backward(this: Tensor, grad?: Tensor, options?: BackwardOptions) {
    backward(this, grad, options);
  },
  add(this: Tensor, o: Operand) {
    return ew.add(this, o);
  },
  sub(this: Tensor, o: Operand) {
    return ew.sub(this, o);
  },
  mul(this: Tensor, o: Operand) {
    return ew.mul(this, o);
  },
  div(this: Tensor, o: Operand) {
    return ew.div(this, o);
  },
  pow(this: Tensor, o: Operand) {
    return ew.pow(this, o);
  },
  maximum(this: Tensor, o: Operand) {
    return ew.maximum(this, o);
  },
  minimum(this: Tensor, o: Operand) {
    return ew.minimum(this, o);
  },
  neg(this: Tensor) {
    return ew.neg(this);
  },
  exp(this: Tensor) {
    return ew.exp(this);
  },
  log(this: Tensor) {
    return ew.log(this);
  },
  sqrt(this: Tensor) {
    return ew.sqrt(this);
  },
  rsqrt(this: Tensor) {
    return ew.rsqrt(this);
  },
  abs(this: Tensor) {
    return ew.abs(this);
  },
  tanh(this: Tensor) {
    return ew.tanh(this);
  },
  sigmoid(this: Tensor) {
    return ew.sigmoid(this);
  },
  relu(this: Tensor) {
    return ew.relu(this);
  },
  gelu(this: Tensor, approximate?: 'none' | 'tanh') {
    return ew.gelu(this, approximate);
  },
  silu(this: Tensor) {
    return ew.silu(this);
  },
  square(this: Tensor) {
    return ew.square(this);
  },
  eq(this: Tensor, o: Operand) {
    return ew.eq(this, o);
  },
  ne(this: Tensor, o: Operand) {
    return ew.ne(this, o);
  },
  lt(this: Tensor, o: Operand) {
    return ew.lt(this, o);
  },
  le(this: Tensor, o: Operand) {
    return ew.le(this, o);
  },
  gt(this: Tensor, o: Operand) {
    return ew.gt(this, o);
  },
  ge(this: Tensor, o: Operand) {
    return ew.ge(this, o);
  },
  maskedFill(this: Tensor, mask: Tensor, value: number) {
    return ew.maskedFill(this, mask, value);
  },
  sum(this: Tensor, axes?: Axes, keepdim?: boolean) {
    return red.sum(this, axes, keepdim);
  },
  mean(this: Tensor, axes?: Axes, keepdim?: boolean) {
    return red.mean(this, axes, keepdim);
  },
  max(this: Tensor, axes?: Axes, keepdim?: boolean) {
    return red.max(this, axes, keepdim);
  },
  min(this: Tensor, axes?: Axes, keepdim?: boolean) {
    return red.min(this, axes, keepdim);
  },
  variance(this: Tensor, axes?: Axes, keepdim?: boolean, correction?: number) {
    return red.variance(this, axes, keepdim, correction);
  },
  argmax(this: Tensor, axis?: number, keepdim?: boolean) {
    return red.argmax(this, axis, keepdim);
  },
  argmin(this: Tensor, axis?: number, keepdim?: boolean) {
    return red.argmin(this, axis, keepdim);
  },
  reshape(this: Tensor, shape: readonly number[]) {
    return sh.reshape(this, shape);
  },
  permute(this: Tensor, order: readonly number[]) {
    return sh.permute(this, order);
  },
  transpose(this: Tensor, a?: number, b?: number) {
    return sh.transpose(this, a, b);
  },
  unsqueeze(this: Tensor, axis: number) {
    return sh.unsqueeze(this, axis);
  },
  squeeze(this: Tensor, axis?: number) {
    return sh.squeeze(this, axis);
  },
  expand(this: Tensor, shape: readonly number[]) {
    return sh.expand(this, shape);
  },
  flatten(this: Tensor, start?: number, end?: number) {
    return sh.flatten(this, start, end);
  },
  slice(this: Tensor, axis: number, start: number, end?: number) {
    return sh.slice(this, axis, start, end);
  },
  split(this: Tensor, sizes: number | readonly number[], axis?: number) {
    return sh.split(this, sizes, axis);
  },
  gather(this: Tensor, axis: number, index: Tensor) {
    return gather(this, axis, index);
  },
  indexSelect(this: Tensor, axis: number, index: Tensor) {
    return indexSelect(this, axis, index);
  },
  matmul(this: Tensor, other: Tensor, options?: MatmulOptions) {
    return matmul(this, other, options);
  },
  softmax(this: Tensor, axis?: number) {
    return softmax(this, axis);
  },
  logSoftmax(this: Tensor, axis?: number) {
    return logSoftmax(this, axis);
  },
  cast(this: Tensor, dtype: DType) {
    return cast(this, dtype);
  },
};

Object.assign(Tensor.prototype, methods);
