/**
 * f32 -> f16, for the matmuls of f16 mixed precision: the f16 copy of an activation, of a gradient flowing into a
 * matmul's backward, or of a parameter (its f16 copy, ./half-weights.ts).
 *
 *   out = f16(x)          |x| > 65504 or not finite -> +-inf (an overflow stays visible to the loss scaler)
 * No backward: the callers cast inside their own rules and keep the f32 tensors for everything else.
 *
 * Cost: one dispatch of cast_to_f16 (kernels/cast.wgsl); reads 4 and writes 2 bytes per element. Needs the
 * device's `shader-f16`.
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';

/** Elements per invocation. */
const PER_INVOCATION = 4;

/** Kernel-level cast: out (f16) = x (f32), same element count. */
export function cast_to_f16(e: Engine, out: Tensor, x: Tensor): void {
  const op = 'cast_to_f16';
  expectDType(op, 'x', x, 'f32');
  expectDType(op, 'out', out, 'f16');
  if (out.size !== x.size) throw new ShapeError(`${op}: out ${fmtShape(out.shape)} and x ${fmtShape(x.shape)} differ in size`);
  if (!e.kernels.has(op)) throw new ShapeError(`${op}: this device has no shader-f16; f16 precision needs it (use --precision f32)`);
  if (x.size === 0) return;
  e.dispatch(op, { x, out }, { n: x.size }, e.grid(op, x.size, PER_INVOCATION));
}

/** A fresh f16 copy of `x` from the arena. */
export function toHalf(e: Engine, x: Tensor, label = `${x.label}.f16`): Tensor {
  const out = e.alloc(x.shape, 'f16', label);
  cast_to_f16(e, out, x);
  return out;
}
