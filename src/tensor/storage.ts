/**
 * Where tensor storage comes from, and `tensorScope`, which gives it back.
 *
 * JavaScript frees a typed array only when the garbage collector finds it unreachable, and V8
 * collects large external buffers in bursts, after tens of megabytes more have been allocated.
 * A training loop that makes fresh arrays at every step therefore holds several steps of dead
 * activations at its peak, and pays page faults and zero-filling for memory the operating system
 * hands out again. PyTorch frees each tensor when its last reference goes; JavaScript has no
 * such count, so the engine asks the caller to draw a line instead: everything a step made that
 * does not outlive the step goes back to a pool when the step's scope ends, and the next step's
 * tensors of the same sizes are cut from it.
 *
 * What outlives a scope: the value it returns (tensors, or arrays, maps and plain objects of
 * them), leaves that require gradients (parameters made inside), gradients accumulated into
 * `.grad`, optimiser state, and anything passed to `keep`. Everything else made inside is
 * disposed: its memory is reused, and reading the tensor afterwards throws an error that says
 * so, rather than returning another tensor's values. Tensors made before the scope began, and
 * views of them, are never touched.
 */
import type { AnyArray } from '../backends/kernels.js';
import type { Tensor } from './tensor.js';

interface Scope {
  /** Tensors constructed while this scope was the innermost one. */
  tensors: Tensor[];
  /** Storage allocated while it was (minus what backward already gave back). */
  allocated: Set<AnyArray>;
  /** Tensors passed to `keep`. */
  kept: Tensor[];
}

let current: Scope | null = null;

/** Free arrays by element type and length. */
const pool = {
  float32: new Map<number, Float32Array[]>(),
  float64: new Map<number, Float64Array[]>(),
  int32: new Map<number, Int32Array[]>(),
};
let pooledBytes = 0;
/** The pool is never trimmed below this. */
const MIN_POOL_BYTES = 64 * 2 ** 20;

type PoolKey = keyof typeof pool;

function poolKey(a: AnyArray): PoolKey {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}

/**
 * Set SEXTANT_POISON_UNINITIALIZED=1 to fill every array handed out uninitialised with NaN (int32:
 * a large negative number), so that a kernel that leaves part of its output unwritten shows up
 * in tests as NaN instead of as another tensor's stale values.
 */
const poison = globalThis.process?.env?.SEXTANT_POISON_UNINITIALIZED === '1';

/**
 * @internal An array of `n` elements of `dtype` from the pool, or undefined when it holds none
 * of that length. Zero-filled when `zero`; otherwise its contents are stale values.
 */
export function takePooled(dtype: PoolKey, n: number, zero: boolean): AnyArray | undefined {
  const free = pool[dtype].get(n);
  const a = free?.pop();
  if (a === undefined) return undefined;
  pooledBytes -= a.byteLength;
  if (zero) a.fill(0);
  else if (poison) poisonArray(a);
  return a;
}

/** @internal See SEXTANT_POISON_UNINITIALIZED. */
export function poisonArray(a: AnyArray): void {
  if (poison) a.fill(a instanceof Int32Array ? -0x7fffff00 : Number.NaN);
}

/** Storage allocated while a `backward()` inside a scope runs, by ArrayBuffer. */
let backwardLog: Map<ArrayBufferLike, AnyArray> | null = null;

/** @internal Notes storage just allocated, so that the scope it was made in can reuse it. */
export function noteAllocation(a: AnyArray): void {
  if (current === null) return;
  current.allocated.add(a);
  backwardLog?.set(a.buffer, a);
}

/**
 * @internal Runs `fn` (a backward pass) with a log of the storage it allocates, when a scope is
 * active; `fn` gets null otherwise. Storage in the log may be handed back with `reuseNow`.
 */
export function withBackwardLog<R>(fn: (log: Map<ArrayBufferLike, AnyArray> | null) => R): R {
  if (current === null) return fn(null);
  const saved = backwardLog;
  const log = new Map<ArrayBufferLike, AnyArray>();
  backwardLog = log;
  try {
    return fn(log);
  } finally {
    backwardLog = saved;
  }
}

/**
 * @internal Gives storage of the current scope back to the pool before the scope ends: the
 * autograd engine does so for gradients it has finished with and that nothing else can see.
 */
export function reuseNow(a: AnyArray): void {
  if (current?.allocated.delete(a)) giveBack(a);
}

/** @internal Notes a tensor just constructed. */
export function noteTensor(t: Tensor): void {
  current?.tensors.push(t);
}

