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
 * Kernels (chosen per dispatch by `matmulKernelFor`, all with the same bindings and params):
 *   matmul_subgroup (kernels/matmul_subgroup.wgsl): CPU adapters (llvmpipe) with 8-wide subgroups, when the
 *     operands can be read as vec4 (the contiguous dimension of each stored layout, and N, multiples of 4).
 *     Shares op(a) across the 8 lanes by subgroupBroadcast: llvmpipe pays per float loaded per lane.
 *   matmul_forward (kernels/matmul.wgsl): register tiles, any size; the rest of the CPU-adapter cases.
 *   matmul_tiled (kernels/matmul.wgsl): workgroup-memory tiles, any size; every other adapter (GPUs).
 * dbias: bias_backward (kernels/bias_backward.wgsl), column sums split into row chunks; see `biasBackwardPlan`.
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, Tensor } from '../runtime/tensor.js';

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

/** The GEMM kernels; see the header. */
export type MatmulKernel = 'matmul_subgroup' | 'matmul_forward' | 'matmul_tiled';

/** Rows and columns of out per workgroup, for the grid. */
const KERNEL_TILE: Record<MatmulKernel, { rows: number; cols: number }> = {
  matmul_subgroup: { rows: 16, cols: 32 }, // one subgroup of 8 lanes x (16 rows, 4 columns)
  matmul_forward: { rows: 32, cols: 32 }, // 8 x 8 invocations x (4 rows, 4 columns)
  matmul_tiled: { rows: 64, cols: 64 }, // 16 x 16 invocations x (4 rows, 4 columns)
};

const forcedKernel = new WeakMap<Engine, MatmulKernel>();
const cpuAdapterCache = new WeakMap<Engine, boolean>();
const subgroupReadyCache = new WeakMap<Engine, boolean>();

/**
 * Makes every later GEMM on `e` use `kernel` (null: back to the adapter's choice), for tests and benchmarks.
 * A forced matmul_subgroup still falls back to matmul_forward where it cannot run (sizes, no subgroups).
 */
export function useMatmulKernel(e: Engine, kernel: MatmulKernel | null): void {
  if (kernel) forcedKernel.set(e, kernel);
  else forcedKernel.delete(e);
}

/**
 * A CPU adapter (llvmpipe / lavapipe, SwiftShader, WARP, or one the browser marks as fallback): loads cost per
 * lane and workgroup memory does not help, so GEMMs take the register paths.
 */
export function isCpuAdapter(e: Engine): boolean {
  let cpu = cpuAdapterCache.get(e);
  if (cpu === undefined) {
    const info = e.gpu.adapterInfo;
    const name = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
    cpu = e.device.adapterInfo?.isFallbackAdapter === true || /llvmpipe|lavapipe|softpipe|swiftshader|software|\bwarp\b/i.test(name);
    cpuAdapterCache.set(e, cpu);
  }
  return cpu;
}

/**
 * Whether the device can run matmul_subgroup at all: it has the subgroups feature with subgroups of at least 8
 * lanes (so a workgroup of 8 is one subgroup), and the registry loaded kernels/matmul_subgroup.wgsl.
 */
function subgroupKernelReady(e: Engine): boolean {
  let ready = subgroupReadyCache.get(e);
  if (ready === undefined) {
    ready = e.features.has('subgroups') && (e.device.adapterInfo?.subgroupMinSize ?? 0) >= 8 && e.kernels.has('matmul_subgroup');
    subgroupReadyCache.set(e, ready);
  }
  return ready;
}

/**
 * Whether matmul_subgroup can run this GEMM: the device can run it at all, and a, w and out can be bound as vec4
 * arrays, i.e. the contiguous dimension of each stored layout is a multiple of 4 (then every size and batch
 * stride is too) and each starts on 16 bytes.
 */
export function subgroupKernelFits(e: Engine, d: GemmDims, transA: boolean, transB: boolean, tensors: Tensor[]): boolean {
  if (!subgroupKernelReady(e)) return false;
  const aContiguous = transA ? d.M : d.K;
  const wContiguous = transB ? d.K : d.N;
  return d.K > 0 && aContiguous % 4 === 0 && wContiguous % 4 === 0 && d.N % 4 === 0 && tensors.every((t) => t.byteOffset % 16 === 0);
}

