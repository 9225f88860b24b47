/**
 * Matrix multiply, batched, either operand transposed, optional bias.
 *
 *   out = op(a) @ op(w) + bias
 * With a 2-D weight w (K, N) (or (N, K) when transB) the leading dimensions of `a` are rows: a linear layer,
 * a (..., K) -> out (..., N). With a batched weight (batch, K, N), `a` has the same batch: a batched matmul.
 * Backward, with A' = op(a), W' = op(w):
 *   dA' = dout @ W'^T        dW' = A'^T @ dout        dbias = sum over rows of dout
 * and an operand stored transposed gets the transpose of its gradient.
 * Saves: a, w (its inputs; nothing extra).
 *
 * Kernels (chosen per dispatch by `matmulKernelFor` from the adapter's choice in src/runtime/choice.ts, all with
 * the same bindings and params):
 *   matmul_subgroup (kernels/matmul_subgroup.wgsl): CPU adapters (llvmpipe) with 8-wide subgroups, when the
 *     operands can be read as vec4 (the contiguous dimension of each stored layout, and N, multiples of 4).
 *     Shares op(a) across the 8 lanes by subgroupBroadcast: llvmpipe pays per float loaded per lane.
 *   matmul_forward (kernels/matmul.wgsl): register tiles, any size; the rest of the CPU-adapter cases.
 *   matmul_tiled (kernels/matmul.wgsl): workgroup-memory tiles, any size; every other adapter (GPUs).
 * dbias: bias_backward (src/ops/bias.ts).
 *
 * f16 mixed precision (the adapter's `precision` choice, or `--precision f16`): the autograd ops (`matmul` here,
 * linear_gelu, linear_residual) hand the GEMMs f16 operands: the activation itself where its producer stored it
 * in f16 (a block's LayerNorms, the fused linear + GELU), else the f16 copy its producer stored beside it
 * (`halfCopy`: attention's output), else an f16 copy made now (one cast_to_f16), either kept for the backward;
 * the parameter's f16 copy (./half-weights.ts: written by AdamW's update, or cast where it could not be); and in
 * the backward an f16 copy of dout, likewise from its producer where it stores one (GELU's and the residual
 * add's backward, attention's dqkv) or cast. Each kernel above has an f16 twin (NAME_f16, derived from the same
 * WGSL) that reads f16 operands and accumulates and writes f32 (linear_gelu's output aside: f16), so every
 * gradient stays f32 (bias and its gradient too). In a transformer block nothing is cast after the first step
 * where attention runs its subgroup kernels (their f16 twins store the copies).
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import type { MatmulKernel } from '../runtime/choice.js';
import type { KernelVariant } from '../runtime/kernels.js';
import { expectDType, fmtShape, ShapeError, Tensor } from '../runtime/tensor.js';
import { bias_backward } from './bias.js';
import { toHalf } from './cast.js';
import { halfCopyOf } from './half-weights.js';

export interface GemmDims {
  batch: number;
  M: number;
  N: number;
  K: number;
}

export interface GemmFlags {
  transA?: boolean;
  transB?: boolean;
  /** out += result instead of out = result. */
  accumulate?: boolean;
}

export type { MatmulKernel } from '../runtime/choice.js';

/** The operands a GEMM reads: the tensors themselves (f32), or their f16 copies. */
export interface GemmOperands {
  a: Tensor;
  w: Tensor;
}

/** Rows and columns of out per workgroup, for the grid (the kernels' epilogue twins tile the same way). */
export const KERNEL_TILE: Record<MatmulKernel, { rows: number; cols: number }> = {
  matmul_subgroup: { rows: 16, cols: 64 }, // one subgroup of 8 lanes x (16 rows, 2 x 4 columns)
  matmul_forward: { rows: 32, cols: 32 }, // 8 x 8 invocations x (4 rows, 4 columns)
  matmul_tiled: { rows: 64, cols: 64 }, // 16 x 16 invocations x (4 rows, 4 columns)
};

/**
 * Makes every later GEMM on `e` use `kernel` (null: back to the adapter's choice), for tests and benchmarks.
 * A forced matmul_subgroup still falls back to matmul_forward where it cannot run (sizes, no subgroups).
 */
