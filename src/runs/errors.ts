/** Errors raised by the run store. Each names the store, the run id, the file or the field. */

/** Bad input to the store (a config JSON cannot hold, a metric that is not a number...). */
export class RunStoreError extends Error {
  override name = 'RunStoreError';
}

/** No run with that id (or id prefix) in the store. */
export class RunNotFoundError extends RunStoreError {
  override name = 'RunNotFoundError';
}
