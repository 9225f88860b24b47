/**
 * The bias gradient: dbias (N) (+)= column sums of dout viewed as (M, N) rows (kernels/bias_backward.wgsl).
 * Deterministic: rows are split into chunks by `biasBackwardPlan` (a function of M and the adapter's plan kind
 * only), and the chunks' partial sums are added in chunk order, no atomics. LayerNorm's parameter gradients
 * split their rows by the same plan and finish with `sumChunkPartials`.
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import type { BiasPlanKind } from '../runtime/choice.js';
import type { KernelVariant } from '../runtime/kernels.js';
import { expectDType, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';

export type { BiasPlanKind } from '../runtime/choice.js';

/** bias_backward's row-split rules by adapter kind (see `biasBackwardPlan`). */
const BIAS_PLANS: Record<BiasPlanKind, { wg: number; minRows: number }> = { cpu: { wg: 8, minRows: 4096 }, gpu: { wg: 64, minRows: 32 } };
/** Caps the partials scratch at (256, N) and the finishing dispatch at 256 rows per invocation. */
const BIAS_MAX_CHUNKS = 256;

/**
 * Makes every later bias_backward and layernorm_backward_params on `e` split rows by the `kind` rule (null: the
 * adapter's), for tests and benchmarks.
 */
export function useBiasBackwardPlan(e: Engine, kind: BiasPlanKind | null): void {
  e.choice.force('biasPlan', kind);
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
  const { wg, minRows } = BIAS_PLANS[e.choice.get('biasPlan')];
  const rowsPerChunk = Math.max(minRows, Math.ceil(M / BIAS_MAX_CHUNKS));
  return { wg, rowsPerChunk, chunks: Math.max(1, Math.ceil(M / rowsPerChunk)) };
}

/**
 * The pipelines bias_backward and layernorm_backward_params dispatch with this adapter's plan (only a WG other
 * than the WGSL default needs its own), for compiling ahead.
 */
export function biasPlanVariants(e: Engine): KernelVariant[] {
  const { wg } = BIAS_PLANS[e.choice.get('biasPlan')];
  return ['bias_backward', 'layernorm_backward_params'].filter((name) => e.workgroupSize(name)[0] !== wg).map((name) => ({ name, overrides: { WG: wg } }));
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
    // The default WG's pipeline is the one compiled ahead: pass no override for it.
    wg === e.workgroupSize('bias_backward')[0] ? {} : { WG: wg },
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

