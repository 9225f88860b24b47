/**
 * Elementwise backward kernels that also store the gradient they write as a GEMM operand (f16 mixed precision:
 * the next linear's backward reads an f16 copy of its dout). Each such kernel `<kernel>` has twins
 * `<kernel>_dual` (an f32 copy) and `<kernel>_dual_f16`, which store the copy as packed vec4s, so the size must be
 * a multiple of 4. One rule for every op that offers the copy: which kernel a call takes, and whether it can.
 */
import type { Engine } from '../runtime/engine.js';
import { fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';

/**
 * The kernel `op` dispatches to also store `operand` (named `operandName` in errors), a copy of a gradient sized
 * like the argument `refName`, `ref`; `op` itself when there is no operand. Throws when the copy does not fit or
 * the device lacks the twin.
 */
export function dualStoreKernel(e: Engine, op: string, operandName: string, operand: Tensor | null, refName: string, ref: Tensor): string {
  if (!operand) return op;
  if (operand.size !== ref.size) throw new ShapeError(`${op}: ${operandName} has shape ${fmtShape(operand.shape)}, but ${refName} has ${fmtShape(ref.shape)}`);
  if (ref.size % 4 !== 0) throw new ShapeError(`${op}: ${ref.size} elements; storing ${operandName} needs a multiple of 4 (leave it out and cast)`);
  const kernel = operand.dtype === 'f16' ? `${op}_dual_f16` : `${op}_dual`;
  if (!e.kernels.has(kernel)) throw new ShapeError(`${op}: this device has no ${kernel} (an f16 operand needs shader-f16)`);
  return kernel;
}

/** Whether `op` can store an f16 copy of a gradient of `size` elements on this device. */
export function canStoreDual(e: Engine, op: string, size: number): boolean {
  return size % 4 === 0 && e.kernels.has(`${op}_dual_f16`);
}
