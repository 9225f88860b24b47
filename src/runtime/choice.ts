/**
 * Which kernel each op runs on this adapter, decided in one place, with why.
 *
 * Two facts about the adapter drive every choice:
 *   cpu: a CPU adapter (llvmpipe / lavapipe, SwiftShader, WARP, or one the browser marks as fallback). There
 *     each invocation is a SIMD lane of a core thread: loads cost per float per lane, barriers and workgroup
 *     memory cost more than they save, and each dispatch costs tens of microseconds. GPUs are the opposite:
 *     workgroup memory and many invocations in flight pay, and dispatches are cheap.
 *   subgroups: the `subgroups` feature with subgroups of at least 8 lanes, so a workgroup of 8 is one subgroup
 *     and a kernel can share a loaded row across its lanes by subgroupBroadcast.
 * The choices (each op's header has its kernels' details and measurements):
 *   matmul: cpu -> matmul_subgroup (register tiles, op(a) shared across 8 lanes), matmul_forward where the
 *     operands are not vec4-aligned or there are no subgroups; GPU -> matmul_tiled (workgroup-memory tiles).
 *   attention: the subgroup kernels wherever they can run (they win on the CPU and on an H100 alike), the
 *     portable ones otherwise.
 *   cross-entropy forward: cpu -> crossentropy_forward_online (a row per invocation, one pass, no barriers);
 *     GPU -> crossentropy_forward (a workgroup per row).
 *   bias and LayerNorm parameter gradients: cpu -> workgroups of 8 (one SIMD vector), rows split only past
 *     4096; GPU -> workgroups of 64 over chunks of 32 rows, for many workgroups in flight.
 *   linear + GELU (the MLP's first linear): fused everywhere -> one GEMM with a bias + GELU epilogue, the twin
 *     of the matmul choice above (src/ops/linear_gelu.ts); 'separate' runs matmul then gelu.
 *   linear + residual add (the output projections): fused everywhere -> the residual stream copied into the
 *     output and the GEMM accumulating onto it (src/ops/linear_residual.ts); 'separate' runs matmul then
 *     residualAdd.
 *   headInF32: under f16 precision the output head (GPT's tied head, the ViT's classifier: the logits) keeps
 *     f32 operands on every adapter; false makes it f16 like the other matmuls. With an f16 head, f16 ended
 *     about three times as far behind f32 at equal steps (docs/results/precision/README.md).
 *   LayerNorm forward and dx: cpu -> a row per invocation (no barriers); GPU -> a workgroup per row (coalesced
 *     loads, many rows in flight; the usual GPU recipe, not yet timed on a GPU here).
 *   precision: the matmuls' operand type (src/ops/matmul.ts: f16 mixed precision). cpu with subgroups and
 *     shader-f16 -> f16: matmul_subgroup's f16 twin reads two halves per 32-bit load, which made whole steps
 *     faster there in `bench precision`'s alternating pairs; f32 everywhere else: without the subgroup kernel
 *     f16 was no faster, and no GPU has been measured (docs/results/precision/README.md has the numbers and
 *     the loss at equal steps). f16 needs shader-f16.
 * Tests and benchmarks force a choice with `force` (null: back to the adapter's); a forced kernel that cannot
 * run a given shape still falls back as the op's fit check says.
 */
import type { Gpu } from './device.js';
import type { KernelRegistry } from './kernels.js';

export type MatmulKernel = 'matmul_subgroup' | 'matmul_forward' | 'matmul_tiled';
export type AttentionKernels = 'subgroup' | 'portable';
export type CrossEntropyKernel = 'crossentropy_forward_online' | 'crossentropy_forward';
export type BiasPlanKind = 'cpu' | 'gpu';
export type LinearGeluKind = 'fused' | 'separate';
export type LinearResidualKind = 'fused' | 'separate';
export type Precision = 'f32' | 'f16';
export type LayerNormKind = 'row-per-invocation' | 'workgroup-per-row';

