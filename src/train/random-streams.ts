/**
 * The named random streams of one training run, all derived from the run's seed, in two kinds:
 *
 * - `fromSeed(label)`: a stream that is the same on every start, fresh or resumed, because it is
 *   used up while the run is set up (initial weights, the held-out split) or only forked
 *   (`data`, whose batches fork their own generators). Not saved in checkpoints.
 * - `stream(label)`: a stream that advances during training (dropout masks). Its state is saved in
 *   every checkpoint, and on a resume it continues from there: `new Generator(seed).fork(label)`
 *   on a fresh start, `Generator.fromState(saved)` on a resume.
 *
 * Build the model and the data after making the streams, asking for each by label: on a resume the
 * dropout stream is then the restored one.
 */
import { Generator, type GeneratorState } from '../tensor/random.js';

/** Saved states of a run's training-time streams, by label: plain JSON for the checkpoint. */
export type RandomState = Record<string, GeneratorState>;

export class RandomStreams {
  private readonly root: Generator;
  private readonly streams = new Map<string, Generator>();

  /**
   * @param seed the run's seed (a non-negative safe integer).
   * @param saved `stream` states from a checkpoint; streams not in it start from the seed.
   */
  constructor(
    readonly seed: number,
    private readonly saved: RandomState = {},
  ) {
    this.root = new Generator(seed);
  }

  /** A new generator for `label` from the seed alone: equal on every call and every start. */
  fromSeed(label: string): Generator {
    return this.root.fork(label);
  }

  /** The checkpointed stream called `label`, the same object on every call. */
  stream(label: string): Generator {
    let g = this.streams.get(label);
    if (g === undefined) {
      const state = this.saved[label];
      g = state !== undefined ? Generator.fromState(state) : this.root.fork(label);
      this.streams.set(label, g);
    }
    return g;
  }

  /** The states of every checkpointed stream (saved ones never asked for included). */
  state(): RandomState {
    const out: RandomState = { ...this.saved };
    for (const [label, g] of this.streams) out[label] = g.state();
    return out;
  }
}
