/**
 * The f16 copies of parameters that f16 mixed precision feeds to the matmuls (./matmul.ts), with the f32 values
 * staying the master copy that AdamW updates.
 *
 * A copy is made at first use and made again only when its f32 source may have changed: the engine counts the
 * commands that can write a tracked buffer (src/runtime/write-versions.ts), and `halfCopyOf` casts again when
 * that count moved since the copy was last known current. So a skipped layer's weights are neither updated nor
 * cast; evaluation after training casts what the last update changed; and a checkpoint load or any host write is
 * picked up without anyone having to remember to refresh.
 *
 * The copies of the views into one buffer (a parameter block's flat values, src/model/params.ts) live in that
 * buffer's f16 mirror, element for element, where the view's f16 offset meets the storage alignment. AdamW then
 * writes the mirror as it writes the values (adamw_update_dual, ./adamw.ts), and `updatedWithMirror` marks the
 * copies current: a step casts no weight, and only the first step (or one after an outside write) casts each
 * weight once, in the forward of its layer.
 */
import type { Engine } from '../runtime/engine.js';
import { Tensor } from '../runtime/tensor.js';
import { cast_to_f16 } from './cast.js';

interface HalfCopy {
  half: Tensor;
  /** The source buffer's write count when `half` was last known equal to f16 of the source. */
  castAt: number;
  /** Whether `half` is a view into the buffer's mirror (so that AdamW's dual update writes it). */
  inMirror: boolean;
}

interface BufferCopies {
  /** f16, one element per f32 element of the source buffer; created with the buffer's first copy. */
  mirror: Tensor;
  /** The copies, by (byte offset, size) of their source view. */
  views: Map<string, HalfCopy>;
}

const copies = new WeakMap<Engine, Map<GPUBuffer, BufferCopies>>();

/** The up-to-date f16 copy of parameter `w` (a persistent tensor of the same shape), cast now if stale. */
export function halfCopyOf(e: Engine, w: Tensor): Tensor {
  if (w.dtype !== 'f32') throw new Error(`halfCopyOf(${w}): needs an f32 tensor`);
  let ofEngine = copies.get(e);
  if (!ofEngine) copies.set(e, (ofEngine = new Map()));
  let ofBuffer = ofEngine.get(w.buffer);
  if (!ofBuffer) {
    const mirror = e.persistent([w.buffer.size / 4], 'f16', `${w.label}.buffer.f16`);
    ofEngine.set(w.buffer, (ofBuffer = { mirror, views: new Map() }));
    e.writes.track(w.buffer);
  }
  const key = `${w.byteOffset}:${w.size}`;
  let copy = ofBuffer.views.get(key);
  if (!copy) {
    const offset = w.byteOffset / 2;
    const inMirror = offset % e.gpu.limits.minStorageBufferOffsetAlignment === 0;
    const half = inMirror ? new Tensor(ofBuffer.mirror.buffer, w.shape, 'f16', offset, `${w.label}.f16`) : e.persistent(w.shape, 'f16', `${w.label}.f16`);
    ofBuffer.views.set(key, (copy = { half, castAt: -1, inMirror }));
  }
  const version = e.writes.version(w.buffer);
  if (copy.castAt !== version) {
    cast_to_f16(e, copy.half, w);
    copy.castAt = version;
  }
  return copy.half;
}

/** The f16 mirror of `params`' buffer, if some view of it has an f16 copy (else null: nothing to keep current). */
export function halfMirrorOf(e: Engine, params: Tensor): Tensor | null {
  const ofBuffer = copies.get(e)?.get(params.buffer);
  if (!ofBuffer || params.byteOffset !== 0 || params.size > ofBuffer.mirror.size) return null;
  return ofBuffer.mirror;
}

/**
 * After one command that wrote `params`' buffer and its mirror alike (AdamW's dual update, or nothing at all when
 * it skipped the step): the mirror copies that were current before it are current after it. `versionBefore` is
 * the buffer's write count before that command.
 */
export function updatedWithMirror(e: Engine, params: Tensor, versionBefore: number): void {
  const ofBuffer = copies.get(e)?.get(params.buffer);
  if (!ofBuffer) return;
  const version = e.writes.version(params.buffer);
  for (const copy of ofBuffer.views.values()) if (copy.inMirror && copy.castAt === versionBefore) copy.castAt = version;
}
