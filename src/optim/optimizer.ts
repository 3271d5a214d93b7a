/**
 * The optimiser base class: parameter groups with their hyperparameters, per-parameter state, and
 * state dicts for checkpoints. Subclasses (`SGD`, `Adam`, `AdamW`) supply the update, which runs
 * through the kernel table (`adamStep`, `sgdStep`) and is counted under the 'optimizer' FLOP phase.
 *
 * Parameters are numbered by their position over all groups in order; the state dict uses these
 * numbers, as PyTorch's does, so a state dict loads into an optimiser built over the same
 * parameters in the same order.
 */
import type { FloatArray } from '../backends/kernels.js';
import { isFloat } from '../tensor/dtype.js';
import { DTypeError, fmtShape, ShapeError } from '../tensor/errors.js';
import { inPhase } from '../tensor/flops.js';
import { sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** A hyperparameter value: plain JSON, so the groups of a state dict save as JSON. */
export type HyperValue = number | boolean | readonly number[];

/** Hyperparameters every optimiser has. */
export interface GroupHypers {
  /** Learning rate; may be changed between steps (`setLr` or `group.lr`). */
  lr: number;
  weightDecay: number;
}

/** A parameter group: parameters updated with the same hyperparameters. */
export type ParamGroup<H extends GroupHypers> = H & { params: Tensor[] };

/** A group as given to a constructor: hyperparameters left out take the optimiser's defaults. */
export type ParamGroupInput<H extends GroupHypers> = Partial<H> & { params: readonly Tensor[] };

/** One parameter's optimiser state: buffers shaped like the parameter, and counters. */
export type ParamState = Record<string, Tensor | number>;

/** What `stateDict()` returns and `loadStateDict()` takes. Tensors are copies. */
export interface OptimizerStateDict {
  /** Per-parameter state keyed by the parameter's position over all groups; absent: none yet. */
  state: Record<number, ParamState>;
  /** Each group's hyperparameters, and the positions of its parameters. */
  paramGroups: (Record<string, HyperValue> & { params: number[] })[];
}

/** `options` without the keys whose value is undefined, so that they do not hide the defaults. */
export function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

function cloneHyper(v: HyperValue): HyperValue {
  return Array.isArray(v) ? [...v] : v;
}

function describeValue(v: unknown): string {
  if (v instanceof Tensor) return v.describe();
  return JSON.stringify(v) ?? String(v);
}

/** Whether `got` has the same kind of value as `want` (number, boolean, array of that length). */
function sameKind(want: HyperValue, got: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(got) && got.length === want.length && got.every(Number.isFinite);
  }
  return typeof got === typeof want;
}

export abstract class Optimizer<H extends GroupHypers, S extends ParamState = ParamState> {
  /** The groups, in order; their hyperparameters may be changed between steps. */
  readonly paramGroups: ParamGroup<H>[];
  /** State of each parameter that has been stepped (or loaded). */
  protected readonly state = new Map<Tensor, S>();
  private readonly positions = new Map<Tensor, number>();

  /**
   * @param kind the optimiser's name for messages ('SGD', 'Adam').
   * @param params a list of parameters (one group), or a list of groups.
   * @param defaults hyperparameters for groups that do not set their own.
   */
  protected constructor(
    protected readonly kind: string,
    params: readonly Tensor[] | readonly ParamGroupInput<H>[],
    defaults: H,
  ) {
    if (params.length === 0) throw new Error(`${kind}: got an empty parameter list`);
    const inputs: readonly ParamGroupInput<H>[] =
      params[0] instanceof Tensor
        ? [{ params: params as readonly Tensor[] } as ParamGroupInput<H>]
        : (params as readonly ParamGroupInput<H>[]);
    this.paramGroups = inputs.map((input, g) => {
      if (!Array.isArray(input?.params)) {
        throw new TypeError(`${kind}: group ${g} needs a 'params' array of tensors`);
      }
      const group = { params: [...input.params] } as ParamGroup<H>;
      for (const [key, value] of Object.entries(defaults)) {
        Reflect.set(group, key, cloneHyper(value as HyperValue));
      }
      for (const [key, value] of Object.entries(input)) {
        if (key === 'params' || value === undefined) continue;
        if (!(key in defaults)) {
          throw new TypeError(
            `${kind}: group ${g} has unknown field '${key}' (known: ` +
              `${Object.keys(defaults).join(', ')})`,
          );
        }
        Reflect.set(group, key, cloneHyper(value as HyperValue));
      }
      for (const p of group.params) this.addParameter(p, g);
      this.checkGroup(group, g);
      return group;
    });
  }

