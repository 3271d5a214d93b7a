/**
 * Seeded epoch order for data sets of separate examples (images, table rows): each epoch visits
 * every example once in an order shuffled by `data.fork('epoch e')`, so the position of a run is
 * just `{epoch, cursor}` and a resume picks up the same order.
 */
import type { Generator } from '../tensor/random.js';

/** Where an `EpochSampler` stands: the epoch and the index into its order. */
export interface EpochPosition {
  epoch: number;
  cursor: number;
}

export class EpochSampler {
  private epoch = 0;
  private cursor = 0;
  private order: Int32Array;

  /**
   * @param count examples in the data set, >= 1.
   * @param data the run's data stream; only forked, never advanced.
   */
  constructor(
    readonly count: number,
    private readonly data: Generator,
  ) {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`EpochSampler: count must be an integer >= 1, got ${count}`);
    }
    this.order = this.orderOf(0);
  }

  private orderOf(epoch: number): Int32Array {
    const order = Int32Array.from({ length: this.count }, (_, i) => i);
    return this.data.fork(`epoch ${epoch}`).shuffle(order);
  }

  /** The next `n` example indices, continuing into the next epoch when this one runs out. */
  next(n: number): number[] {
    const out: number[] = [];
    while (out.length < n) {
      if (this.cursor === this.count) {
        this.epoch += 1;
        this.cursor = 0;
        this.order = this.orderOf(this.epoch);
      }
      out.push(this.order[this.cursor] as number);
      this.cursor += 1;
    }
    return out;
  }

  get position(): EpochPosition {
    return { epoch: this.epoch, cursor: this.cursor };
  }

  set position(p: EpochPosition) {
    const ok =
      p !== null &&
      typeof p === 'object' &&
      Number.isInteger(p.epoch) &&
      p.epoch >= 0 &&
      Number.isInteger(p.cursor) &&
      p.cursor >= 0 &&
      p.cursor <= this.count;
    if (!ok) {
      throw new RangeError(
        `EpochSampler: a position is {epoch >= 0, cursor in 0..${this.count}}, got ` +
          JSON.stringify(p),
      );
    }
    this.epoch = p.epoch;
    this.cursor = p.cursor;
    this.order = this.orderOf(p.epoch);
  }
}