/** The kernel `gemm` dispatches for these operands (the forced one, else by adapter, then by fit). */
export function matmulKernelFor(e: Engine, d: GemmDims, flags: GemmFlags, tensors: Tensor[]): MatmulKernel {
  const wanted = forcedKernel.get(e) ?? (isCpuAdapter(e) ? 'matmul_subgroup' : 'matmul_tiled');
  if (wanted === 'matmul_subgroup' && !subgroupKernelFits(e, d, flags.transA ?? false, flags.transB ?? false, tensors)) return 'matmul_forward';
  return wanted;
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
 * the kernel `matmulKernelFor` picks; 2*batch*M*N*K flops.
 */
export function gemm(e: Engine, out: Tensor, a: Tensor, w: Tensor, bias: Tensor | null, d: GemmDims, flags: GemmFlags = {}): void {
  const { transA = false, transB = false, accumulate = false } = flags;
  const want: [string, Tensor, number][] = [
    ['a', a, d.batch * d.M * d.K],
    ['w', w, (w.shape.length > 2 ? d.batch : 1) * d.K * d.N],
    ['out', out, d.batch * d.M * d.N],
  ];
  for (const [name, t, size] of want) {
    expectDType('matmul', name, t, 'f32');
    if (t.size !== size) throw new ShapeError(`matmul: ${name} ${fmtShape(t.shape)} has ${t.size} elements, dims ${JSON.stringify(d)} need ${size}`);
  }
  if (bias && bias.size !== d.N) throw new ShapeError(`matmul: bias has shape ${fmtShape(bias.shape)}, expected [${d.N}]`);
  if (d.M === 0 || d.N === 0 || d.batch === 0) return;
  const b = bias ?? e.unused;
  const kernel = matmulKernelFor(e, d, flags, [a, w, b, out]);
  const tile = KERNEL_TILE[kernel];
  e.dispatch(
    kernel,
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

/** bias_backward's row-split rules by adapter kind (see `biasBackwardPlan`). */
const BIAS_PLANS = { cpu: { wg: 8, minRows: 4096 }, gpu: { wg: 64, minRows: 32 } } as const;
export type BiasPlanKind = keyof typeof BIAS_PLANS;
/** Caps the partials scratch at (256, N) and the finishing dispatch at 256 rows per invocation. */
const BIAS_MAX_CHUNKS = 256;
/** `WG`'s default in kernels/bias_backward.wgsl: that pipeline is compiled ahead, so pass no override for it. */
const BIAS_WG_DEFAULT = 64;

const forcedBiasPlan = new WeakMap<Engine, BiasPlanKind>();

/**
 * Makes every later bias_backward and layernorm_backward_params on `e` split rows by the `kind` rule (null: the
 * adapter's), for tests and benchmarks.
 */
export function useBiasBackwardPlan(e: Engine, kind: BiasPlanKind | null): void {
  if (kind) forcedBiasPlan.set(e, kind);
  else forcedBiasPlan.delete(e);
}

/**
 * How `bias_backward` splits dout's M rows: `chunks` chunks of `rowsPerChunk` rows (the last one shorter), and
 * workgroups of `wg` invocations, each owning 4 columns of one chunk. A function of M and the plan kind (the
 * adapter's unless `useBiasBackwardPlan` forced one) only, so the summation order, and so the result, is the
 * same every call. layernorm_backward_params (src/ops/layernorm.ts) splits its N rows by this plan too: it reads
 * two floats per element (x, dout) where bias_backward reads one, and a split costs it two finishing
 * dispatches (dweight, dbias) where bias_backward pays one, so the same break-even holds.
 *   gpu: chunks of 32 rows or more (at most 256 chunks), for many workgroups in flight: M = 1088, N = 64 runs
 *     34 chunks x 16 quads = 9 workgroups of 64, then one small dispatch over the (34, 64) partials.
 *   cpu (lavapipe runs one workgroup per thread, and each dispatch costs ~22 us): workgroups of 8 (one 8-lane
 *     SIMD vector, so no lanes idle) spread the columns over the cores in one dispatch (N = 64: 2 workgroups,
 *     N = 384: 12). Rows are split only past 4096: below that a core's share of the reads (~0.35 ns per float as
 *     scalars, less as vec4) is not clearly more than the ~22 us of the second dispatch a split adds.
 * Measured (`npm run bench -- kernels --filter bias`): on lavapipe the cpu plan beats the gpu plan at every GPT
 * and ViT shape (1024x384: 0.48 vs 0.65 ms; 1088x256: 0.17 vs 0.40 ms); on an H100 the gpu plan wins (1088x64:
 * 0.050 vs 0.076 ms; docs/results/gpu-h100.md).
 */
export function biasBackwardPlan(e: Engine, M: number): { wg: number; rowsPerChunk: number; chunks: number } {
  const { wg, minRows } = BIAS_PLANS[forcedBiasPlan.get(e) ?? (isCpuAdapter(e) ? 'cpu' : 'gpu')];
  const rowsPerChunk = Math.max(minRows, Math.ceil(M / BIAS_MAX_CHUNKS));
  return { wg, rowsPerChunk, chunks: Math.max(1, Math.ceil(M / rowsPerChunk)) };
}

/** Dispatches `bias_backward` records for dout with M rows: 1, or 2 when the rows are split. */
export function biasBackwardDispatches(e: Engine, M: number): number {
  return biasBackwardPlan(e, M).chunks > 1 ? 2 : 1;
}

/** One dispatch: out (chunks, N) (+)= sums of dout (M, N) over each chunk of `rowsPerChunk` rows. */
function columnSums(e: Engine, out: Tensor, dout: Tensor, M: number, N: number, rowsPerChunk: number, accumulate: boolean, wg: number): void {
  const chunks = Math.max(1, Math.ceil(M / rowsPerChunk));
  e.dispatch(
    'bias_backward',
    { dout, dout4: dout, out },
    { M, N, rows_per_chunk: rowsPerChunk, chunks, accumulate: accumulate ? 1 : 0 },
    foldGrid(Math.ceil((Math.ceil(N / 4) * chunks) / wg)),
    wg === BIAS_WG_DEFAULT ? {} : { WG: wg },
  );
}

/**
 * Kernel-level bias gradient: dbias (N) (+)= column sums of dout viewed as (M, N) rows. Deterministic (fixed
 * summation order, no atomics; see `biasBackwardPlan`). One dispatch when the rows fit one chunk; otherwise the
 * chunks' partial sums go to an arena scratch (chunks, N) and a second dispatch adds them in chunk order.
 * Cost: one read of dout (vec4 loads when N % 4 == 0), plus chunks x N floats written and read back.
 */
export function bias_backward(e: Engine, dbias: Tensor, dout: Tensor, accumulate = true): void {
  expectDType('bias_backward', 'dbias', dbias, 'f32');
  expectDType('bias_backward', 'dout', dout, 'f32');
  const N = dbias.size;
  if (N === 0 || dout.size % N !== 0) throw new ShapeError(`bias_backward: dout ${fmtShape(dout.shape)} is not a multiple of bias [${N}]`);
  const M = dout.size / N;
  const { wg, rowsPerChunk, chunks } = biasBackwardPlan(e, M);
  if (chunks === 1) {
    columnSums(e, dbias, dout, M, N, rowsPerChunk, accumulate, wg);
    return;
  }
  const partials = e.alloc([chunks, N], 'f32', 'bias_backward.partials'); // (chunks, N)
  columnSums(e, partials, dout, M, N, rowsPerChunk, false, wg);
  sumChunkPartials(e, dbias, partials, accumulate, wg);
}

/**
 * The finishing pass of a row split: out (N) (+)= partials (chunks, N) summed over the chunks in chunk order.
 * One bias_backward dispatch (`wg` from the plan); layernorm_backward_params finishes its split with it too.
 */
export function sumChunkPartials(e: Engine, out: Tensor, partials: Tensor, accumulate: boolean, wg: number): void {
  const [chunks, N] = partials.shape as [number, number];
  if (partials.shape.length !== 2 || out.size !== N) {
    throw new ShapeError(`sumChunkPartials: partials ${fmtShape(partials.shape)} are not (chunks, ${out.size}) for out ${fmtShape(out.shape)}`);
  }
  columnSums(e, out, partials, chunks, N, chunks, accumulate, wg);
}

/** Autograd matmul: returns op(a) @ op(w) + bias and records the backward rule. */
export function matmul(e: Engine, a: Tensor, w: Tensor, bias: Tensor | null = null, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const { transA = false, transB = false } = opts;
  const d = matmulDims('matmul', a, w, transA, transB);
  const out = e.alloc(matmulOutShape(a, w, d, transA), 'f32', 'matmul.out');
  gemm(e, out, a, w, bias, d, { transA, transB });
  e.record('matmul', [out], () => {
    const dout = e.gradIn('matmul', out);
    // dA' (M, K) = dout (M, N) @ W'^T.  a stored (K, M) when transA: dA = W' @ dout^T.
    const ga = e.gradOf('matmul', a);
    const dA = { batch: d.batch, M: d.M, N: d.K, K: d.N };
    if (!transA) gemm(e, ga.grad, dout, w, null, dA, { transB: !transB, accumulate: ga.accumulate });
    else gemm(e, ga.grad, w, dout, null, { batch: d.batch, M: d.K, N: d.M, K: d.N }, { transA: transB, transB: true, accumulate: ga.accumulate });
    // dW' (K, N) = A'^T @ dout.  w stored (N, K) when transB: dW = dout^T @ A'.
    const gw = e.gradOf('matmul', w);
    if (!transB) gemm(e, gw.grad, a, dout, null, { batch: d.batch, M: d.K, N: d.N, K: d.M }, { transA: !transA, accumulate: gw.accumulate });
    else gemm(e, gw.grad, dout, a, null, { batch: d.batch, M: d.N, N: d.K, K: d.M }, { transA: true, transB: transA, accumulate: gw.accumulate });
    if (bias) {
      const gb = e.gradOf('matmul', bias);
      bias_backward(e, gb.grad, dout, gb.accumulate);
    }
  });
  return out;
}