export interface KernelChoices {
  matmul: MatmulKernel;
  attention: AttentionKernels;
  crossEntropy: CrossEntropyKernel;
  biasPlan: BiasPlanKind;
  linearGelu: LinearGeluKind;
  linearResidual: LinearResidualKind;
  precision: Precision;
  /** Under f16 precision, whether the output head's matmul (the logits) keeps f32 operands. */
  headInF32: boolean;
  layernorm: LayerNormKind;
}

/** Whether the adapter is a CPU implementation (see the header). */
export function isCpuGpu(gpu: Gpu): boolean {
  const info = gpu.adapterInfo;
  const name = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return gpu.device.adapterInfo?.isFallbackAdapter === true || /llvmpipe|lavapipe|softpipe|swiftshader|software|\bwarp\b/i.test(name);
}

export class KernelChoice {
  readonly cpu: boolean;
  /** Subgroups of at least 8 lanes (see the header). */
  readonly subgroups: boolean;
  private readonly forced: Partial<KernelChoices> = {};
  /** Rules taken as this adapter's own (`assumeDefault`): what `force(op, null)` goes back to. */
  private readonly assumed: Partial<KernelChoices> = {};

  constructor(
    gpu: Gpu,
    private readonly kernels: KernelRegistry,
  ) {
    this.cpu = isCpuGpu(gpu);
    this.subgroups = gpu.features.has('subgroups') && (gpu.device.adapterInfo?.subgroupMinSize ?? 0) >= 8;
  }

  /** The adapter's choices, before any forcing. */
  get defaults(): KernelChoices {
    return { ...this.rules, ...this.assumed };
  }

  private get rules(): KernelChoices {
    return {
      matmul: this.cpu ? 'matmul_subgroup' : 'matmul_tiled',
      attention: 'subgroup',
      crossEntropy: this.cpu ? 'crossentropy_forward_online' : 'crossentropy_forward',
      biasPlan: this.cpu ? 'cpu' : 'gpu',
      linearGelu: 'fused',
      linearResidual: 'fused',
      precision: this.cpu && this.subgroupKernelsLoaded(['matmul_subgroup_f16']) && this.halfAvailable ? 'f16' : 'f32',
      headInF32: true,
      layernorm: this.cpu ? 'row-per-invocation' : 'workgroup-per-row',
    };
  }

  /** The choice for `op`: the forced one, else the adapter's. */
  get<K extends keyof KernelChoices>(op: K): KernelChoices[K] {
    return this.forced[op] ?? this.defaults[op];
  }

  /** Forces `op`'s choice (null: back to the adapter's); for tests, benchmarks and `--precision`. */
  force<K extends keyof KernelChoices>(op: K, value: KernelChoices[K] | null): void {
    if (value !== null) this.expectRunnable(op, value);
    if (value === null) delete this.forced[op];
    else this.forced[op] = value;
  }

  /**
   * Takes `op`'s choice as this adapter's own rule from now on, so that `force(op, null)` returns to it: for a test
   * suite run as if the rule had picked otherwise (test/helpers/gpu.ts: the suite under f16).
   */
  assumeDefault<K extends keyof KernelChoices>(op: K, value: KernelChoices[K]): void {
    this.expectRunnable(op, value);
    this.assumed[op] = value;
  }

  private expectRunnable<K extends keyof KernelChoices>(op: K, value: KernelChoices[K]): void {
    if (op === 'precision' && value === 'f16' && !this.halfAvailable) {
      throw new Error('f16 precision needs the shader-f16 feature, which this adapter does not offer; use --precision f32');
    }
  }

  /** Whether f16 precision can run here: the device has shader-f16, so the cast and the f16 matmul twins loaded. */
  get halfAvailable(): boolean {
    return this.kernels.has('cast_to_f16') && this.kernels.has('matmul_forward_f16');
  }

  /** Whether subgroup kernels can run here: the feature, and the registry loaded every one of `names`. */
  subgroupKernelsLoaded(names: readonly string[]): boolean {
    return this.subgroups && names.every((n) => this.kernels.has(n));
  }
}
