/**
 * The optimizer: global gradient-norm clipping and AdamW, one parameter block at a time.
 *
 * A block is four flat f32 buffers of n elements (params, grads, m, v; one block per transformer layer, one for
 * embeddings + final LN), weight-decayed tensors first: elements [0, decayCount) get decoupled weight decay,
 * [decayCount, n) do not. A step, for the blocks that ran (a skipped layer's block is not dispatched at all, so
 * its params, m, v and step count stay as they are, as PyTorch leaves a parameter whose grad is None):
 *
 *   e.zero(sumsq)                                        skipped blocks contribute 0
 *   grad_sumsq(e, block.grads, sumsq, slot)              per block that ran: 1 dispatch (2 when n > 16384)
 *   grad_clip_scale(e, sumsq, nSlots, maxNorm, clip, 1/S) 1 dispatch: clip = [scale, norm, overflow, 0]
 *   writeStepScalars(e, stepScalars, entries, b1, b2)    one upload of [lr, bc1, bc2, 0] per block
 *   adamw_update(e, block, stepScalars, b, clip, hp)     per block that ran: 1 dispatch (adamw_update_dual_f16
 *                                                        where its weights have f16 copies: those written too)
 *
 * S is the loss scale (1 unless f16 mixed precision scales the loss; src/train/loss-scale.ts): the gradients are
 * of S times the loss, and clip[0] takes them back. A non-finite gradient sum sets clip[2] = 1, and then every
 * adamw_update of the step leaves its block untouched: the step is skipped on the GPU, with no readback.
 * Nothing here reads back: the norm and the overflow flag stay in clip until the trainer reads them. The update follows
 * torch.optim.AdamW (kernels/adamw.wgsl gives the exact order: decay with the old p, then the Adam step); the
 * one difference is that lr / bc1, sqrt(bc2) and 1 - lr * wd are formed in f32 on the GPU where PyTorch forms
 * them in float64, a 1-ulp difference in those factors.
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, Tensor } from '../runtime/tensor.js';
import { halfMirrorOf, updatedWithMirror } from './half-weights.js';

/** AdamW hyperparameters that stay fixed over a run (they go in the cached params uniform). */
export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** One parameter block: four flat (n) f32 buffers, decayed elements first. */
export interface OptimBlock {
  params: Tensor; // (n)
  grads: Tensor; // (n)
  m: Tensor; // (n) first moment
  v: Tensor; // (n) second moment
  /** Elements [0, decayCount) get weight decay. */
  decayCount: number;
}

/** A block's learning rate this step and its own step count t (1 on its first update). */
export interface StepEntry {
  lr: number;
  step: number;
}

/**
 * grad_sumsq's workgroup size, for the host-side planning below that has no engine to reflect on; `grad_sumsq`
 * checks it against the kernel's reflected size before its first dispatch.
 */
const SUMSQ_WG = 256;
/**
 * Elements per stage-1 workgroup of grad_sumsq (64 per invocation) before another workgroup is added, and the
 * most workgroups. Few, long workgroups: on lavapipe each workgroup's barriers cost more than its loads (16 vs
 * 1024 workgroups over 7M elements: ~8 ms vs ~47 ms); a real GPU reads a block in microseconds either way.
 */
export const SUMSQ_PER_WORKGROUP = 64 * SUMSQ_WG;
export const SUMSQ_MAX_PARTIALS = 64;
/** The `ITEMS` override default of kernels/adamw.wgsl: vec4s per invocation. */
const ADAMW_ITEMS = 4;
const MAX_WG_PER_DIM = 65535;

/** Workgroups of grad_sumsq's first stage for n elements: a function of n alone, so the sum is reproducible. */
export function sumsqWorkgroups(n: number): number {
  return Math.min(Math.max(1, Math.ceil(n / SUMSQ_PER_WORKGROUP)), SUMSQ_MAX_PARTIALS);
}

/** Dispatches `grad_sumsq` records for a block of n elements: 1 when n <= SUMSQ_PER_WORKGROUP (16384), else 2. */
export function gradSumsqDispatches(n: number): number {
  return sumsqWorkgroups(n) > 1 ? 2 : 1;
}

/** One scratch buffer of partial sums per engine; blocks reuse it (WebGPU orders dispatches that share it). */
function partials(e: Engine): Tensor {
  return e.scratchTensor('grad_sumsq.partials', [SUMSQ_MAX_PARTIALS]);
}

/** grad_sumsq's reflected workgroup size, which the planning constant must equal. */
function sumsqWorkgroupSize(e: Engine): number {
  const wg = e.workgroupSize('grad_sumsq')[0];
  if (wg !== SUMSQ_WG) throw new Error(`grad_sumsq: kernels/grad_norm.wgsl has workgroups of ${wg}, the planning in src/ops/adamw.ts assumes ${SUMSQ_WG}`);
  return wg;
}

