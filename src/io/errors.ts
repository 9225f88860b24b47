/**
 * The one error type of the checkpoint I/O layer (`src/io/*`).
 *
 * Every refusal to read or write a checkpoint (a truncated file, a corrupted header, a tensor of the wrong
 * shape, a missing file) throws a `CheckpointError` whose message names the file and the tensor or key at
 * fault, so callers can catch checkpoint problems separately from programming errors.
 */

/** A checkpoint or safetensors file that cannot be written or read as asked. `file` names it when known. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  /** The file (or folder) the problem is in, when known; the message already starts with it. */
  readonly file: string | undefined;

  constructor(message: string, file?: string) {
    super(file === undefined ? message : `${file}: ${message}`);
    this.file = file;
  }
}
