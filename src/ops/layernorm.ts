/**
 * LayerNorm over the last dimension, with weight and bias (GPT-2's ln_1, ln_2, ln_f).
 *
 *   out = (x - mean) * rstd * weight + bias      x: (..., C) viewed as (N, C); weight, bias: (C)
 *   mean, rstd = 1 / sqrt(var + eps) per row (biased variance)
 * Backward, with xhat = (x - mean) * rstd and g = dout * weight:
 *   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   dweight = sum over rows of dout * xhat        dbias = sum over rows of dout
 * Saves: x, weight (inputs), mean (N), rstd (N).
 *
 * Cost: forward and dx give one invocation per row, the row's statistics in registers, no workgroup memory or
 * barriers (which lavapipe, where loads are the cost, runs poorly), vec4 loads with a scalar tail. The forward
 * reads x twice: one pass takes the sum (for the mean) and a shifted Welford update (for the variance, as
 * accurate as a second pass over x - mean), one writes out. The backward reads x, dout and weight twice (row
 * sums, dx). These kernels serve CPU adapters. GPUs get the same contract with a workgroup per row
 * (the _rows kernels of kernels/layernorm.wgsl: coalesced loads, many rows in flight, tree reductions in workgroup memory),
 * by the adapter's `layernorm` choice (src/runtime/choice.ts); `useLayerNormKernel` forces one for tests.
 * The parameter gradients are their own kernel (kernels/layernorm_backward_params.wgsl), built as bias_backward
 * is: 4 columns per invocation (vec4 loads when C % 4 == 0), rows split into chunks by `biasBackwardPlan`, the
 * chunks' partial sums finished in chunk order (deterministic, no atomics); see `layernorm_backward_params`.
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import { expectDType, expectShape, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';
import type { LayerNormKind } from '../runtime/choice.js';
import { biasBackwardPlan, sumChunkPartials } from './bias.js';

/** Makes later LayerNorms on `e` use `kind` (null: back to the adapter's choice), for tests and benchmarks. */
export function useLayerNormKernel(e: Engine, kind: LayerNormKind | null): void {
  e.choice.force('layernorm', kind);
}

/** The forward or dx kernel this adapter runs, and its grid over N rows. */
function rowKernel(e: Engine, name: 'layernorm_forward' | 'layernorm_backward', N: number): { kernel: string; grid: [number, number] } {
  if (e.choice.get('layernorm') === 'workgroup-per-row') return { kernel: `${name}_rows`, grid: foldGrid(N) };
  return { kernel: name, grid: e.grid(name, N) };
}

/** Reads (N, C) from x and checks weight and bias; errors name the op and the shapes. */
export function layernormDims(op: string, x: Tensor, weight: Tensor, bias: Tensor): { N: number; C: number } {
  if (x.shape.length < 1) throw new ShapeError(`${op}: x must have at least one dimension, got ${fmtShape(x.shape)}`);
  const C = x.shape[x.shape.length - 1]!;
  if (C === 0) throw new ShapeError(`${op}: x ${fmtShape(x.shape)} has an empty last dimension`);
  expectShape(op, `weight (for x ${fmtShape(x.shape)})`, weight, [C]);
  expectShape(op, `bias (for x ${fmtShape(x.shape)})`, bias, [C]);
  for (const [name, t] of [['x', x], ['weight', weight], ['bias', bias]] as const) expectDType(op, name, t, 'f32');
  return { N: x.size / C, C };
}

function expectRows(op: string, what: string, t: Tensor, N: number): void {
  if (t.size !== N) throw new ShapeError(`${op}: ${what} has shape ${fmtShape(t.shape)}, expected [${N}] (one per row)`);
  expectDType(op, what, t, 'f32');
}

function expectAll(op: string, what: string, t: Tensor, N: number, C: number, dtype: 'f32' | 'f16' = 'f32'): void {
  if (t.size !== N * C) throw new ShapeError(`${op}: ${what} has shape ${fmtShape(t.shape)}, expected ${N * C} elements (${N} x ${C})`);
  expectDType(op, what, t, dtype);
}

