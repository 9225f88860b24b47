/**
 * A linear layer added to the residual stream, the add done by the GEMM's epilogue (the attention and MLP
 * output projections):
 *
 *   out = h + scale * (a @ w + bias)
 * a (..., K), w (K, N), h and out (..., N). With scale 1 (every kept layer unless a layer-dropping policy
 * rescales), out is first set to h by a buffer copy (a copy command, not a dispatch) and the GEMM accumulates
 * a @ w + bias into it: its epilogue adds the stored value, in the order the residual kernel adds, so the result
 * is bit-identical to matmul then residualAdd. Other scales have no GEMM form here (the kernels have no
 * alpha) and run matmul then residualAdd.
 * Backward (the residual's rule, then the matmul's on the branch gradient):
 *   dh (+)= dout      dbranch = scale * dout      da = dbranch @ w^T      dw = a^T @ dbranch      dbias = sum dbranch
 * Saves: a, w and h's identity (nothing extra). What the fusion saves against matmul + residualAdd: one
 * dispatch per call forward, the (rows, N) branch activation (never written, so not kept either: a skipped
 * write and read pass, and activation memory), for a copy of h. The backward is unchanged: residual_backward
 * (one dispatch writing dh and dbranch), then the matmul's three. Under f16 precision residual_backward
 * also stores dbranch's f16 copy for the GEMMs, so the cast the matmul's backward would add is not dispatched.
 *
 * Kernels: the GEMM `matmulKernelFor` picks (src/runtime/choice.ts) with accumulate on; whether models fuse is
 * the adapter's `linearResidual` choice.
 */
import type { Engine } from '../runtime/engine.js';
import { expectShape, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';
import { gemm, gemmOperands, matmul, matmul_backward, matmulDims, matmulOutShape, type GemmDims, type GemmOperands } from './matmul.js';
import { canStoreDual } from './dual-store.js';
import { residual_backward, residualAdd } from './residual.js';

function linearDims(op: string, a: Tensor, w: Tensor, h: Tensor): GemmDims {
  if (w.shape.length !== 2) throw new ShapeError(`${op}: w must be 2-D (K, N), got ${fmtShape(w.shape)}`);
  const d = matmulDims(op, a, w);
  expectShape(op, 'h', h, matmulOutShape(a, w, d));
  return d;
}

/**
 * Kernel-level forward, scale 1: out = h + a @ w (+ bias). A copy, then one GEMM dispatch accumulating (a and w
 * f32, or both f16: the f16 twin).
 */
export function linear_residual_forward(e: Engine, out: Tensor, h: Tensor, a: Tensor, w: Tensor, bias: Tensor | null): void {
  const d = linearDims('linear_residual', a, w, h);
  expectShape('linear_residual', 'out', out, h.shape);
  if (out.buffer === h.buffer) throw new ShapeError('linear_residual: out must not share a buffer with h');
  e.copy(h, out);
  gemm(e, out, a, w, bias, d, { accumulate: true });
}

/**
 * Kernel-level backward: dh (+)= dout and dbranch = scale * dout (one residual_backward), then the gradients of
 * a, w and bias by the matmul's rule (`e.gradOf` says where, and whether to accumulate). With f16 `operands` the
 * GEMMs' f16 copy of dbranch comes from the same dispatch (residual_backward with dbranchOperand) where the device has it.
 */
export function linear_residual_backward(
  e: Engine,
  dh: Tensor,
  accumulateDh: boolean,
  dbranch: Tensor,
  dout: Tensor,
  a: Tensor,
  w: Tensor,
  bias: Tensor | null,
  scale: number,
  operands: GemmOperands = { a, w },
): void {
  // The GEMMs read dbranch in f16: stored beside it by the same dispatch where it can be, else cast from it after.
  const dbranchHalf = operands.a.dtype === 'f16' && canStoreDual(e, 'residual_backward', dbranch.size) ? e.alloc(dbranch.shape, 'f16', 'linear_residual.dbranch.f16') : null;
  residual_backward(e, dh, accumulateDh, dbranch, false, dout, scale, dbranchHalf);
  matmul_backward(e, 'linear_residual', dbranch, a, w, bias, matmulDims('linear_residual', a, w), {}, operands, dbranchHalf ?? undefined);
}

/**
 * Autograd h + scale * (a @ w + bias). Fused (see the header) when scale is 1 and the adapter's
 * `linearResidual` choice is 'fused'; otherwise matmul then residualAdd.
 */
export function linearResidual(e: Engine, a: Tensor, w: Tensor, bias: Tensor | null, h: Tensor, scale = 1): Tensor {
  if (scale !== 1 || e.choice.get('linearResidual') !== 'fused') return residualAdd(e, h, matmul(e, a, w, bias), scale);
  const op = 'linear_residual';
  linearDims(op, a, w, h);
  const out = e.alloc(h.shape, 'f32', 'linear_residual.out');
  const operands = gemmOperands(e, a, w);
  linear_residual_forward(e, out, h, operands.a, operands.w, bias);
  e.record(op, [out], () => {
    const dout = e.gradIn(op, out);
    const gh = e.gradOf(op, h);
    const dbranch = e.alloc(out.shape, 'f32', 'linear_residual.dbranch');
    linear_residual_backward(e, gh.grad, gh.accumulate, dbranch, dout, a, w, bias, scale, operands);
  });
  return out;
}
