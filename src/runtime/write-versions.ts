/**
 * A write count per tracked GPU buffer, so that a copy derived from a buffer (the f16 copies of weights,
 * src/ops/half-weights.ts) knows when its source may have changed. The engine reports every command that can
 * write a buffer (a dispatch's read-write bindings, a host write, a copy, a clear) through `touch`; only
 * tracked buffers are counted, and nothing is counted until one is tracked.
 */
export class WriteVersions {
  private readonly versions = new Map<GPUBuffer, number>();

  /** Whether any buffer is tracked (the engine skips `touch` otherwise). */
  get tracking(): boolean {
    return this.versions.size > 0;
  }

  /** Starts counting writes to `buffer` (from 0); no-op when it is counted already. */
  track(buffer: GPUBuffer): void {
    if (!this.versions.has(buffer)) this.versions.set(buffer, 0);
  }

  /** Records that `buffer` may have been written. */
  touch(buffer: GPUBuffer): void {
    const v = this.versions.get(buffer);
    if (v !== undefined) this.versions.set(buffer, v + 1);
  }

  /** The writes to a tracked `buffer` so far; throws for one not tracked. */
  version(buffer: GPUBuffer): number {
    const v = this.versions.get(buffer);
    if (v === undefined) throw new Error('WriteVersions.version: buffer is not tracked (call track first)');
    return v;
  }
}