export function useMatmulKernel(e: Engine, kernel: MatmulKernel | null): void {
  e.choice.force('matmul', kernel);
}

/**
 * Whether matmul_subgroup can run this GEMM: the device can run it at all, and a, w and out can be bound as vec4
 * arrays, i.e. the contiguous dimension of each stored layout is a multiple of 4 (then every size and batch
 * stride is too) and each starts on 16 bytes.
 */
export function subgroupKernelFits(e: Engine, d: GemmDims, transA: boolean, transB: boolean, tensors: Tensor[]): boolean {
  if (!e.choice.subgroupKernelsLoaded(['matmul_subgroup'])) return false;
  const aContiguous = transA ? d.M : d.K;
  const wContiguous = transB ? d.K : d.N;
  return d.K > 0 && aContiguous % 4 === 0 && wContiguous % 4 === 0 && d.N % 4 === 0 && tensors.every((t) => t.byteOffset % 16 === 0);
}

/** The kernel `gemm` dispatches for these operands (the adapter's choice, src/runtime/choice.ts, then by fit). */
export function matmulKernelFor(e: Engine, d: GemmDims, flags: GemmFlags, tensors: Tensor[]): MatmulKernel {
  const wanted = e.choice.get('matmul');
  if (wanted === 'matmul_subgroup' && !subgroupKernelFits(e, d, flags.transA ?? false, flags.transB ?? false, tensors)) return 'matmul_forward';
  return wanted;
}

/**
 * Every pipeline `gemm` can dispatch on this adapter: the chosen kernel and its fallback, each with the four
 * (TRANS_A, TRANS_B) pairs, so a model can compile them ahead. Under f16 precision the f16 twins, and the f32
 * kernels too while the output head keeps f32 operands (`headInF32`).
 */
export function matmulVariants(e: Engine): KernelVariant[] {
  const wanted = e.choice.get('matmul');
  const kernels: MatmulKernel[] = wanted === 'matmul_subgroup' ? ['matmul_forward', ...(e.kernels.has('matmul_subgroup') ? (['matmul_subgroup'] as const) : [])] : [wanted];
  const half = kernels.map((k) => `${k}_f16`);
  const names = e.choice.get('precision') !== 'f16' ? kernels : e.choice.get('headInF32') ? [...kernels, ...half] : half;
  return names.flatMap((name) => [false, true].flatMap((TRANS_A) => [false, true].map((TRANS_B) => ({ name, overrides: { TRANS_A, TRANS_B } }))));
}

/** Reads (batch, M, N, K) from the operand shapes, checking they agree; errors name the op and shapes. */
export function matmulDims(op: string, a: Tensor, w: Tensor, transA = false, transB = false): GemmDims {
  if (a.shape.length < 2 && !(w.shape.length === 2 && a.shape.length === 1) ) {
    throw new ShapeError(`${op}: a needs at least 2 dimensions, got ${fmtShape(a.shape)}`);
  }
  if (w.shape.length < 2) throw new ShapeError(`${op}: w needs at least 2 dimensions, got ${fmtShape(w.shape)}`);
  const [wr, wc] = w.shape.slice(-2) as [number, number];
  const [K2, N] = transB ? [wc, wr] : [wr, wc];
  let batch: number;
  let M: number;
  let K: number;
  if (w.shape.length === 2) {
    // Shared weight: every leading dimension of a is a row.
    if (transA && a.shape.length !== 2) throw new ShapeError(`${op}: a transposed must be 2-D with a 2-D w, got ${fmtShape(a.shape)}`);
    const last = a.shape[a.shape.length - 1]!;
    const rows = a.size / Math.max(1, last);
    batch = 1;
    [M, K] = transA ? [last, a.shape[0]!] : [rows, last];
  } else {
    const batchA = a.shape.slice(0, -2);
    const batchW = w.shape.slice(0, -2);
    if (batchA.length !== batchW.length || batchA.some((d, i) => d !== batchW[i])) {
      throw new ShapeError(`${op}: batch dimensions differ: a ${fmtShape(a.shape)}, w ${fmtShape(w.shape)}`);
    }
    batch = batchA.reduce((x, y) => x * y, 1);
    const [ar, ac] = a.shape.slice(-2) as [number, number];
    [M, K] = transA ? [ac, ar] : [ar, ac];
  }
  if (K !== K2) {
    throw new ShapeError(
      `${op}: inner dimensions differ: op(a) is [${M}, ${K}] (a ${fmtShape(a.shape)}${transA ? ' transposed' : ''}), ` +
        `op(w) is [${K2}, ${N}] (w ${fmtShape(w.shape)}${transB ? ' transposed' : ''})`,
    );
  }
  return { batch, M, N, K };
}

