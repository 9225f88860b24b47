/**
 * Compiling ahead every pipeline a transformer will dispatch: the registry compiles each kernel's default
 * pipeline when the engine opens, but GEMM transposes, the subgroup attention's (HC, R) and the adapter's
 * gradient-reduction workgroup size are override variants. Compiling them here, asynchronously and together,
 * keeps a synchronous compile out of step 1 (`e.kernels.lateCompiles` counts any that slip through).
 */
import { attentionVariants } from '../ops/attention.js';
import { biasPlanVariants } from '../ops/bias.js';
import { linearGeluVariants } from '../ops/linear_gelu.js';
import { matmulVariants } from '../ops/matmul.js';
import type { Engine } from '../runtime/engine.js';

export async function prepareTransformerKernels(e: Engine, dims: { headSize: number; seqLen: number }): Promise<void> {
  await e.kernels.prepareVariants([...matmulVariants(e), ...linearGeluVariants(e), ...attentionVariants(e, dims.headSize, dims.seqLen), ...biasPlanVariants(e)]);
}
