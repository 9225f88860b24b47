/**
 * AdamW over parameter blocks, with global-norm gradient clipping, and nothing dispatched for a block that got
 * no gradient this step (a skipped layer): its values, moments and step count stay exactly as they were, as
 * PyTorch treats a parameter whose grad is None.
 *
 * Per step: one grad_sumsq dispatch per active block, one grad_clip_scale, one adamw_update per active block;
 * one small host write of the per-block (lr, bias corrections).
 *
 * The gradients are of the loss times the loss scale S (src/train/loss-scale.ts; 1 in f32), which the clip
 * scale takes back out. A step whose gradients are not finite is skipped on the GPU (adamw_update sees the
 * flag grad_clip_scale leaves in clip[2]); `settle`, called once the trainer has read clip, undoes the step
 * counts the skipped update would have advanced and moves S.
 */
import type { ParamBlock } from '../model/params.js';
import { adamw_update, grad_clip_scale, grad_sumsq, writeStepScalars } from '../ops/adamw.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { LossScaler, NO_LOSS_SCALE, type LossScaleConfig } from './loss-scale.js';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  gradClip: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1.0 };

export class AdamW {
  /** (nBlocks) squared gradient norm per block, zeroed each step. */
  readonly sumsq: Tensor;
  /** (4) [clip scale, global norm, overflow flag, 0]. */
  readonly clip: Tensor;
  readonly lossScaler: LossScaler;
  /** (nBlocks * 4) per-block lr and bias corrections for this step. */
  readonly stepScalars: Tensor;

  constructor(
    private readonly e: Engine,
    readonly blocks: ParamBlock[],
    readonly config: AdamWConfig,
    lossScale: LossScaleConfig = NO_LOSS_SCALE,
  ) {
    this.lossScaler = new LossScaler(lossScale);
    this.sumsq = e.persistent([blocks.length], 'f32', 'adamw.sumsq');
    this.clip = e.persistent([4], 'f32', 'adamw.clip');
    this.stepScalars = e.persistent([blocks.length * 4], 'f32', 'adamw.step_scalars');
  }

  /** Zeroes the gradients of the blocks that will receive gradients this step. */
  zeroGrad(active: readonly boolean[]): void {
    this.blocks.forEach((b, i) => {
      if (active[i]) this.e.zero(b.grads);
    });
  }

  /** Clips and applies one AdamW update to every active block. */
  step(active: readonly boolean[], lr: number): void {
    const { e, config } = this;
    e.inLayer(null, () => {
      writeStepScalars(
        e,
        this.stepScalars,
        this.blocks.map((b, i) => ({ lr, step: active[i] ? b.stepCount + 1 : Math.max(1, b.stepCount) })),
        config.beta1,
        config.beta2,
      );
      e.zero(this.sumsq);
    }, 'optimizer');
    this.blocks.forEach((b, i) => {
      if (!active[i]) return;
      e.inLayer(i < this.blocks.length - 1 ? i : null, () => grad_sumsq(e, b.grads, this.sumsq, i), 'optimizer');
    });
    e.inLayer(null, () => grad_clip_scale(e, this.sumsq, this.blocks.length, config.gradClip, this.clip, 1 / this.lossScaler.scale), 'optimizer');
    this.blocks.forEach((b, i) => {
      if (!active[i]) return; // skipped layer: no moment update, no weight decay, step count unchanged
      e.inLayer(
        i < this.blocks.length - 1 ? i : null,
        () => adamw_update(e, b, this.stepScalars, i, this.clip, config),
        'optimizer',
      );
      b.stepCount++;
    });
  }

  /**
   * After a step, with its clip read back: whether its gradients overflowed (clip[2] != 0: the GPU skipped the
   * update), so the blocks' step counts go back to what they were, and the loss scale moves.
   */
  settle(clip: ArrayLike<number>, active: readonly boolean[]): boolean {
    const overflow = clip[2] !== 0;
    if (overflow) this.blocks.forEach((b, i) => active[i] && b.stepCount--);
    this.lossScaler.update(overflow);
    return overflow;
  }
}