/** The output shape of `matmul(a, w)`. */
export function matmulOutShape(a: Tensor, w: Tensor, d: GemmDims, transA = false): number[] {
  if (w.shape.length === 2) return transA ? [d.M, d.N] : [...a.shape.slice(0, -1), d.N];
  return [...a.shape.slice(0, -2), d.M, d.N];
}

/**
 * Kernel-level GEMM on explicit dimensions: out (batch, M, N) = op(a) @ op(w) (+ bias) (+ out).
 * Output first, as the kernels are. Sizes are checked against the dimensions before dispatch. One dispatch of
 * the kernel `matmulKernelFor` picks (its f16 twin when a and w are f16); 2*batch*M*N*K flops.
 */
export function gemm(e: Engine, out: Tensor, a: Tensor, w: Tensor, bias: Tensor | null, d: GemmDims, flags: GemmFlags = {}): void {
  const { transA = false, transB = false, accumulate = false } = flags;
  const want: [string, Tensor, number][] = [
    ['a', a, d.batch * d.M * d.K],
    ['w', w, (w.shape.length > 2 ? d.batch : 1) * d.K * d.N],
    ['out', out, d.batch * d.M * d.N],
  ];
  const operand = a.dtype === 'f16' ? 'f16' : 'f32';
  for (const [name, t, size] of want) {
    expectDType('matmul', name, t, name === 'out' ? 'f32' : operand);
    if (t.size !== size) throw new ShapeError(`matmul: ${name} ${fmtShape(t.shape)} has ${t.size} elements, dims ${JSON.stringify(d)} need ${size}`);
  }
  if (bias && bias.size !== d.N) throw new ShapeError(`matmul: bias has shape ${fmtShape(bias.shape)}, expected [${d.N}]`);
  if (d.M === 0 || d.N === 0 || d.batch === 0) return;
  const b = bias ?? e.unused;
  const kernel = matmulKernelFor(e, d, flags, [a, w, b, out]);
  const tile = KERNEL_TILE[kernel];
  e.dispatch(
    operand === 'f16' ? `${kernel}_f16` : kernel,
    { a, w, bias: b, out },
    {
      M: d.M,
      N: d.N,
      K: d.K,
      stride_a: d.M * d.K,
      stride_w: w.shape.length > 2 ? d.K * d.N : 0,
      stride_out: d.M * d.N,
      has_bias: bias ? 1 : 0,
      accumulate: accumulate ? 1 : 0,
    },
    [Math.ceil(d.N / tile.cols), Math.ceil(d.M / tile.rows), d.batch],
    { TRANS_A: transA, TRANS_B: transB },
  );
}

/** Kernel-level forward from shapes: out = op(a) @ op(w) (+ bias) (+ out). */
export function matmul_forward(e: Engine, out: Tensor, a: Tensor, w: Tensor, bias: Tensor | null, flags: GemmFlags = {}): void {
  gemm(e, out, a, w, bias, matmulDims('matmul', a, w, flags.transA, flags.transB), flags);
}

/**
 * What the GEMMs of an autograd linear read for a and w: a and w themselves, or under f16 precision an f16 copy
 * of a (an a already f16 as it is; the copy its producer stored beside it, `a.halfCopy`; else cast now, in the
 * arena) and w's (a parameter's cached copy; any other tensor is cast now).
 */
