/** The autograd engine: recording results on the tape and walking it backwards. */
import { kernels } from '../backends/index.js';
import type { AnyArray } from '../backends/kernels.js';
import { fmtShape, ShapeError } from './errors.js';
import { inPhase } from './flops.js';
import { sameShape } from './shape.js';
import { keep, reuseNow, withBackwardLog } from './storage.js';
import { type GradNode, isGradEnabled, noGrad, Tensor } from './tensor.js';

/**
 * Marks `out` as computed from `inputs` by `op`, when gradients are being recorded and some input
 * requires them. `backward` maps `dy` (shaped like `out`) to one gradient per input (or null).
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: (dy: Tensor) => (Tensor | null)[],
): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  const node: GradNode = { op, inputs, backward };
  out.gradFn = node;
  out.requiresGrad = true;
  return out;
}

/** Tensors reachable from `root` through grad nodes, each after all tensors computed from it. */
function reverseTopological(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative post-order DFS: deep graphs (long LSTM unrolls) would overflow a recursive one.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order.reverse();
}

/** `a + b` (same shape, dense) into `out`, which may be `a` itself. */
function addDense(a: Tensor, b: Tensor, out: Tensor): Tensor {
  const strides = new Int32Array(a.shape.length);
  let s = 1;
  for (let i = a.shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= a.shape[i];
  }
  kernels().binary(
    'add',
    { data: a.data, offset: 0, strides },
    { data: b.data, offset: 0, strides },
    out.data,
    new Int32Array(a.shape),
  );
  return out;
}

/** `a + b` in a new tensor. */
function addInto(a: Tensor, b: Tensor): Tensor {
  return addDense(a, b, Tensor.empty(a.shape, a.dtype));
}

/** `a += b` in `a`'s own storage. */
function addInPlace(a: Tensor, b: Tensor): void {
  addDense(a, b, a);
}

/**
 * Stands in for the grad node of a tensor whose graph `backward()` has already walked and freed,
 * so that a second walk fails with a clear message instead of silently treating it as a leaf.
 */
const FREED: GradNode = {
  op: 'freed',
  inputs: [],
  backward() {
    throw new Error(
      'backward: this graph was already walked by an earlier backward() and its saved tensors ' +
        'were freed; pass { retainGraph: true } to the first backward() to walk it twice',
    );
  },
};

export interface BackwardOptions {
  /** Keep the graph (and the activations it holds) for another `backward()`; default false. */
  retainGraph?: boolean;
}

/**
 * Backpropagates from `root`. `grad` defaults to 1 for a one-element root. Gradients accumulate
 * into `.grad` (call `zeroGrad` on an optimiser or set `.grad = null` to start afresh). Each node
 * is released as soon as its backward has run, so the activations it saved can be freed during
 * the walk rather than after it (unless `retainGraph`).
 */
export function backward(root: Tensor, grad?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new Error(
      `backward: ${root.describe()} does not require gradients (no input of the ops that made ` +
        'it has requiresGrad, or it was computed inside noGrad)',
    );
  }
  let seed = grad;
  if (seed === undefined) {
    if (root.size !== 1) {
      throw new ShapeError(
        `backward: the root ${fmtShape(root.shape)} has ${root.size} elements; pass a gradient ` +
          'of the same shape, or reduce it to one element first (sum, mean)',
      );
    }
    seed = Tensor.zeros(root.shape, root.dtype);
    seed.data[0] = 1;
  } else if (!sameShape(seed.shape, root.shape) || seed.dtype !== root.dtype) {
    throw new ShapeError(
      `backward: gradient ${seed.describe()} does not match the root ${root.describe()}`,
    );
  }
  const order = reverseTopological(root);
  inPhase('backward', () =>
    noGrad(() => withBackwardLog((log) => walk(order, root, seed, options, log))),
  );
}

/**
 * The walk of `backward()`. Inside a tensorScope (`log` not null) it also hands gradients it is
 * done with back to the pool at once, and sums a gradient into another in place, so that the
 * pass allocates about as much as the largest set of gradients live at one time rather than
 * all of them. Only storage this walk allocated qualifies (`log`), never a tensor's from the
 * forward pass, and never one a gradient hook has seen; a count of the pending gradients that
 * share each storage (ops such as add pass one gradient to several inputs) decides when it is
 * free.
 */
function walk(
  order: Tensor[],
  root: Tensor,
  seed: Tensor,
  options: BackwardOptions,
  log: Map<ArrayBufferLike, AnyArray> | null,
): void {
  const pending = new Map<Tensor, Tensor>([[root, seed]]);
  const uses = new Map<ArrayBufferLike, number>();
  const seen = new Set<ArrayBufferLike>(); // storage a hook saw: never reused here
  const hold = (x: Tensor): void => {
    if (log === null) return;
    const b = x.storage().buffer;
    uses.set(b, (uses.get(b) ?? 0) + 1);
  };
  const drop = (x: Tensor): void => {
    if (log === null) return;
    const b = x.storage().buffer;
    const n = (uses.get(b) ?? 0) - 1;
    if (n > 0) {
      uses.set(b, n);
      return;
    }
    uses.delete(b);
    const owned = log.get(b);
    if (owned !== undefined && !seen.has(b)) {
      log.delete(b);
      reuseNow(owned);
    }
  };
  /** Whether `prev` may take `gi` added into its own storage. */
  const summable = (prev: Tensor, gi: Tensor): boolean => {
    if (log === null) return false;
    const b = prev.storage().buffer;
    return log.has(b) && !seen.has(b) && uses.get(b) === 1 && gi.storage().buffer !== b;
  };
  hold(seed);
  for (const t of order) {
    const incoming = pending.get(t);
    if (incoming === undefined) continue;
    pending.delete(t);
    if (t.hasGradHooks()) seen.add(incoming.storage().buffer);
    const g = t.applyHooks(incoming);
    if (g !== incoming) seen.add(g.storage().buffer);
    if (t.keepsGrad()) {
      // A copy: the same gradient object may also flow to other tensors.
      t.grad = keep(t.grad === null ? g.clone() : addInto(t.grad, g));
    }
    const node = t.gradFn;
    if (node !== null) {
      const grads = node.backward(g);
      if (!options.retainGraph) t.gradFn = FREED;
      node.inputs.forEach((input, i) => {
        const gi = grads[i];
        if (gi === null || gi === undefined || !input.requiresGrad) return;
        if (!sameShape(gi.shape, input.shape)) {
          throw new ShapeError(
            `backward of ${node.op}: gradient ${fmtShape(gi.shape)} for input ${i} of shape ` +
              `${fmtShape(input.shape)} (an engine bug: please report it)`,
          );
        }
        hold(gi);
        const prev = pending.get(input);
        if (prev === undefined) {
          pending.set(input, gi);
          return;
        }
        if (summable(prev, gi)) {
          addInPlace(prev, gi);
        } else {
          const sum = addInto(prev, gi);
          hold(sum);
          pending.set(input, sum);
          drop(prev);
        }
        drop(gi);
      });
    }
    drop(incoming);
  }
}