  private addParameter(p: unknown, g: number): void {
    const i = this.positions.size;
    if (!(p instanceof Tensor)) {
      throw new TypeError(`${this.kind}: parameter ${i} (in group ${g}) is not a Tensor`);
    }
    if (!isFloat(p.dtype)) {
      throw new DTypeError(
        `${this.kind}: parameter ${i} (${p.describe()}) is ${p.dtype}; only float32 and ` +
          'float64 tensors can be optimised',
      );
    }
    const first = this.positions.get(p);
    if (first !== undefined) {
      throw new Error(
        `${this.kind}: parameter ${p.describe()} appears twice (positions ${first} and ${i}); ` +
          'each parameter may belong to one group once',
      );
    }
    this.positions.set(p, i);
  }

  /** Throws, naming the group and field, when a hyperparameter is out of range. */
  protected abstract checkGroup(group: ParamGroup<H>, index: number): void;

  /** Fresh state for `param`, before its first step (also the template `loadStateDict` checks). */
  protected abstract initState(param: Tensor): S;

  /** Updates `param` in place from `grad` (same dtype and length); counts its FLOPs. */
  protected abstract update(param: Tensor, grad: FloatArray, group: ParamGroup<H>): void;

  /** Checks a learning rate or weight decay: finite and not negative. */
  protected checkNonNegative(value: unknown, field: string, group: number): void {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `${this.kind}: group ${group} field '${field}' must be a finite number >= 0, got ` +
          describeValue(value),
      );
    }
  }

  /** Position of `param` over all groups, for messages and state dicts. */
  protected position(param: Tensor): number {
    return this.positions.get(param) ?? -1;
  }

  /**
   * Updates every parameter that has a gradient (parameters whose `grad` is null are skipped, as
   * in PyTorch). FLOPs count under the 'optimizer' phase.
   */
  step(): void {
    this.paramGroups.forEach((group, g) => {
      this.checkGroup(group, g);
    });
    inPhase('optimizer', () => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          const grad = p.grad;
          if (grad === null) continue;
          if (grad.dtype !== p.dtype || !sameShape(grad.shape, p.shape)) {
            throw new ShapeError(
              `${this.kind}.step: parameter ${this.position(p)} (${p.describe()}) has gradient ` +
                `${grad.dtype}${fmtShape(grad.shape)}; expected ${p.dtype}${fmtShape(p.shape)}`,
            );
          }
          this.update(p, grad.data as FloatArray, group);
        }
      }
    });
  }

  /** Clears every parameter's gradient (sets it to null, as PyTorch's `set_to_none`). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  /** Sets the learning rate of every group. */
  setLr(lr: number): void {
    this.paramGroups.forEach((_, g) => {
      this.checkNonNegative(lr, 'lr', g);
    });
    for (const group of this.paramGroups) group.lr = lr;
  }

  /** All parameters, in position order. */
  parameters(): Tensor[] {
    return [...this.positions.keys()];
  }

  /** A copy of the optimiser's state: later steps do not change it. */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    for (const [p, s] of this.state) {
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) copy[k] = v instanceof Tensor ? v.clone() : v;
      state[this.position(p)] = copy;
    }
    const paramGroups = this.paramGroups.map((group) => {
      const out: Record<string, HyperValue> & { params: number[] } = {
        params: group.params.map((p) => this.position(p)),
      };
      for (const [k, v] of Object.entries(group)) {
        if (k !== 'params') out[k] = cloneHyper(v as HyperValue);
      }
      return out;
    });
    return { state, paramGroups };
  }

  /**
   * Restores a state saved by `stateDict()` from an optimiser of the same kind over parameters of
   * the same shapes, in the same groups. Everything is checked before anything changes; errors name
   * the group or the parameter's position, its shape and the field.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const where = `${this.kind}.loadStateDict`;
    if (
      !Array.isArray(dict?.paramGroups) ||
      dict.state === null ||
      typeof dict.state !== 'object'
    ) {
      throw new TypeError(`${where}: expected { state, paramGroups }, got ${describeValue(dict)}`);
    }
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw new Error(
        `${where}: the state dict has ${dict.paramGroups.length} parameter groups, this ` +
          `optimiser has ${this.paramGroups.length}`,
      );
    }
    const hypers = this.paramGroups.map((group, g) => {
      const saved = dict.paramGroups[g];
      const savedCount = Array.isArray(saved.params) ? saved.params.length : 'no';
      if (savedCount !== group.params.length) {
        throw new Error(
          `${where}: group ${g} has ${savedCount} parameters in the state dict, ` +
            `${group.params.length} here`,
        );
      }
      const values: [string, HyperValue][] = [];
      for (const [k, want] of Object.entries(group)) {
        if (k === 'params') continue;
        if (!sameKind(want as HyperValue, saved[k])) {
          throw new TypeError(
            `${where}: group ${g} field '${k}': expected a value like ${describeValue(want)}, ` +
              `got ${describeValue(saved[k])}`,
          );
        }
        values.push([k, cloneHyper(saved[k])]);
      }
      return values;
    });
    const params = this.parameters();
    const restored = new Map<Tensor, S>();
    for (const [key, saved] of Object.entries(dict.state)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= params.length) {
        throw new RangeError(
          `${where}: state for parameter ${key}, but this optimiser has parameters 0 to ` +
            `${params.length - 1}`,
        );
      }
      restored.set(params[i], this.restoreState(params[i], i, saved, where));
    }
    this.paramGroups.forEach((group, g) => {
      for (const [k, v] of hypers[g]) Reflect.set(group, k, v);
    });
    this.state.clear();
    for (const [p, s] of restored) this.state.set(p, s);
  }

  /** A fresh state for `param` filled from `saved`, after checking it field by field. */
  private restoreState(param: Tensor, i: number, saved: ParamState, where: string): S {
    const at = `${where}: parameter ${i} (${param.describe()})`;
    const template = this.initState(param);
    for (const k of Object.keys(saved ?? {})) {
      if (!(k in template)) {
        throw new Error(
          `${at}: unexpected state field '${k}' (expected: ${Object.keys(template).join(', ')})`,
        );
      }
    }
    for (const [k, want] of Object.entries(template)) {
      const got = saved?.[k];
      if (want instanceof Tensor) {
        if (!(got instanceof Tensor)) {
          throw new TypeError(
            `${at}: state field '${k}' must be a tensor, got ${describeValue(got)}`,
          );
        }
        if (!sameShape(got.shape, want.shape) || !isFloat(got.dtype)) {
          throw new ShapeError(
            `${at}: state field '${k}' has ${got.dtype}${fmtShape(got.shape)}, expected ` +
              `${want.dtype}${fmtShape(want.shape)}`,
          );
        }
        // Copies (converting float64 <-> float32): the caller's dict stays untouched by steps.
        want.data.set(got.data);
      } else if (typeof got !== 'number' || !Number.isFinite(got)) {
        throw new TypeError(
          `${at}: state field '${k}' must be a number, got ${describeValue(got)}`,
        );
      } else {
        Reflect.set(template, k, got);
      }
    }
    return template;
  }
}