/** `inp` and its vec4 view `inp4` (the first 4 floor(n / 4) elements) for the grad_norm kernels. */
function sumArgs(e: Engine, inp: Tensor, out: Tensor): Record<string, Tensor> {
  const n4 = Math.floor(inp.size / 4);
  // With no whole vec4 the kernel never reads inp4, but a vec4 array needs a binding of 16 bytes or more.
  const inp4 = n4 > 0 ? new Tensor(inp.buffer, [4 * n4], 'f32', inp.byteOffset, `${inp.label}.vec4`) : e.unused;
  return { inp, inp4, out };
}

/**
 * sumsq[slot] = sum of grads[i]^2 over the whole tensor (any n, including 0).
 *
 * Deterministic: G = sumsqWorkgroups(n) workgroups of 256 stride over grads as vec4s with grid stride 256 G,
 * each invocation keeping a vec4 of running sums (the n % 4 tail goes to workgroup 0), and each workgroup
 * tree-reduces in workgroup memory. G = 1 (n <= 16384) writes sumsq[slot] directly: 1 dispatch. G > 1 writes G
 * partials to a per-engine scratch buffer that a second one-workgroup dispatch adds in the same tree order:
 * 2 dispatches. The order depends on n only. Cost: one read of grads.
 */
export function grad_sumsq(e: Engine, grads: Tensor, sumsq: Tensor, slot: number): void {
  expectDType('grad_sumsq', 'grads', grads, 'f32');
  expectDType('grad_sumsq', 'sumsq', sumsq, 'f32');
  if (!Number.isInteger(slot) || slot < 0 || slot >= sumsq.size) {
    throw new ShapeError(`grad_sumsq: slot ${slot} is outside sumsq ${fmtShape(sumsq.shape)}`);
  }
  const n = grads.size;
  const G = sumsqWorkgroups(n);
  const wg = sumsqWorkgroupSize(e);
  if (G === 1) {
    e.dispatch('grad_sumsq', sumArgs(e, grads, sumsq), { n, stride: wg, out_offset: slot }, [1]);
    return;
  }
  const scratch = partials(e);
  e.dispatch('grad_sumsq', sumArgs(e, grads, scratch), { n, stride: G * wg, out_offset: 0 }, [G]);
  const parts = new Tensor(scratch.buffer, [G], 'f32', 0, 'grad_sumsq.partials');
  e.dispatch('grad_sum', sumArgs(e, parts, sumsq), { n: G, stride: e.workgroupSize('grad_sum')[0], out_offset: slot }, [1]);
}

/**
 * clip = [scale, norm, 0, 0] with norm = sqrt(sumsq[0] + ... + sumsq[nSlots - 1]) / S (added in slot order) and
 * scale = (maxNorm > 0 ? min(1, maxNorm / (norm + 1e-6)) : 1) / S, as torch.nn.utils.clip_grad_norm_ on the
 * unscaled gradients; a non-finite sum gives [0, sum, 1, 0] (overflow: adamw_update then skips). S is the loss
 * scale, `invLossScale` = 1 / S (1: none). One dispatch of one invocation.
 */
export function grad_clip_scale(e: Engine, sumsq: Tensor, nSlots: number, maxNorm: number, clip: Tensor, invLossScale = 1): void {
  expectDType('grad_clip_scale', 'sumsq', sumsq, 'f32');
  expectDType('grad_clip_scale', 'clip', clip, 'f32');
  if (!Number.isInteger(nSlots) || nSlots < 0 || nSlots > sumsq.size) {
    throw new ShapeError(`grad_clip_scale: nSlots ${nSlots} is outside sumsq ${fmtShape(sumsq.shape)}`);
  }
  if (clip.size !== 4) throw new ShapeError(`grad_clip_scale: clip has shape ${fmtShape(clip.shape)}, expected [4] ([scale, norm, overflow, 0])`);
  if (!Number.isFinite(maxNorm)) throw new RangeError(`grad_clip_scale: maxNorm is ${maxNorm}`);
  if (!(invLossScale > 0 && Number.isFinite(invLossScale))) throw new RangeError(`grad_clip_scale: invLossScale is ${invLossScale}, expected a finite value > 0`);
  e.dispatch('grad_clip_scale', { sumsq, clip }, { n_slots: nSlots, max_norm: maxNorm, inv_loss_scale: invLossScale }, [1]);
}