export function gemmOperands(e: Engine, a: Tensor, w: Tensor, head = false): GemmOperands {
  if (e.choice.get('precision') !== 'f16' || (head && e.choice.get('headInF32'))) {
    if (a.dtype === 'f16') throw new ShapeError(`matmul: a ${a} is f16, but this linear reads f32 operands (${head ? 'the head stays f32' : 'precision f32'}); only f16 linears take f16 inputs`);
    return { a, w };
  }
  // The op's own dtype errors first, not the cast's. An f16 a (a LayerNorm's or GELU's output, stored in f16 for
  // this linear) is read as it is.
  if (a.dtype !== 'f16') expectDType('matmul', 'a', a, 'f32');
  expectDType('matmul', 'w', w, 'f32');
  return { a: a.dtype === 'f16' ? a : (a.halfCopy ?? toHalf(e, a)), w: w.isParameter ? halfCopyOf(e, w) : toHalf(e, w) };
}

/**
 * Autograd matmul: returns op(a) @ op(w) + bias and records the backward rule. `head` marks a model's output head
 * (the logits), which the adapter's `headInF32` choice may keep f32 under f16 precision.
 */
export function matmul(e: Engine, a: Tensor, w: Tensor, bias: Tensor | null = null, opts: { transA?: boolean; transB?: boolean; head?: boolean } = {}): Tensor {
  const { transA = false, transB = false, head = false } = opts;
  const d = matmulDims('matmul', a, w, transA, transB);
  const out = e.alloc(matmulOutShape(a, w, d, transA), 'f32', 'matmul.out');
  const operands = gemmOperands(e, a, w, head);
  gemm(e, out, operands.a, operands.w, bias, d, { transA, transB });
  e.record('matmul', [out], () => {
    const dout = e.gradIn('matmul', out);
    matmul_backward(e, 'matmul', dout, a, w, bias, d, { transA, transB }, operands, dout.halfCopy ?? undefined);
  });
  return out;
}

/**
 * Kernel-level backward of out = op(a) @ op(w) + bias given dout: the gradients of a, w and bias (those that
 * need one, by `e.gradOf`, which also says whether to accumulate). Three dispatches with a bias, two without;
 * with f16 `operands` (the forward's, from `gemmOperands`) the GEMMs read those and an f16 copy of dout: `doutHalf`
 * where dout's producer stored one beside it, else one cast more. The gradients are f32 as always.
 */
export function matmul_backward(
  e: Engine,
  op: string,
  dout: Tensor,
  a: Tensor,
  w: Tensor,
  bias: Tensor | null,
  d: GemmDims,
  { transA = false, transB = false }: { transA?: boolean; transB?: boolean } = {},
  operands: GemmOperands = { a, w },
  doutHalf?: Tensor,
): void {
  if (doutHalf && (doutHalf.dtype !== 'f16' || doutHalf.size !== dout.size)) {
    throw new ShapeError(`${op}: doutHalf ${doutHalf} must be an f16 copy of dout ${dout}`);
  }
  const g = operands.a.dtype === 'f16' ? (doutHalf ?? toHalf(e, dout)) : dout;
  const { a: x, w: y } = operands;
  // dA' (M, K) = dout (M, N) @ W'^T.  a stored (K, M) when transA: dA = W' @ dout^T.
  const ga = e.gradOf(op, a);
  const dA = { batch: d.batch, M: d.M, N: d.K, K: d.N };
  if (!transA) gemm(e, ga.grad, g, y, null, dA, { transB: !transB, accumulate: ga.accumulate });
  else gemm(e, ga.grad, y, g, null, { batch: d.batch, M: d.K, N: d.M, K: d.N }, { transA: transB, transB: true, accumulate: ga.accumulate });
  // dW' (K, N) = A'^T @ dout.  w stored (N, K) when transB: dW = dout^T @ A'.
  const gw = e.gradOf(op, w);
  if (!transB) gemm(e, gw.grad, x, g, null, { batch: d.batch, M: d.K, N: d.N, K: d.M }, { transA: !transA, accumulate: gw.accumulate });
  else gemm(e, gw.grad, g, x, null, { batch: d.batch, M: d.N, N: d.K, K: d.M }, { transA: true, transB: transA, accumulate: gw.accumulate });
  if (bias) {
    const gb = e.gradOf(op, bias);
    bias_backward(e, gb.grad, dout, gb.accumulate);
  }
}
