/**
 * The f16 copies of parameters that f16 mixed precision feeds to the matmuls (src/ops/matmul.ts), with the f32
 * values staying the master copy that AdamW updates.
 *
 * A copy is made at first use and made again only when its f32 source may have changed: the engine reports every
 * command that can write a buffer (a dispatch's read-write bindings, a host write, a copy, a clear) through
 * `touch`, which bumps that buffer's version; `of` casts again when the version moved since its last cast. So a
 * step casts each weight once, in the forward of its layer, after the previous step's update; a skipped layer's
 * weights are neither updated nor cast; evaluation after training casts what the last update changed; and a
 * checkpoint load or any host write is picked up without anyone having to remember to refresh.
 */
import { cast_to_f16 } from '../ops/cast.js';
import type { Engine } from './engine.js';
import type { Tensor } from './tensor.js';

interface HalfCopy {
  half: Tensor;
  /** The source buffer's version when `half` was last cast. */
  castAt: number;
}

export class HalfWeights {
  /** Write count per source buffer that has copies (only those are tracked). */
  private readonly versions = new Map<GPUBuffer, number>();
  /** Per source buffer, its copies by (byte offset, size). */
  private readonly copies = new Map<GPUBuffer, Map<string, HalfCopy>>();

  constructor(private readonly e: Engine) {}

  /** Whether any buffer is tracked (the engine skips `touch` calls otherwise). */
  get tracking(): boolean {
    return this.versions.size > 0;
  }

  /** Records that `buffer` may have been written. */
  touch(buffer: GPUBuffer): void {
    const v = this.versions.get(buffer);
    if (v !== undefined) this.versions.set(buffer, v + 1);
  }

  /** The up-to-date f16 copy of parameter `w` (a persistent tensor of the same shape), cast now if stale. */
  of(w: Tensor): Tensor {
    if (w.dtype !== 'f32') throw new Error(`HalfWeights.of(${w}): needs an f32 tensor`);
    let ofBuffer = this.copies.get(w.buffer);
    if (!ofBuffer) {
      this.copies.set(w.buffer, (ofBuffer = new Map()));
      this.versions.set(w.buffer, 0);
    }
    const key = `${w.byteOffset}:${w.size}`;
    let copy = ofBuffer.get(key);
    if (!copy) ofBuffer.set(key, (copy = { half: this.e.persistent(w.shape, 'f16', `${w.label}.f16`), castAt: -1 }));
    const version = this.versions.get(w.buffer)!;
    if (copy.castAt !== version) {
      cast_to_f16(this.e, copy.half, w);
      copy.castAt = version;
    }
    return copy.half;
  }
}
