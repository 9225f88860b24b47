/**
 * The f16 copies of parameters that f16 mixed precision feeds to the matmuls (./matmul.ts), with the f32 values
 * staying the master copy that AdamW updates.
 *
 * A copy is made at first use and made again only when its f32 source may have changed: the engine counts the
 * commands that can write a tracked buffer (src/runtime/write-versions.ts), and `halfCopyOf` casts again when
 * that count moved since its last cast. So a step casts each weight once, in the forward of its layer, after the
 * previous step's update; a skipped layer's weights are neither updated nor cast; evaluation after training casts
 * what the last update changed; and a checkpoint load or any host write is picked up without anyone having to
 * remember to refresh.
 */
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { cast_to_f16 } from './cast.js';

interface HalfCopy {
  half: Tensor;
  /** The source buffer's write count when `half` was last cast. */
  castAt: number;
}

/** Per engine, per source buffer, its copies by (byte offset, size). */
const copies = new WeakMap<Engine, Map<GPUBuffer, Map<string, HalfCopy>>>();

/** The up-to-date f16 copy of parameter `w` (a persistent tensor of the same shape), cast now if stale. */
export function halfCopyOf(e: Engine, w: Tensor): Tensor {
  if (w.dtype !== 'f32') throw new Error(`halfCopyOf(${w}): needs an f32 tensor`);
  let ofEngine = copies.get(e);
  if (!ofEngine) copies.set(e, (ofEngine = new Map()));
  let ofBuffer = ofEngine.get(w.buffer);
  if (!ofBuffer) {
    ofEngine.set(w.buffer, (ofBuffer = new Map()));
    e.writes.track(w.buffer);
  }
  const key = `${w.byteOffset}:${w.size}`;
  let copy = ofBuffer.get(key);
  if (!copy) ofBuffer.set(key, (copy = { half: e.persistent(w.shape, 'f16', `${w.label}.f16`), castAt: -1 }));
  const version = e.writes.version(w.buffer);
  if (copy.castAt !== version) {
    cast_to_f16(e, copy.half, w);
    copy.castAt = version;
  }
  return copy.half;
}