/** The kernels' checks, in order: `all` tensors (N, C), `rows` (N), `channels` (C); every one f32 (an f16 forward out: expectAll). */
function expectLayout(
  op: string,
  N: number,
  C: number,
  t: { all: Record<string, Tensor>; rows: Record<string, Tensor>; channels: Record<string, Tensor> },
): void {
  for (const [name, x] of Object.entries(t.all)) expectAll(op, name, x, N, C);
  for (const [name, x] of Object.entries(t.rows)) expectRows(op, name, x, N);
  for (const [name, x] of Object.entries(t.channels)) {
    expectShape(op, name, x, [C]);
    expectDType(op, name, x, 'f32');
  }
}

/**
 * Kernel-level forward: out = layernorm(x) (N, C); writes mean (N) and rstd (N). An f16 `out` takes the kernel's
 * f16 twin (values past f16's range stored as infinities, as cast_to_f16 does); it needs shader-f16.
 */
export function layernorm_forward(
  e: Engine,
  out: Tensor, // (N, C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  bias: Tensor, // (C)
  N: number,
  C: number,
  eps = 1e-5,
): void {
  const op = 'layernorm_forward';
  const half = out.dtype === 'f16';
  expectAll(op, 'out', out, N, C, half ? 'f16' : 'f32');
  if (half && !e.kernels.has('layernorm_forward_f16')) throw new ShapeError(`${op}: an f16 out needs shader-f16, which this device does not have`);
  expectLayout(op, N, C, { all: { x }, rows: { mean, rstd }, channels: { weight, bias } });
  if (!(eps > 0)) throw new ShapeError(`${op}: eps must be positive, got ${eps}`);
  if (N === 0) return;
  // accumulate is read by the backward kernels only (one params struct per WGSL file).
  const { kernel, grid } = rowKernel(e, 'layernorm_forward', N);
  e.dispatch(half ? `${kernel}_f16` : kernel, { x, weight, bias, out, mean, rstd }, { N, C, eps, accumulate: 0 }, grid);
}

/**
 * Dispatches `layernorm_backward_params` records for N rows: 1, or 3 when the rows are split (the chunks, then
 * one finishing pass each for dweight and dbias).
 */
export function layernormParamsDispatches(e: Engine, N: number): number {
  return biasBackwardPlan(e, N).chunks > 1 ? 3 : 1;
}

/**
 * Kernel-level parameter gradients, with xhat = (x - mean) * rstd:
 *   dweight (C) (+)= sum over rows of dout * xhat        dbias (C) (+)= sum over rows of dout
 * accumulate = true adds (the parameter rule), false overwrites (N = 0 then writes zeros). Deterministic (fixed
 * summation order, no atomics): rows are split into chunks by `biasBackwardPlan` (a function of N and the adapter
 * kind only). One dispatch when the rows fit one chunk; otherwise the chunks' partial sums go to two arena
 * scratches (chunks, C), which `sumChunkPartials` adds in chunk order, one dispatch each.
 * Cost: one read of x and dout (vec4 loads when C % 4 == 0), plus 2 x chunks x C floats written and read back.
 */
export function layernorm_backward_params(
  e: Engine,
  dweight: Tensor, // (C)
  dbias: Tensor, // (C)
  x: Tensor, // (N, C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  dout: Tensor, // (N, C)
  N: number,
  C: number,
  accumulate = true,
): void {
  const op = 'layernorm_backward_params';
  expectLayout(op, N, C, { all: { x, dout }, rows: { mean, rstd }, channels: { dweight, dbias } });
  const { wg, rowsPerChunk, chunks } = biasBackwardPlan(e, N);
  const split = chunks > 1;
  const dweightPartials = split ? e.alloc([chunks, C], 'f32', 'layernorm.dweight_partials') : dweight; // (chunks, C)
  const dbiasPartials = split ? e.alloc([chunks, C], 'f32', 'layernorm.dbias_partials') : dbias; // (chunks, C)
  e.dispatch(
    op,
    { x, x4: x, dout, dout4: dout, mean, rstd, dweight: dweightPartials, dbias: dbiasPartials },
    { N, C, rows_per_chunk: rowsPerChunk, chunks, accumulate: accumulate && !split ? 1 : 0 },
    foldGrid(Math.ceil((Math.ceil(C / 4) * chunks) / wg)),
    // The default WG's pipeline is the one compiled ahead: pass no override for it.
    wg === e.workgroupSize('layernorm_backward_params')[0] ? {} : { WG: wg },
  );
  if (!split) return;
  sumChunkPartials(e, dweight, dweightPartials, accumulate, wg);
  sumChunkPartials(e, dbias, dbiasPartials, accumulate, wg);
}

