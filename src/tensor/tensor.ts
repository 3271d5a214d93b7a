/**
 * `Tensor`: a dense row-major array (shape, dtype, typed-array data it owns) with reverse-mode
 * autograd. Ops live in `./ops/`; `./methods.ts` attaches them to `Tensor` as methods.
 *
 * Autograd records, for each result of a differentiable op, a `GradNode` holding the op's inputs
 * and its backward function. `backward()` walks these nodes from the loss in reverse topological
 * order (the tape, read backwards), sums the gradients that reach each tensor, runs its gradient
 * hooks, and accumulates into `.grad` of the leaves that require it.
 */
import type { AnyArray } from '../backends/kernels.js';
import { allocate, allocateUninitialized, type DType, dtypeOf } from './dtype.js';
import { fmtShape, ShapeError } from './errors.js';
import { numel, type Shape } from './shape.js';
import { noteTensor } from './storage.js';

/** How an op's result is differentiated: its inputs and the map from `dy` to their gradients. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for `inputs`, in order; `null` where an input needs none. */
  backward(dy: Tensor): (Tensor | null)[];
}

/**
 * Sees the gradient of a tensor during `backward()`; may return a replacement of the same shape.
 */
export type GradHook = (grad: Tensor) => Tensor | undefined;

let gradEnabled = true;

/** Whether ops now record the tape (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording: results do not require gradients. */
export function noGrad<T>(fn: () => T): T {
  const saved = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = saved;
  }
}

export interface TensorOptions {
  requiresGrad?: boolean;
}

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  private elements: AnyArray;
  private disposed = false;
  requiresGrad: boolean;
  /** Accumulated gradient (leaves, and tensors that called `retainGrad()`). */
  grad: Tensor | null = null;
  /** How this tensor was computed; null for leaves and for results made without gradients. */
  gradFn: GradNode | null = null;
  /** An optional label that errors and debugging output show. */
  name: string | undefined;
  private hooks: GradHook[] | null = null;
  private retainsGrad = false;

  constructor(data: AnyArray, shape: Shape, options: TensorOptions = {}) {
    if (numel(shape) !== data.length) {
      throw new ShapeError(
        `Tensor: shape ${fmtShape(shape)} holds ${numel(shape)} elements, data has ${data.length}`,
      );
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ShapeError(`Tensor: invalid shape ${fmtShape(shape)}`);
      }
    }
    this.elements = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtypeOf(data);
    this.requiresGrad = options.requiresGrad ?? false;
    noteTensor(this);
  }

  /** The elements, row-major. Ops never write into their inputs' data. */
  get data(): AnyArray {
    if (this.disposed) {
      throw new Error(
        `${this.describe()} was disposed when the tensorScope that made it ended, and its ` +
          'memory now holds other values; return it from the scope or keep() it to use it after',
      );
    }
    return this.elements;
  }

  set data(data: AnyArray) {
    this.elements = data;
  }

  /** @internal The elements even after disposal; for the scope that disposes. */
  storage(): AnyArray {
    return this.elements;
  }

  /** @internal Marks the tensor unusable: its storage went back to the pool. */
  dispose(): void {
    this.disposed = true;
  }

  /** Whether a `tensorScope` disposed this tensor. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.elements.length;
  }

  /** True for tensors that `backward()` accumulates into (not computed by a recorded op). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) {
      throw new ShapeError(`item: expected a tensor with one element, got ${fmtShape(this.shape)}`);
    }
    return this.data[0];
  }

  /** Nested JavaScript arrays of the values. */
  toArray(): unknown {
    const build = (dim: number, offset: number, stride: number): unknown => {
      if (dim === this.shape.length) return this.data[offset];
      const inner = stride / this.shape[dim];
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]; i++) out.push(build(dim + 1, offset + i * inner, inner));
      return out;
    };
    return build(0, 0, this.data.length);
  }

  /** A new leaf sharing this tensor's data, cut from the tape. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /** A leaf copy of the data (no gradient history). */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** Sets `requiresGrad` and returns this tensor, for chaining. */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** Keeps `.grad` on a non-leaf tensor during `backward()`. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  /**
   * Attaches `hook` to run when this tensor's gradient is complete in `backward()`; a returned
   * tensor replaces the gradient. Returns a function that removes the hook.
   */
  registerHook(hook: GradHook): () => void {
    this.hooks ??= [];
    this.hooks.push(hook);
    return () => {
      const i = this.hooks?.indexOf(hook) ?? -1;
      if (i >= 0) this.hooks?.splice(i, 1);
    };
  }

  /** @internal Runs hooks on a complete gradient; used by the autograd engine. */
  applyHooks(grad: Tensor): Tensor {
    if (this.hooks === null) return grad;
    let g = grad;
    for (const hook of [...this.hooks]) {
      const replaced = hook(g);
      if (replaced !== undefined) {
        if (replaced.shape.join() !== g.shape.join()) {
          throw new ShapeError(
            `gradient hook on ${this.describe()}: returned shape ${fmtShape(replaced.shape)}, ` +
              `expected ${fmtShape(g.shape)}`,
          );
        }
        g = replaced;
      }
    }
    return g;
  }

  /** @internal Whether gradient hooks are attached (they may keep the gradient they see). */
  hasGradHooks(): boolean {
    return this.hooks !== null && this.hooks.length > 0;
  }

  /** @internal Whether backward keeps `.grad` on this tensor. */
  keepsGrad(): boolean {
    return this.retainsGrad || (this.gradFn === null && this.requiresGrad);
  }

  /** A short description for messages: name, shape, dtype. */
  describe(): string {
    const label = this.name ? `'${this.name}' ` : '';
    return `${label}${this.dtype}${fmtShape(this.shape)}`;
  }

  toString(): string {
    return `Tensor(${this.describe()}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  static zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    return new Tensor(allocate(dtype, numel(shape)), shape);
  }

  /**
   * A tensor whose values are unspecified, for an op's output that its kernel writes completely
   * (skips zero-filling memory reused from a `tensorScope`).
   */
  static empty(shape: Shape, dtype: DType = 'float32'): Tensor {
    return new Tensor(allocateUninitialized(dtype, numel(shape)), shape);
  }
}
