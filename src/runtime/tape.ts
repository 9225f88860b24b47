/**
 * The autograd tape: an array of entries pushed by ops as they run forward, replayed in reverse by
 * `backward()`. An entry holds the op's name, its outputs and a closure over what forward saved. Gradient
 * accumulation rule (stated once, here): parameter gradients accumulate (+=) into zeroed gradient blocks;
 * activation gradients are written (=) by the first rule that produces them; any later rule for the same
 * tensor adds (+=), which is how the residual stream sums its branches.
 */
import type { Tensor } from './tensor.js';

export interface TapeEntry {
  op: string;
  outputs: Tensor[];
  backward: () => void;
}

export class Tape {
  private entries: TapeEntry[] = [];
  /** Total entries ever recorded (a counter tests read). */
  recorded = 0;

  push(entry: TapeEntry): void {
    this.entries.push(entry);
    this.recorded++;
  }

  get length(): number {
    return this.entries.length;
  }

  /** Op names in recording order (for tests and DEBUG). */
  ops(): string[] {
    return this.entries.map((e) => e.op);
  }

  /**
   * Replays the entries in reverse. An entry none of whose outputs received a gradient did not contribute to
   * the loss and is skipped. The tape is empty afterwards.
   */
  replay(): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.outputs.some((t) => t.grad !== null)) e.backward();
    }
    this.entries = [];
  }

  clear(): void {
    this.entries = [];
  }
}
