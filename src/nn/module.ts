/**
 * `Module`: the base of every layer and model. A module owns named parameters (tensors that
 * training updates), named buffers (tensors it keeps but does not train) and named child modules.
 * Names join with dots into paths like `blocks.0.attn.c_attn.weight`, the same paths that state
 * dicts and hook points use.
 *
 * `call(...)` runs `forward(...)` between hooks: forward pre-hooks (see or replace the inputs),
 * forward hooks (see the inputs and output, or replace the output) and backward hooks (see or
 * replace the gradient that flows into the module's output during `backward()`).
 */

import { isFloat } from '../tensor/dtype.js';
import { fmtShape, NotSupportedError, ShapeError } from '../tensor/errors.js';
import { sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

// The hook types are written as methods so that their parameters compare bivariantly: a
// Module<[Tensor], Tensor> must still be usable where any Module is expected (a child, a model
// walked to place hooks), which strict function types would refuse.

/** Sees the inputs before `forward`; returning an array replaces them. */
export type ForwardPreHook<Args extends unknown[]> = {
  hook(module: Module<Args, unknown>, inputs: Args): Args | undefined;
}['hook'];

/** Sees the inputs and the output after `forward`; returning a value replaces the output. */
export type ForwardHook<Args extends unknown[], Out> = {
  hook(module: Module<Args, Out>, inputs: Args, output: Out): Out | undefined;
}['hook'];

/**
 * Sees the gradient of the loss with respect to the module's output (same shape as the output)
 * during `backward()`; returning a tensor of that shape replaces it.
 */
export type BackwardHook = (module: Module, gradOutput: Tensor) => Tensor | undefined;

/** What `loadStateDict` found: keys the module has but the map lacks, and the reverse. */
export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** A state dict that does not fit the module: the message lists every key at fault. */
export class StateDictError extends Error {
  override name = 'StateDictError';
}

function removeFrom<T>(list: T[], item: T): () => void {
  return () => {
    const i = list.indexOf(item);
    if (i >= 0) list.splice(i, 1);
  };
}

/**
 * The base class of layers and models.
 *
 * @typeParam Args the arguments of `forward`.
 * @typeParam Out what `forward` returns.
 * @example
 * class Scale extends Module<[Tensor], Tensor> {
 *   readonly weight: Tensor;
 *   constructor(C: number) {
 *     super();
 *     this.weight = this.registerParameter('weight', ones([C]));
 *   }
 *   forward(x: Tensor): Tensor { return x.mul(this.weight); } // x: [B, C] -> [B, C]
 * }
 */
export abstract class Module<Args extends unknown[] = unknown[], Out = unknown> {
  /** True in training mode (dropout active); set by `train()` and `eval()`. */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly modules = new Map<string, Module>();
  private readonly preHooks: ForwardPreHook<Args>[] = [];
  private readonly forwardHooks: ForwardHook<Args, Out>[] = [];
  private readonly backwardHooks: BackwardHook[] = [];

  /** The computation; call the module through `call(...)` so that hooks run. */
  abstract forward(...args: Args): Out;

  /** Runs the forward pre-hooks, `forward` and the forward hooks; attaches backward hooks. */
  call(...args: Args): Out {
    let inputs = args;
    for (const hook of [...this.preHooks]) inputs = hook(this, inputs) ?? inputs;
    let output = this.forward(...inputs);
    for (const hook of [...this.forwardHooks]) {
      const replaced = hook(this, inputs, output);
      if (replaced !== undefined) output = replaced;
    }
    if (this.backwardHooks.length > 0) this.attachBackwardHooks(output);
    return output;
  }

  private attachBackwardHooks(output: unknown): void {
    if (!(output instanceof Tensor)) {
      throw new NotSupportedError(
        `${this.constructor.name}: backward hooks need forward to return one Tensor, got ` +
          `${Array.isArray(output) ? 'an array' : typeof output}`,
      );
    }
    // Without gradients being recorded (noGrad, or nothing requires grad) there is no backward.
    if (!output.requiresGrad) return;
    // The hooks registered now; one removed before backward no longer runs.
    const hooks = [...this.backwardHooks];
    output.registerHook((grad) => {
      let g = grad;
      for (const hook of hooks) {
        if (!this.backwardHooks.includes(hook)) continue;
        const replaced = hook(this, g);
        if (replaced !== undefined) {
          if (!sameShape(replaced.shape, g.shape)) {
            throw new ShapeError(
              `${this.constructor.name}: backward hook returned a gradient of shape ` +
                `${fmtShape(replaced.shape)}, expected the output's shape ${fmtShape(g.shape)}`,
            );
          }
          g = replaced;
        }
      }
      return g === grad ? undefined : g;
    });
  }

  /** Adds a hook that runs before `forward`. Returns a function that removes it. */
  registerForwardPreHook(hook: ForwardPreHook<Args>): () => void {
    this.preHooks.push(hook);
    return removeFrom(this.preHooks, hook);
  }

  /** Adds a hook that runs after `forward`. Returns a function that removes it. */
  registerForwardHook(hook: ForwardHook<Args, Out>): () => void {
    this.forwardHooks.push(hook);
    return removeFrom(this.forwardHooks, hook);
  }

  /**
   * Adds a hook on the gradient of the module's output, attached at each later `call` whose output
   * requires gradients. Returns a function that removes it (also from outputs already computed).
   */
  registerBackwardHook(hook: BackwardHook): () => void {
    this.backwardHooks.push(hook);
    return removeFrom(this.backwardHooks, hook);
  }

  private checkName(kind: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new TypeError(
        `${this.constructor.name}.register${kind}: name must be a non-empty string without ` +
          `dots, got ${JSON.stringify(name)}`,
      );
    }
    const used = this.params.has(name)
      ? 'a parameter'
      : this.buffers.has(name)
        ? 'a buffer'
        : this.modules.has(name)
          ? 'a child module'
          : null;
    if (used !== null) {
      throw new Error(
        `${this.constructor.name}.register${kind}: name '${name}' is already used by ${used}`,
      );
    }
  }

  /**
   * Registers a trainable tensor under `name`: sets `requiresGrad` and `tensor.name` (the full
   * dotted path once this module is registered in a parent). Returns the tensor.
   */
  registerParameter(name: string, tensor: Tensor): Tensor {
    this.checkName('Parameter', name);
    if (!(tensor instanceof Tensor) || !isFloat(tensor.dtype)) {
      throw new TypeError(
        `${this.constructor.name}.registerParameter('${name}'): expected a float tensor, got ` +
          `${tensor instanceof Tensor ? tensor.describe() : typeof tensor}`,
      );
    }
    tensor.requiresGrad = true;
    tensor.name = name;
    this.params.set(name, tensor);
    return tensor;
  }

  /** Registers a tensor the module keeps but does not train (masks, running statistics). */
  registerBuffer(name: string, tensor: Tensor): Tensor {
    this.checkName('Buffer', name);
    if (!(tensor instanceof Tensor)) {
      throw new TypeError(
        `${this.constructor.name}.registerBuffer('${name}'): expected a Tensor, got ` +
          typeof tensor,
      );
    }
    tensor.name = name;
    this.buffers.set(name, tensor);
    return tensor;
  }

  /**
   * Registers `child` under `name` and prefixes the names of its tensors with `name.`. Register a
   * child after filling it, so its tensors get full paths (as models are built bottom-up).
   */
  registerModule<M extends Module>(name: string, child: M): M {
    this.checkName('Module', name);
    if (!(child instanceof Module)) {
      throw new TypeError(
        `${this.constructor.name}.registerModule('${name}'): expected a Module, got ` +
          typeof child,
      );
    }
    if (child === (this as Module) || [...child.namedModules()].some(([, m]) => m === this)) {
      throw new Error(
        `${this.constructor.name}.registerModule('${name}'): a module cannot contain itself`,
      );
    }
    for (const [path, t] of child.namedTensors()) t.name = `${name}.${path}`;
    this.modules.set(name, child as Module);
    return child;
  }

  /** Parameters and buffers with their paths, every occurrence (tied tensors under each name). */
  private *namedTensors(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, t] of this.params) yield [prefix + n, t];
    for (const [n, t] of this.buffers) yield [prefix + n, t];
    for (const [n, m] of this.modules) yield* m.namedTensors(`${prefix}${n}.`);
  }

  /**
   * This module and all below it, depth first in registration order, with dotted paths (this
   * module's path is `''`). A module reachable twice is yielded once.
   */
  *namedModules(prefix = '', seen = new Set<Module>()): Generator<[string, Module]> {
    if (seen.has(this as Module)) return;
    seen.add(this as Module);
    yield [prefix, this as Module];
    for (const [n, m] of this.modules) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, seen);
  }

  /**
   * Parameters with dotted paths: this module's own in registration order, then each child's.
   * A tensor registered under two names (tied weights) is yielded once, under the first.
   */
  *namedParameters(): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules()) {
      for (const [n, t] of m.params) {
        if (seen.has(t)) continue;
        seen.add(t);
        yield [path ? `${path}.${n}` : n, t];
      }
    }
  }

  /** The parameters, in the order of `namedParameters()`. */
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, t]) => t);
  }

  /** Buffers with dotted paths, in the order of `namedParameters()`; tied buffers once. */
  *namedBuffers(): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules()) {
      for (const [n, t] of m.buffers) {
        if (seen.has(t)) continue;
        seen.add(t);
        yield [path ? `${path}.${n}` : n, t];
      }
    }
  }

  /** The direct children with their names, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.modules];
  }

  /** The direct children, in registration order. */
  children(): Module[] {
    return [...this.modules.values()];
  }

  /** Sets training mode on this module and all below it. Returns this module. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** The number of parameter elements (tied tensors counted once). */
  numParameters(): number {
    let n = 0;
    for (const t of this.parameters()) n += t.size;
    return n;
  }

  /**
   * Every parameter and buffer by dotted path (tied tensors under each of their names). The
   * tensors are the module's own, not copies.
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedTensors());
  }

  /**
   * Copies values from `state` into the module's tensors in place (so optimisers keep their
   * references). Shapes must match; float values convert between float32 and float64. With
   * `strict` (default) missing and unexpected keys are errors too. Everything is checked before
   * anything is copied; the error lists every key at fault.
   */
  loadStateDict(state: Map<string, Tensor>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !state.has(k));
    const unexpectedKeys = [...state.keys()].filter((k) => !own.has(k));
    const problems: string[] = [];
    for (const [key, target] of own) {
      const source = state.get(key);
      if (source === undefined) continue;
      if (!sameShape(source.shape, target.shape)) {
        problems.push(
          `'${key}': shape ${fmtShape(source.shape)}, expected ${fmtShape(target.shape)}`,
        );
      } else if (isFloat(source.dtype) !== isFloat(target.dtype)) {
        problems.push(`'${key}': dtype ${source.dtype}, expected ${target.dtype}`);
      }
    }
    if (strict) {
      if (missingKeys.length > 0) problems.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length > 0) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    }
    if (problems.length > 0) {
      throw new StateDictError(
        `${this.constructor.name}.loadStateDict: the state dict does not fit:\n  ` +
          problems.join('\n  '),
      );
    }
    for (const [key, target] of own) {
      const source = state.get(key);
      if (source !== undefined && source.data !== target.data) target.data.set(source.data);
    }
    return { missingKeys, unexpectedKeys };
  }
}
