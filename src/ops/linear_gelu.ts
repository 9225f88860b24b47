/**
 * A linear layer followed by GELU as one matmul with a bias + GELU epilogue (the MLP's first linear):
 *
 *   pre = a @ w + bias        out = gelu(pre)          (GELU: tanh approximation, src/ops/gelu.ts)
 * a (..., K), w (K, N), bias (N) or none. Backward, with gelu' as gelu_backward computes it:
 *   dpre = dout * gelu'(pre)      da = dpre @ w^T      dw = a^T @ dpre      dbias = sum over rows of dpre
 * Saves: a, w and pre. GELU's derivative needs its input, which the fused kernel writes beside out (the
 * unfused pair kept the same two tensors: the matmul's output and GELU's), so activation memory is unchanged.
 *
 * What the fusion saves: one dispatch per call (GELU's), and one pass over the (rows, N) pre-activation (GELU
 * read it back and wrote out; the epilogue computes out from registers). The backward is the unfused one:
 * gelu_backward into dpre, then the matmul's backward (src/ops/matmul.ts), four dispatches with a bias. Under f16
 * precision gelu_backward stores dpre's f16 copy for the GEMMs in the same pass, so the cast the matmul's
 * backward would add is not dispatched.
 *
 * Kernels: the twin with the GELU epilogue of the GEMM `matmulKernelFor` picks (src/runtime/choice.ts):
 * matmul_subgroup_gelu (kernels/matmul_subgroup.wgsl) on CPU adapters where the operands can be read as vec4,
 * matmul_forward_gelu (kernels/matmul.wgsl) for the rest of the CPU cases, matmul_tiled_gelu on GPUs. Whether
 * models use the fused op or matmul + gelu is the adapter's `linearGelu` choice.
 */