/**
 * One AdamW step of one block, in place on params, m and v (grads are only read; zero them afterwards), or
 * nothing when clip[2] != 0 (the step's gradients overflowed):
 *   g = grads * clip[0]; p *= 1 - lr wd (i < decayCount, old p, first); m = lerp(m, g, 1 - b1);
 *   v = b2 v + (1 - b2) g^2; p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
 * with [lr, bc1, bc2] = stepScalars[4 blockIndex + 0..2] (see `writeStepScalars`). Requires n % 4 == 0 (vec4
 * loads; the trainer pads blocks to multiples of 64). One dispatch of ceil(n / 4096) workgroups (each invocation
 * 4 vec4s); an empty block dispatches nothing. Cost: reads 4n floats, writes 3n.
 */
export function adamw_update(e: Engine, block: OptimBlock, stepScalars: Tensor, blockIndex: number, clip: Tensor, hp: AdamWHyper): void {
  const n = block.params.size;
  for (const name of ['params', 'grads', 'm', 'v'] as const) {
    const t = block[name];
    expectDType('adamw_update', name, t, 'f32');
    if (t.size !== n) {
      throw new ShapeError(`adamw_update: block ${name} has shape ${fmtShape(t.shape)} but params has ${fmtShape(block.params.shape)}`);
    }
  }
  if (n % 4 !== 0) throw new ShapeError(`adamw_update: block has ${n} elements, not a multiple of 4 (the kernel loads vec4s; pad the block)`);
  const { decayCount } = block;
  if (!Number.isInteger(decayCount) || decayCount < 0 || decayCount > n) {
    throw new ShapeError(`adamw_update: decayCount ${decayCount} is outside [0, ${n}]`);
  }
  expectDType('adamw_update', 'stepScalars', stepScalars, 'f32');
  if (stepScalars.size % 4 !== 0 || !Number.isInteger(blockIndex) || blockIndex < 0 || blockIndex >= stepScalars.size / 4) {
    throw new ShapeError(`adamw_update: blockIndex ${blockIndex} is outside stepScalars ${fmtShape(stepScalars.shape)} (4 floats per block)`);
  }
  expectDType('adamw_update', 'clip', clip, 'f32');
  if (clip.size !== 4) throw new ShapeError(`adamw_update: clip has shape ${fmtShape(clip.shape)}, expected [4] ([scale, norm, overflow, 0])`);
  if (n === 0) return;
  // Under f16 precision, where the block's weights have f16 copies, the update writes those too (./half-weights.ts).
  const mirror = e.kernels.has('adamw_update_dual_f16') ? halfMirrorOf(e, block.params) : null;
  const kernel = mirror ? 'adamw_update_dual_f16' : 'adamw_update';
  const versionBefore = mirror ? e.writes.version(block.params.buffer) : 0;
  const workgroups = Math.ceil(n / 4 / (e.workgroupSize(kernel)[0] * ADAMW_ITEMS));
  const wgX = Math.min(workgroups, MAX_WG_PER_DIM);
  e.dispatch(
    kernel,
    { p: block.params, grads: block.grads, m: block.m, v: block.v, step_scalars: stepScalars, clip, ...(mirror ? { p_operand: mirror } : {}) },
    {
      n4: n / 4,
      decay_count: decayCount,
      block: blockIndex,
      wg_x: wgX,
      one_minus_beta1: 1 - hp.beta1,
      beta2: hp.beta2,
      one_minus_beta2: 1 - hp.beta2,
      eps: hp.eps,
      weight_decay: hp.weightDecay,
    },
    [wgX, Math.ceil(workgroups / wgX)],
  );
  if (mirror) updatedWithMirror(e, block.params, versionBefore);
}

/**
 * Fills stepScalars (nBlocks * 4) with [lr, 1 - beta1^t, 1 - beta2^t, 0] per block (t = entries[b].step, the
 * block's own step count, formed in float64) and uploads it in one write. A block at t = 0 gets zero bias
 * corrections: it must not be dispatched with them.
 */
export function writeStepScalars(e: Engine, stepScalars: Tensor, entries: readonly StepEntry[], beta1: number, beta2: number): void {
  expectDType('writeStepScalars', 'stepScalars', stepScalars, 'f32');
  if (stepScalars.size !== entries.length * 4) {
    throw new ShapeError(`writeStepScalars: stepScalars has shape ${fmtShape(stepScalars.shape)}, expected [${entries.length * 4}] for ${entries.length} blocks`);
  }
  const data = new Float32Array(entries.length * 4);
  entries.forEach(({ lr, step }, b) => {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`writeStepScalars: block ${b} has step ${step}, expected an integer >= 0`);
    data[4 * b] = lr;
    data[4 * b + 1] = 1 - beta1 ** step;
    data[4 * b + 2] = 1 - beta2 ** step;
  });
  e.write(stepScalars, data);
}
