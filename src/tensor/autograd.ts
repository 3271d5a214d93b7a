/** The autograd engine: recording results on the tape and walking it backwards. */
import { kernels } from '../backends/index.js';
import { fmtShape, ShapeError } from './errors.js';
import { inPhase } from './flops.js';
import { sameShape } from './shape.js';
import { keep } from './storage.js';
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

function addInto(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.zeros(a.shape, a.dtype);
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
  const pending = new Map<Tensor, Tensor>([[root, seed]]);
  inPhase('backward', () =>
    noGrad(() => {
      for (const t of order) {
        const incoming = pending.get(t);
        if (incoming === undefined) continue;
        pending.delete(t);
        const g = t.applyHooks(incoming);
        if (t.keepsGrad()) {
          // A copy: the same gradient object may also flow to other tensors.
          t.grad = keep(t.grad === null ? g.clone() : addInto(t.grad, g));
        }
        const node = t.gradFn;
        if (node === null) continue;
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
          const prev = pending.get(input);
          pending.set(input, prev === undefined ? gi : addInto(prev, gi));
        });
      }
    }),
  );
}
