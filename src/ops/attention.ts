/**
 * Fused multi-head self-attention.
 *
 *   qkv: (B, T, 3C), q | k | v along the last dim as GPT-2's c_attn writes it; head h uses columns
 *   h*HS..(h+1)*HS of each, HS = C / NH.  Per (b, h):
 *     S = q k^T / sqrt(HS)  (causal: key s > query t excluded)   P = softmax(S) rowwise   out = P v
 * Backward, with P recomputed from q, k and the saved lse:
 *   D_t = dO_t . O_t     dP_ts = dO_t . v_s     dS_ts = P_ts (dP_ts - D_t)
 *   dq_t = sum_s dS_ts k_s / sqrt(HS)     dk_s = sum_t dS_ts q_t / sqrt(HS)     dv_s = sum_t P_ts dO_t
 * Saves: qkv (input), out, and lse (B, NH, T), the per-row log-sum-exp; never the T x T matrix.
 * Cost: forward one dispatch, backward two (dq per query row, then dk/dv per key row); about 2 B NH T^2 HS
 * multiply-adds forward (half that when causal) and 3.5x that backward (both backward kernels recompute scores).
 *
 * Kernels (chosen per dispatch by `attentionKernelsFor`; both sets have the same bindings, params and lse, so a
 * forward of one set and a backward of the other agree):
 *   subgroup (kernels/attention_subgroup.wgsl, kernels/attention_backward_subgroup.wgsl): any adapter with
 *     subgroups of at least 8 lanes, when HS % 4 == 0 and the tensors start on 16 bytes (vec4 loads). A subgroup
 *     of 8 lanes owns 8 R rows and loads each row of the other side once per block of 8, sharing it by
 *     subgroupBroadcast: llvmpipe pays per float loaded per lane. 6-13x less CPU time there than the portable
 *     kernels (B=16 NH=4 HS=32, T=64..512; bench/variants/attention.ts), and on an H100 (Dawn, Vulkan) 2.1-3.3x
 *     faster forward and 2.0-4.7x backward at T=64..256 (docs/results/gpu-h100.md), so GPUs take them too.
 *   portable (kernels/attention.wgsl, kernels/attention_backward.wgsl): one invocation per row, any HS; every
 *     other case (no subgroups, HS % 4 != 0, unaligned views).
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import type { AttentionKernels } from '../runtime/choice.js';
import type { KernelVariant } from '../runtime/kernels.js';
import { expectDType, expectShape, fmtShape, ShapeError, Tensor } from '../runtime/tensor.js';

/** The kernels keep head vectors in private arrays of this size (MAX_HS in the WGSL). */
export const ATTENTION_MAX_HS = 128;

export interface AttentionOptions {
  /** Query t sees keys 0..t only (GPT). Default true; false for bidirectional attention (ViT). */
  causal?: boolean;
}


export type { AttentionKernels } from '../runtime/choice.js';

const SUBGROUP_KERNELS = ['attention_forward_subgroup', 'attention_backward_dq_subgroup', 'attention_backward_dkv_subgroup'];
/** Must match MAX_R and MAX_REGS in the subgroup kernels. */
const SUBGROUP_MAX_R = 4;
const SUBGROUP_MAX_REGS = 32;

/**
 * Makes every later attention dispatch on `e` use `kernels` (null: back to the adapter's choice), for tests and
 * benchmarks. A forced 'subgroup' still falls back to 'portable' where it cannot run (HS % 4 != 0, no subgroups).
 */
export function useAttentionKernels(e: Engine, kernels: AttentionKernels | null): void {
  e.choice.force('attention', kernels);
}

/** The kernel set an attention dispatch with head size HS on these tensors uses (the adapter's choice, src/runtime/choice.ts, then by fit). */
export function attentionKernelsFor(e: Engine, HS: number, tensors: Tensor[]): AttentionKernels {
  const wanted = e.choice.get('attention');
  if (wanted === 'subgroup') {
    const fits = HS % 4 === 0 && HS / 4 <= SUBGROUP_MAX_REGS && tensors.every((t) => t.byteOffset % 16 === 0);
    if (!fits || !e.choice.subgroupKernelsLoaded(SUBGROUP_KERNELS)) return 'portable';
  }
  return wanted;
}

/**
 * Override constants of the subgroup kernels: HC = HS / 4 vec4 chunks per head vector, and R rows per lane (8 R
 * rows per workgroup): 4, fewer when the lane's private arrays (R * HC vec4 each) would exceed MAX_REGS, and fewer
 * for short sequences so that a workgroup's rows are not mostly past T (at T = 16, R = 2 is 2x faster forward
 * than R = 4). Each (HC, R) is its own pipeline.
 */
function subgroupShape(HS: number, T: number): { HC: number; R: number } {
  const HC = HS / 4;
  let R = SUBGROUP_MAX_R;
  while (R > 1 && (R * HC > SUBGROUP_MAX_REGS || 8 * (R / 2) >= T)) R /= 2; // 4, 2 or 1
  return { HC, R };
}