/**
 * Kernel-level backward: dx (+)= dLoss/dx by `accumulateDx`; dweight and dbias += (parameter gradients; pass
 * `accumulateParams = false` to overwrite them instead). One dispatch for dx (one invocation per row), then
 * `layernorm_backward_params` (1 or 3 dispatches, see `layernormParamsDispatches`).
 */
export function layernorm_backward(
  e: Engine,
  dx: Tensor, // (N, C)
  accumulateDx: boolean,
  dweight: Tensor, // (C)
  dbias: Tensor, // (C)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  dout: Tensor, // (N, C)
  N: number,
  C: number,
  accumulateParams = true,
): void {
  const op = 'layernorm_backward';
  expectLayout(op, N, C, { all: { dx, x, dout }, rows: { mean, rstd }, channels: { weight, dweight, dbias } });
  if (N > 0) {
    const { kernel, grid } = rowKernel(e, 'layernorm_backward', N);
    e.dispatch(kernel, { x, weight, mean, rstd, dout, dx }, { N, C, eps: 0, accumulate: accumulateDx ? 1 : 0 }, grid); // eps: forward only
  }
  // With N = 0 the sums are empty: still run it, so that an overwrite (=) writes zeros.
  layernorm_backward_params(e, dweight, dbias, x, mean, rstd, dout, N, C, accumulateParams);
}

/**
 * Autograd LayerNorm over the last dimension of x: returns a tensor shaped like x and records the backward
 * rule (dx, dweight, dbias). One dispatch forward; backward one for dx, then dweight and dbias together in 1 or
 * 3 (`layernormParamsDispatches`).
 *
 * `forMatmul`: the output is only the input of linears (a block's LN1 and LN2). Under f16 precision it is then
 * stored in f16, the operand their GEMMs read: no f32 output and no cast (src/ops/matmul.ts, gemmOperands). The
 * backward does not read the output, and the output's gradient is f32 like every gradient.
 */
export function layernorm(e: Engine, x: Tensor, weight: Tensor, bias: Tensor, opts: { eps?: number; forMatmul?: boolean } = {}): Tensor {
  const { eps = 1e-5, forMatmul = false } = opts;
  const { N, C } = layernormDims('layernorm', x, weight, bias);
  const half = forMatmul && e.choice.get('precision') === 'f16';
  const out = e.alloc(x.shape, half ? 'f16' : 'f32', 'layernorm.out');
  const mean = e.alloc([N], 'f32', 'layernorm.mean');
  const rstd = e.alloc([N], 'f32', 'layernorm.rstd');
  layernorm_forward(e, out, mean, rstd, x, weight, bias, N, C, eps);
  e.record('layernorm', [out], () => {
    const dout = e.gradIn('layernorm', out);
    const gx = e.gradOf('layernorm', x);
    const gw = e.gradOf('layernorm', weight);
    const gb = e.gradOf('layernorm', bias);
    // One kernel writes both parameter gradients with one flag. They are parameters (both +=) in every model;
    // should one be a fresh activation gradient (=), zero it and add.
    if (!gw.accumulate) e.zero(gw.grad);
    if (!gb.accumulate) e.zero(gb.grad);
    layernorm_backward(e, gx.grad, gx.accumulate, gw.grad, gb.grad, x, weight, mean, rstd, dout, N, C, true);
  });
  return out;
}
