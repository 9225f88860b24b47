/**
 * GELU, tanh approximation as in GPT-2 (elementwise, any shape).
 *
 *   out = 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)
 * Backward:
 *   dx = dout * (0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))
 * The kernel evaluates the same function through s = 0.5 (1 + tanh(u)) = sigmoid(2u), which neither cancels
 * for negative x nor calls tanh (NaN for large arguments on some implementations); see kernels/gelu.wgsl.
 * Saves: x (the input; nothing extra).
 *
 * Cost: one dispatch each way, one read and one write per element (plus a read of dout backward).
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';
import { dualStoreKernel } from './dual-store.js';

/** Elements per invocation (one vec4). */
const PER_INVOCATION = 4;


function expectSameSize(op: string, what: string, t: Tensor, x: Tensor): void {
  if (t.size !== x.size) throw new ShapeError(`${op}: ${what} has shape ${fmtShape(t.shape)}, but x has ${fmtShape(x.shape)}`);
  expectDType(op, what, t, 'f32');
}

/** Kernel-level forward: out (+)= gelu(x), elementwise; out has x's size. */
export function gelu_forward(e: Engine, out: Tensor, x: Tensor, accumulate = false): void {
  expectDType('gelu_forward', 'x', x, 'f32');
  expectSameSize('gelu_forward', 'out', out, x);
  const n = x.size;
  if (n === 0) return;
  e.dispatch('gelu_forward', { x, out }, { n, accumulate: accumulate ? 1 : 0 }, e.grid('gelu_forward', n, PER_INVOCATION));
}

/**
 * Kernel-level backward: dx (+)= dout * gelu'(x) by `accumulate`. With `dxOperand` (f16 mixed precision: a
 * linear's backward GEMMs read an f16 copy of their dout) the same dispatch also stores dxOperand = f16(dx), the
 * values cast_to_f16 of dx gives (gelu_backward_dual_f16; with an f32 dxOperand, the f32 kernel and a plain
 * copy); that needs dx's size to be a multiple of 4 (`canStoreDual`, src/ops/dual-store.ts).
 */
export function gelu_backward(e: Engine, dx: Tensor, accumulate: boolean, x: Tensor, dout: Tensor, dxOperand: Tensor | null = null): void {
  const op = 'gelu_backward';
  expectDType(op, 'x', x, 'f32');
  expectSameSize(op, 'dx', dx, x);
  expectSameSize(op, 'dout', dout, x);
  const n = x.size;
  const kernel = dualStoreKernel(e, op, 'dxOperand', dxOperand, 'x', x);
  if (n === 0) return;
  const args: Record<string, Tensor> = { x, dout, dx };
  if (dxOperand) args.dx_operand = dxOperand;
  e.dispatch(kernel, args, { n, accumulate: accumulate ? 1 : 0 }, e.grid(kernel, n, PER_INVOCATION));
}

/** Autograd GELU: returns gelu(x) shaped like x and records dx (+)= dout * gelu'(x). */
export function gelu(e: Engine, x: Tensor): Tensor {
  expectDType('gelu', 'x', x, 'f32');
  const out = e.alloc(x.shape, 'f32', 'gelu.out');
  gelu_forward(e, out, x);
  e.record('gelu', [out], () => {
    const dout = e.gradIn('gelu', out);
    const gx = e.gradOf('gelu', x);
    gelu_backward(e, gx.grad, gx.accumulate, x, dout);
  });
  return out;
}