/** The pipelines attention with head size HS over T tokens dispatches here, for compiling ahead (tensors assumed 16-byte aligned). */
export function attentionVariants(e: Engine, HS: number, T: number): KernelVariant[] {
  if (e.choice.get('attention') !== 'subgroup' || HS % 4 !== 0 || HS / 4 > SUBGROUP_MAX_REGS || !e.choice.subgroupKernelsLoaded(SUBGROUP_KERNELS)) return [];
  const overrides = subgroupShape(HS, T);
  // Under f16 precision the f16 twins (storing the copies for the linears around attention) run instead.
  const half = e.choice.get('precision') === 'f16' && e.choice.subgroupKernelsLoaded(SUBGROUP_KERNELS.map((k) => `${k}_f16`));
  return SUBGROUP_KERNELS.map((name) => ({ name: half ? `${name}_f16` : name, overrides }));
}

/** Workgroups of the subgroup kernels: one per (b, h) and tile of 8 R rows, folded past 65535. */
function subgroupGrid(d: Dims, R: number): [number, number] {
  return foldGrid(d.B * d.NH * Math.ceil(d.T / (8 * R)));
}

interface Dims {
  B: number;
  T: number;
  C: number;
  NH: number;
  HS: number;
}

function checkDims(op: string, B: number, T: number, C: number, NH: number): Dims {
  for (const [name, v] of [['B', B], ['T', T], ['C', C], ['NH', NH]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
  }
  if (NH < 1 || C % NH !== 0) throw new ShapeError(`${op}: C = ${C} is not divisible by the number of heads NH = ${NH}`);
  const HS = C / NH;
  if (HS > ATTENTION_MAX_HS) {
    throw new ShapeError(`${op}: head size HS = C / NH = ${C} / ${NH} = ${HS} exceeds the kernels' maximum ${ATTENTION_MAX_HS}; use more heads`);
  }
  return { B, T, C, NH, HS };
}


function params(d: Dims, causal: boolean) {
  return { B: d.B, T: d.T, C: d.C, NH: d.NH, HS: d.HS, causal: causal ? 1 : 0, scale: 1 / Math.sqrt(d.HS) };
}

/**
 * The subgroup kernel and its extra arguments for an optional f16 copy of its output (`copy`, of `like`'s shape):
 * the f16 twin storing it, or the plain kernel with the copy off and an unused binding in its place.
 */
function subgroupCopy(e: Engine, name: string, copy: Tensor | null, like: Tensor, binding: string) {
  if (!copy) return { kernel: name, args: { [binding]: e.unused }, store_operand: 0 };
  expectDType(name, binding, copy, 'f16');
  expectShape(name, binding, copy, like.shape);
  return { kernel: `${name}_f16`, args: { [binding]: copy }, store_operand: 1 };
}

/** Whether the subgroup kernels here can also store an f16 copy of what they write (their f16 twins are loaded). */
export function attentionCanStoreHalf(e: Engine, HS: number, tensors: Tensor[]): boolean {
  return attentionKernelsFor(e, HS, tensors) === 'subgroup' && e.choice.subgroupKernelsLoaded(SUBGROUP_KERNELS.map((k) => `${k}_f16`));
}

/**
 * Kernel-level forward: out (B, T, C) = attention of qkv (B, T, 3C); lse (B, NH, T) is written for backward.
 * `outHalf` (f16, out's shape; only where `attentionCanStoreHalf`): the same dispatch stores f16(out) there too.
 */
export function attention_forward(
  e: Engine,
  out: Tensor,
  lse: Tensor,
  qkv: Tensor,
  B: number,
  T: number,
  C: number,
  NH: number,
  causal: boolean,
  outHalf: Tensor | null = null,
): void {
  const d = checkDims('attention', B, T, C, NH);
  expectShape('attention', 'qkv', qkv, [B, T, 3 * C]);
  expectShape('attention', 'out', out, [B, T, C]);
  expectShape('attention', 'lse', lse, [B, NH, T]);
  for (const [name, t] of [['qkv', qkv], ['out', out], ['lse', lse]] as const) expectDType('attention', name, t, 'f32');
  if (outHalf && !attentionCanStoreHalf(e, d.HS, [qkv, out])) throw new ShapeError('attention: an f16 copy of out needs the subgroup kernels and shader-f16 (attentionCanStoreHalf)');
  const rows = B * NH * T;
  if (rows === 0 || C === 0) return;
  if (attentionKernelsFor(e, d.HS, [qkv, out]) === 'subgroup') {
    const { HC, R } = subgroupShape(d.HS, d.T);
    const c = subgroupCopy(e, 'attention_forward_subgroup', outHalf, out, 'out_operand');
    e.dispatch(c.kernel, { qkv, out, lse, ...c.args }, { ...params(d, causal), store_operand: c.store_operand }, subgroupGrid(d, R), { HC, R });
  } else {
    e.dispatch('attention_forward', { qkv, out, lse }, params(d, causal), e.grid('attention_forward', rows));
  }
}

/**
 * Kernel-level backward: dqkv (B, T, 3C) = (or += when `accumulate`) the gradient of qkv, from the forward's
 * qkv, out, lse and the incoming dout (B, T, C). Uses a (B, NH, T) arena scratch for D_t = dO_t . O_t.
 * `dqkvHalf` (f16, dqkv's shape; only where `attentionCanStoreHalf`): the same dispatches store f16 of what dqkv
 * then holds there too.
 */
export function attention_backward(
  e: Engine,
  dqkv: Tensor,
  accumulate: boolean,
  qkv: Tensor,
  out: Tensor,
  dout: Tensor,
  lse: Tensor,
  B: number,
  T: number,
  C: number,
  NH: number,
  causal: boolean,
  dqkvHalf: Tensor | null = null,
): void {
  const d = checkDims('attention backward', B, T, C, NH);
  expectShape('attention backward', 'dqkv', dqkv, [B, T, 3 * C]);
  expectShape('attention backward', 'qkv', qkv, [B, T, 3 * C]);
  expectShape('attention backward', 'out', out, [B, T, C]);
  expectShape('attention backward', 'dout', dout, [B, T, C]);
  expectShape('attention backward', 'lse', lse, [B, NH, T]);
  for (const [name, t] of [['dqkv', dqkv], ['qkv', qkv], ['out', out], ['dout', dout], ['lse', lse]] as const) {
    expectDType('attention backward', name, t, 'f32');
  }
  if (dqkvHalf && !attentionCanStoreHalf(e, d.HS, [dqkv, qkv, out, dout])) {
    throw new ShapeError('attention backward: an f16 copy of dqkv needs the subgroup kernels and shader-f16 (attentionCanStoreHalf)');
  }
  const rows = B * NH * T;
  if (rows === 0 || C === 0) return;
  const dsum = e.alloc([B, NH, T], 'f32', 'attention.dsum'); // (B, NH, T)
  const p = { ...params(d, causal), accumulate: accumulate ? 1 : 0 };
  // dq first: it writes D_t, which the dk/dv kernel reads.
  if (attentionKernelsFor(e, d.HS, [dqkv, qkv, out, dout]) === 'subgroup') {
    const { HC, R } = subgroupShape(d.HS, d.T);
    const grid = subgroupGrid(d, R);
    const dq = subgroupCopy(e, 'attention_backward_dq_subgroup', dqkvHalf, dqkv, 'dqkv_operand');
    const dkv = subgroupCopy(e, 'attention_backward_dkv_subgroup', dqkvHalf, dqkv, 'dqkv_operand');
    e.dispatch(dq.kernel, { qkv, out, dout, lse, dsum, dqkv, ...dq.args }, { ...p, store_operand: dq.store_operand }, grid, { HC, R });
    e.dispatch(dkv.kernel, { qkv, dout, lse, dsum, dqkv, ...dkv.args }, { ...p, store_operand: dkv.store_operand }, grid, { HC, R });
  } else {
    const grid = e.grid('attention_backward_dq', rows);
    e.dispatch('attention_backward_dq', { qkv, out, dout, lse, dsum, dqkv }, p, grid);
    e.dispatch('attention_backward_dkv', { qkv, dout, lse, dsum, dqkv }, p, grid);
  }
}

/**
 * Autograd attention: returns out (B, T, C) for qkv (B, T, 3C) with `nHead` heads and records the backward
 * rule, which writes (or adds to) qkv's gradient in the same (B, T, 3C) layout.
 */
export function attention(e: Engine, qkv: Tensor, nHead: number, opts: AttentionOptions = {}): Tensor {
  const { causal = true } = opts;
  if (qkv.shape.length !== 3 || qkv.shape[2]! % 3 !== 0) {
    throw new ShapeError(`attention: qkv must be (B, T, 3C), got ${fmtShape(qkv.shape)}`);
  }
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  checkDims('attention', B, T, C, nHead);
  const out = e.alloc([B, T, C], 'f32', 'attention.out'); // (B, T, C)
  const lse = e.alloc([B, nHead, T], 'f32', 'attention.lse'); // (B, NH, T)
  // Under f16 precision the output goes to a linear (the block's projection) and dqkv comes from one (qkv's): the
  // kernels store the f16 copies those linears' GEMMs read, in place of a cast each (`halfCopy`, src/ops/matmul.ts).
  const halves = e.choice.get('precision') === 'f16' && attentionCanStoreHalf(e, C / nHead, [qkv, out]);
  if (halves) out.halfCopy = e.alloc(out.shape, 'f16', 'attention.out.f16');
  attention_forward(e, out, lse, qkv, B, T, C, nHead, causal, out.halfCopy);
  e.record('attention', [out], () => {
    const dout = e.gradIn('attention', out);
    const g = e.gradOf('attention', qkv);
    const dqkvHalf = halves && attentionCanStoreHalf(e, C / nHead, [g.grad, qkv, out, dout]) ? e.alloc(g.grad.shape, 'f16', `${g.grad.label}.f16`) : null;
    attention_backward(e, g.grad, g.accumulate, qkv, out, dout, lse, B, T, C, nHead, causal, dqkvHalf);
    g.grad.halfCopy = dqkvHalf;
  });
  return out;
}