import type { Engine } from '../runtime/engine.js';
import type { KernelVariant } from '../runtime/kernels.js';
import { fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';
import { canStoreDual } from './dual-store.js';
import { gelu, gelu_backward } from './gelu.js';
import { gemm, gemmOperands, KERNEL_TILE, matmul, matmul_backward, matmulDims, matmulKernelFor, matmulOutShape, matmulVariants, type GemmDims, type GemmOperands } from './matmul.js';

/** The GELU-epilogue twin of each GEMM kernel. */
const GELU_TWIN = { matmul_subgroup: 'matmul_subgroup_gelu', matmul_forward: 'matmul_forward_gelu', matmul_tiled: 'matmul_tiled_gelu' } as const;

function linearDims(op: string, a: Tensor, w: Tensor): GemmDims {
  if (w.shape.length !== 2) throw new ShapeError(`${op}: w must be 2-D (K, N), got ${fmtShape(w.shape)}`);
  return matmulDims(op, a, w);
}

/**
 * Kernel-level forward: pre = a @ w (+ bias), out = gelu(pre); out and pre have the shape (..., N). One
 * dispatch (the f16 twin when a and w are f16, and then out is f16 too, the next linear's input; pre is f32
 * either way); 2 M N K flops plus GELU's per element.
 */
export function linear_gelu_forward(e: Engine, out: Tensor, pre: Tensor, a: Tensor, w: Tensor, bias: Tensor | null): void {
  const d = linearDims('linear_gelu', a, w);
  const want: [string, Tensor, number][] = [
    ['a', a, d.M * d.K],
    ['w', w, d.K * d.N],
    ['out', out, d.M * d.N],
    ['pre', pre, d.M * d.N],
  ];
  const operand = a.dtype === 'f16' ? 'f16' : 'f32';
  for (const [name, t, size] of want) {
    const dtype = name === 'pre' ? 'f32' : operand;
    if (t.dtype !== dtype) throw new ShapeError(`linear_gelu: ${name} ${t} must be ${dtype}`);
    if (t.size !== size) throw new ShapeError(`linear_gelu: ${name} ${fmtShape(t.shape)} has ${t.size} elements, dims ${JSON.stringify(d)} need ${size}`);
  }
  if (bias && bias.size !== d.N) throw new ShapeError(`linear_gelu: bias has shape ${fmtShape(bias.shape)}, expected [${d.N}]`);
  if (d.M === 0 || d.N === 0) return;
  const b = bias ?? e.unused;
  const plain = matmulKernelFor(e, d, {}, [a, w, b, out, pre]);
  const tile = KERNEL_TILE[plain];
  e.dispatch(
    operand === 'f16' ? `${GELU_TWIN[plain]}_f16` : GELU_TWIN[plain],
    { a, w, bias: b, act: out, pre },
    { M: d.M, N: d.N, K: d.K, stride_a: d.M * d.K, stride_w: 0, stride_out: d.M * d.N, has_bias: bias ? 1 : 0, accumulate: 0 },
    [Math.ceil(d.N / tile.cols), Math.ceil(d.M / tile.rows), 1],
    { TRANS_A: false, TRANS_B: false },
  );
}

/**
 * Kernel-level backward: dpre = dout * gelu'(pre) into `dpre` (overwritten), then the gradients of a, w and
 * bias by the matmul's rule (`e.gradOf` says where, and whether to accumulate). With f16 `operands` the GEMMs'
 * f16 copy of dpre comes from the same dispatch (gelu_backward with dxOperand) where the device has it, else a cast.
 */
export function linear_gelu_backward(e: Engine, dpre: Tensor, dout: Tensor, pre: Tensor, a: Tensor, w: Tensor, bias: Tensor | null, operands: GemmOperands = { a, w }): void {
  // The GEMMs read dpre in f16: stored beside dpre by the same dispatch where it can be, else cast from it after.
  const dpreHalf = operands.a.dtype === 'f16' && canStoreDual(e, 'gelu_backward', dpre.size) ? e.alloc(dpre.shape, 'f16', 'linear_gelu.dpre.f16') : null;
  gelu_backward(e, dpre, false, pre, dout, dpreHalf);
  matmul_backward(e, 'linear_gelu', dpre, a, w, bias, linearDims('linear_gelu', a, w), {}, operands, dpreHalf ?? undefined);
}

/**
 * Autograd linear + GELU in one kernel: returns gelu(a @ w + bias) and records the backward rule. Under f16
 * precision the output is f16: its consumer is the MLP's second linear, which reads it without a cast. The
 * backward reads pre (f32), never the output; the output's gradient is f32.
 */
export function linearGelu(e: Engine, a: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  const d = linearDims('linear_gelu', a, w);
  const shape = matmulOutShape(a, w, d);
  const operands = gemmOperands(e, a, w);
  const out = e.alloc(shape, operands.a.dtype === 'f16' ? 'f16' : 'f32', 'linear_gelu.out');
  const pre = e.alloc(shape, 'f32', 'linear_gelu.pre');
  linear_gelu_forward(e, out, pre, operands.a, operands.w, bias);
  e.record('linear_gelu', [out], () => {
    const dout = e.gradIn('linear_gelu', out);
    const dpre = e.alloc(shape, 'f32', 'linear_gelu.dpre');
    linear_gelu_backward(e, dpre, dout, pre, a, w, bias, operands);
  });
  return out;
}

/** gelu(a @ w + bias) the way this adapter runs it: the fused kernel, or matmul then gelu (its `linearGelu` choice). */
export function linearThenGelu(e: Engine, a: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  return e.choice.get('linearGelu') === 'fused' ? linearGelu(e, a, w, bias) : gelu(e, matmul(e, a, w, bias));
}

/** The GELU twins' pipelines a model dispatches (no transposes), to compile ahead with `matmulVariants`. */
export function linearGeluVariants(e: Engine): KernelVariant[] {
  if (e.choice.get('linearGelu') !== 'fused') return [];
  const half = e.choice.get('precision') === 'f16';
  const plain = [...new Set(matmulVariants(e).map((v) => v.name.replace(/_f16$/, '')))] as (keyof typeof GELU_TWIN)[];
  return plain.map((name) => ({ name: half ? `${GELU_TWIN[name]}_f16` : GELU_TWIN[name], overrides: { TRANS_A: false, TRANS_B: false } }));
}
