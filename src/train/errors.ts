/** The trainer's errors: each says which step went wrong and where training can pick up again. */

/** Where the last good checkpoint is, for messages. */
export function describeLastCheckpoint(last: { step: number; dir: string } | null): string {
  return last === null
    ? 'no checkpoint was written before it'
    : `the last good checkpoint is ${last.dir} (step ${last.step})`;
}

/**
 * The loss or the gradient norm became NaN or infinite: training stopped before the update, so
 * the model was not changed by that step. The message names the step and the last checkpoint.
 */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(
    /** The 1-based step that failed. */
    readonly step: number,
    /** What was not finite: 'loss' or 'gradient norm'. */
    readonly quantity: 'loss' | 'gradient norm',
    readonly value: number,
    readonly lastCheckpoint: { step: number; dir: string } | null,
    detail = '',
  ) {
    super(
      `training stopped at step ${step}: the ${quantity} is ${value}${detail}; ` +
        `${describeLastCheckpoint(lastCheckpoint)}. Lower the learning rate or clip gradients ` +
        '(--grad-clip), then start again or resume from that checkpoint',
    );
  }
}

/** A checkpoint that does not fit the trainer resuming from it (other seed, steps or model). */
export class ResumeError extends Error {
  override name = 'ResumeError';
}
