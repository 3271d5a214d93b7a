/**
 * Linear layers whose weight matrices stay in 16 bits (F16 or BF16) in memory and are widened to
 * float32 only while the layer runs, so that a model whose float32 weights exceed memory still
 * runs: LLaMA-7B takes about 13.5 GB this way instead of 27 GB.
 *
 * `HalfPrecisionWeights.attach(linear, weight)` sets the layer's `weightSource` to a function that
 * widens the 16-bit values on each call. Without gradients being recorded (`noGrad`, as
 * `generate` runs) the values are widened into one scratch buffer per matrix size, reused by
 * every layer of that size, so memory holds the 16-bit weights plus a few float32 matrices. When
 * gradients are recorded, each call widens into a fresh array, which the tape keeps until
 * `backward()`: gradients with respect to the layer's input stay exact.
 *
 * The layer's float32 `weight` parameter no longer holds the values: its data becomes a zero
 * placeholder of the right length shared by every attached layer of that size (the model's
 * `stateDict()` should ask `widenedCopy` instead), and it stops requiring gradients.
 * LIMITATION: the 16-bit weights are not trained (no gradient reaches them); load the model in
 * float32 to train it.
 *
 * The 16-bit formats themselves are the io layer's business: a `HalfWeight` is anything that can
 * widen itself into a float32 array (the io layer's `HalfTensor` adapts in `io/pretrained.ts`).
 *
 * Dimension legend: O output features, I input features.
 */
import { fmtShape, NotSupportedError, ShapeError } from '../tensor/errors.js';
import { numel } from '../tensor/shape.js';
import { isGradEnabled, Tensor } from '../tensor/tensor.js';
import type { Linear } from './layers.js';

/** A weight matrix held in 16 bits. */
export interface HalfWeight {
  /** The stored format: 'F16' (IEEE half) or 'BF16' (bfloat16). */
  readonly dtype: 'F16' | 'BF16';
  /** The matrix's shape, as the layer's `weight` (`[O, I]` for PyTorch's layout). */
  readonly shape: readonly number[];
  /** The 16-bit patterns, row-major. */
  readonly data: Uint16Array;
  /** Bytes the 16-bit values occupy. */
  readonly byteLength: number;
  /** Writes the values widened to float32 into `out` (one per element) and returns `out`. */
  widenInto(out: Float32Array<ArrayBuffer>): Float32Array;
}

/** The 16-bit weights of a model's linear layers, widened on use; see the file comment. */
export class HalfPrecisionWeights {
  private readonly byLayer = new Map<Linear, HalfWeight>();
  private readonly byParameter = new Map<Tensor, HalfWeight>();
  private readonly scratch = new Map<number, Float32Array<ArrayBuffer>>();
  private readonly placeholders = new Map<number, Float32Array>();

  /**
   * Makes `linear` take its weight from `weight`, widened on each call. The shapes must agree and
   * the layer must be float32 (the widened values are float32).
   */
  attach(linear: Linear, weight: HalfWeight): void {
    const param = linear.weight;
    const label = param.name ?? 'Linear.weight';
    if (param.dtype !== 'float32') {
      throw new NotSupportedError(
        `HalfPrecisionWeights: '${label}' is ${param.dtype}; 16-bit weights widen to float32 ` +
          'only (build the model in float32)',
      );
    }
    if (weight.shape.length !== param.rank || weight.shape.some((d, i) => d !== param.shape[i])) {
      throw new ShapeError(
        `HalfPrecisionWeights: '${label}' is ${fmtShape(param.shape)}, the ${weight.dtype} ` +
          `weight given for it is ${fmtShape(weight.shape)}`,
      );
    }
    if (this.byLayer.has(linear)) this.byParameter.delete(param);
    this.byLayer.set(linear, weight);
    this.byParameter.set(param, weight);
    // The float32 zeros the layer was built with are dropped (never written, they were never
    // resident); the shared placeholder keeps the parameter's length for counts and shapes.
    param.data = this.placeholder(param.size);
    param.requiresGrad = false;
    linear.weightSource = () => this.widen(param, weight);
  }

  /** The number of layers attached. */
  get size(): number {
    return this.byLayer.size;
  }

  /** Bytes held by the 16-bit values of every attached layer. */
  get byteLength(): number {
    let total = 0;
    for (const w of this.byLayer.values()) total += w.byteLength;
    return total;
  }

  /** Whether `param` is the `weight` of an attached layer. */
  holds(param: Tensor): boolean {
    return this.byParameter.has(param);
  }

  /** The 16-bit weight standing in for `param`, or undefined when it is not attached. */
  halfOf(param: Tensor): HalfWeight | undefined {
    return this.byParameter.get(param);
  }

  /** A fresh float32 tensor of `param`'s values (for state dicts); throws when not attached. */
  widenedCopy(param: Tensor): Tensor {
    const weight = this.byParameter.get(param);
    if (weight === undefined) {
      throw new Error(`HalfPrecisionWeights: ${param.describe()} is not attached`);
    }
    const copy = new Tensor(weight.widenInto(new Float32Array(param.size)), param.shape);
    copy.name = param.name;
    return copy;
  }

  /** The layer's weight in float32 for one call: scratch under `noGrad`, else a fresh array. */
  private widen(param: Tensor, weight: HalfWeight): Tensor {
    const n = numel(weight.shape);
    let out: Float32Array<ArrayBuffer>;
    if (isGradEnabled()) {
      out = new Float32Array(n);
    } else {
      out = this.scratch.get(n) ?? new Float32Array(n);
      this.scratch.set(n, out);
    }
    const wide = new Tensor(weight.widenInto(out), param.shape); // [O, I]
    wide.name = param.name;
    return wide;
  }

  private placeholder(n: number): Float32Array {
    const zeros = this.placeholders.get(n) ?? new Float32Array(n);
    this.placeholders.set(n, zeros);
    return zeros;
  }
}
