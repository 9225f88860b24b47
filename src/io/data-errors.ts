/**
 * The one error type of the data layer. A `DataError` means the user's input (a `--data` path, a sequence
 * length) cannot be used; its message says what was found and how to fix it, so the CLI can print it as is
 * without a stack trace.
 */

/** Bad or unusable training data; the message is meant for the user. */
export class DataError extends Error {
  override readonly name = 'DataError';

  constructor(message: string) {
    super(message);
  }
}