function giveBack(a: AnyArray): void {
  const key = poolKey(a);
  const free = pool[key] as Map<number, AnyArray[]>;
  const list = free.get(a.length);
  if (list) list.push(a);
  else free.set(a.length, [a]);
  pooledBytes += a.byteLength;
}

/** Drops pooled arrays, longest first, until the pool holds at most `limit` bytes. */
function trimPool(limit: number): void {
  if (pooledBytes <= limit) return;
  for (const key of ['float32', 'float64', 'int32'] as const) {
    const free = pool[key] as Map<number, AnyArray[]>;
    for (const length of [...free.keys()].sort((a, b) => b - a)) {
      const list = free.get(length) ?? [];
      while (list.length > 0 && pooledBytes > limit) {
        pooledBytes -= (list.pop() as AnyArray).byteLength;
      }
      if (list.length === 0) free.delete(length);
      if (pooledBytes <= limit) return;
    }
  }
}

/** Bytes now held in the pool for reuse (for benchmarks and tests). */
export function pooledMemoryBytes(): number {
  return pooledBytes;
}

/** Empties the pool; the garbage collector frees what it held. */
export function clearPool(): void {
  for (const free of Object.values(pool)) free.clear();
  pooledBytes = 0;
}

/**
 * Marks `t` (and its gradient) as outliving the innermost `tensorScope`, and every scope around
 * it. Returns `t`. Outside a scope it does nothing.
 */
export function keep<T extends Tensor>(t: T): T {
  current?.kept.push(t);
  return t;
}

/** Runs `fn` outside every scope: what it allocates is never reused by one. */
export function untracked<R>(fn: () => R): R {
  const saved = current;
  current = null;
  try {
    return fn();
  } finally {
    current = saved;
  }
}

/** Tensors in `value`: itself, or inside arrays, maps, sets and plain objects, to a few levels. */
function collectTensors(value: unknown, into: (t: Tensor) => void, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (isTensor(value)) {
    into(value);
    return;
  }
  if (Array.isArray(value) || value instanceof Set) {
    for (const v of value) collectTensors(v, into, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
  }
}

function isTensor(value: object): value is Tensor {
  return 'shape' in value && 'dtype' in value && typeof (value as Tensor).storage === 'function';
}

/**
 * Runs `fn`, then disposes every tensor made inside it that does not outlive it (see the file
 * comment) and keeps its memory for reuse by later tensors of the same size. Wrap one training
 * step in it: after the first step, a step allocates almost nothing, and peak memory is about
 * what one step holds live. Scopes nest; what an inner scope keeps, the outer one decides on.
 */
export function tensorScope<R>(fn: () => R): R {
  const scope: Scope = { tensors: [], allocated: new Set(), kept: [] };
  const parent = current;
  current = scope;
  let result: R;
  try {
    result = fn();
  } finally {
    current = parent;
  }
  if (typeof (result as { then?: unknown } | null)?.then === 'function') {
    // The scope would end at the first await while the function still uses its tensors.
    throw new TypeError(
      'tensorScope: the function returned a Promise; it takes a synchronous function (one ' +
        'training step). Await outside it, or run each synchronous part in its own scope',
    );
  }
  close(scope, parent, result);
  return result;
}

function close(scope: Scope, parent: Scope | null, result: unknown): void {
  const keptBuffers = new Set<ArrayBufferLike>();
  const hold = (t: Tensor): void => {
    keptBuffers.add(t.storage().buffer);
    if (t.grad !== null) keptBuffers.add(t.grad.storage().buffer);
  };
  collectTensors(result, hold);
  for (const t of scope.kept) hold(t);
  for (const t of scope.tensors) {
    // Parameters made inside, and any tensor holding an accumulated gradient.
    if ((t.requiresGrad && t.gradFn === null) || t.grad !== null) hold(t);
  }
  const reused = new Set<ArrayBufferLike>();
  let bytes = 0;
  for (const a of scope.allocated) {
    if (keptBuffers.has(a.buffer)) {
      parent?.allocated.add(a);
    } else if (!reused.has(a.buffer)) {
      reused.add(a.buffer);
      giveBack(a);
      bytes += a.byteLength;
    }
  }
  for (const t of scope.tensors) {
    if (reused.has(t.storage().buffer)) t.dispose();
    else parent?.tensors.push(t);
  }
  if (parent) parent.kept.push(...scope.kept);
  // What one scope gave back is about what the next one like it will ask for.
  trimPool(Math.max(MIN_POOL_BYTES, 2 * bytes));
}
