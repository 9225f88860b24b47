/**
 * Batches of (input, target) windows from a token stream. Training draws random contiguous windows from a
 * seeded `Rng`, and its state can be saved and restored so a resumed run draws exactly the same batches as an
 * uninterrupted one. Validation uses a fixed set of windows spread evenly over the split.
 */
import { Rng, type RngState } from '../../../util/rng.js';
import { DataError } from '../../../io/data-errors.js';

/** One batch: `targets[b, t]` is the token after `inputs[b, t]`. */
export interface Batch {
  /** (B, T) token ids. */
  inputs: Int32Array;
  /** (B, T) token ids, the inputs shifted left by one. */
  targets: Int32Array;
}

/** Everything needed to continue a `BatchLoader` where it stopped (JSON-serialisable). */
export interface BatchLoaderState {
  rng: RngState;
  batchesDrawn: number;
}

function checkShape(tokens: Uint8Array, B: number, T: number, what: string): void {
  for (const [name, v] of [['B', B], ['T', T]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${name} must be a positive integer, got ${v}`);
  }
  if (tokens.length < T + 1) {
    throw new DataError(`${what}: a window of T=${T} needs ${T + 1} tokens, but the split has ${tokens.length}. ` +
      'Use more data or a shorter sequence length.');
  }
}

/** Copies the window starting at `start` into row `b` of a batch. */
function fillRow(tokens: Uint8Array, start: number, T: number, batch: Batch, b: number): void {
  batch.inputs.set(tokens.subarray(start, start + T), b * T);
  batch.targets.set(tokens.subarray(start + 1, start + T + 1), b * T);
}

function emptyBatch(B: number, T: number): Batch {
  return { inputs: new Int32Array(B * T), targets: new Int32Array(B * T) };
}

/**
 * Random training batches: each row is a window starting at a uniform position in [0, N - T - 1], so every
 * window has its T targets. Each `next()` returns fresh arrays.
 */
export class BatchLoader {
  private readonly rng: Rng;
  private drawn = 0;

  /**
   * @param tokens (N,) the training split; N >= T + 1.
   * @param B rows per batch.
   * @param T tokens per row.
   * @param seed seeds the window positions.
   */
  constructor(
    private readonly tokens: Uint8Array,
    readonly B: number,
    readonly T: number,
    seed: number,
  ) {
    checkShape(tokens, B, T, 'BatchLoader');
    this.rng = new Rng(seed);
  }

  /** A loader that continues from `state` (as returned by `state` of a loader over the same tokens). */
  static restore(tokens: Uint8Array, B: number, T: number, state: BatchLoaderState): BatchLoader {
    const loader = new BatchLoader(tokens, B, T, 0);
    loader.setState(state);
    return loader;
  }

  /** Batches drawn so far (including those drawn before a restore). */
  get batchesDrawn(): number {
    return this.drawn;
  }

  /** Snapshot of the RNG and batch count; a copy, safe to keep or serialise. */
  get state(): BatchLoaderState {
    return { rng: this.rng.state, batchesDrawn: this.drawn };
  }

  /** Continues from a snapshot taken with `state`. */
  setState(state: BatchLoaderState): void {
    if (!Number.isInteger(state.batchesDrawn) || state.batchesDrawn < 0) {
      throw new Error(`BatchLoader.setState: batchesDrawn must be a non-negative integer, got ${state.batchesDrawn}`);
    }
    this.rng.setState(state.rng);
    this.drawn = state.batchesDrawn;
  }

  /** Draws the next batch. Cost: B draws and O(B * T) copies. */
  next(): Batch {
    const batch = emptyBatch(this.B, this.T);
    const nStarts = this.tokens.length - this.T;
    for (let b = 0; b < this.B; b++) fillRow(this.tokens, this.rng.int(nStarts), this.T, batch, b);
    this.drawn++;
    return batch;
  }
}

/**
 * The fixed validation set: `nBatches * B` windows whose starts are spread evenly from the first possible
 * start (0) to the last (N - T - 1), filled row by row, batch by batch. Deterministic, with no RNG: every call
 * returns the same windows, so validation losses are comparable across steps and runs. Windows overlap when
 * the split is shorter than `nBatches * B * T`.
 */
export function validationBatches(tokens: Uint8Array, B: number, T: number, nBatches: number): Batch[] {
  checkShape(tokens, B, T, 'validationBatches');
  if (!Number.isInteger(nBatches) || nBatches < 1) {
    throw new Error(`validationBatches: nBatches must be a positive integer, got ${nBatches}`);
  }
  const nWindows = nBatches * B;
  const lastStart = tokens.length - T - 1;
  const batches: Batch[] = [];
  for (let i = 0; i < nBatches; i++) {
    const batch = emptyBatch(B, T);
    for (let b = 0; b < B; b++) {
      const w = i * B + b;
      const start = nWindows === 1 ? 0 : Math.round((w * lastStart) / (nWindows - 1));
      fillRow(tokens, start, T, batch, b);
    }
    batches.push(batch);
  }
  return batches;
}
