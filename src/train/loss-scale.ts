/**
 * Dynamic loss scaling for f16 mixed precision, as torch.cuda.amp.GradScaler does it: the backward is seeded
 * with S times the loss so that small gradients survive the f16 copies the matmuls read (f16's smallest normal
 * is 6.1e-5), and the optimizer takes S back out (grad_clip_scale's 1/S). When the step's gradients come out
 * non-finite (an f16 copy overflowed, or anything else went to inf or NaN), the GPU skips the update
 * (adamw_update checks the flag) and the trainer, reading the flag with the step's loss, halves S. After
 * `growthInterval` steps in a row without overflow, S doubles.
 *
 * Without loss scaling (f32) S stays 1 and never changes, but the check stands: a step whose gradients are not
 * finite is skipped and reported, in either precision, instead of writing NaN into every weight.
 */

export interface LossScaleConfig {
  /** S to start with (PyTorch: 2^16). */
  init: number;
  /** Steps without overflow before S doubles (PyTorch: 2000). */
  growthInterval: number;
  /** Whether S moves at all (false: fixed at `init`, overflows are still skipped). */
  dynamic: boolean;
}

/** f16: PyTorch's defaults. */
export const DYNAMIC_LOSS_SCALE: LossScaleConfig = { init: 2 ** 16, growthInterval: 2000, dynamic: true };
/** f32: no scaling. */
export const NO_LOSS_SCALE: LossScaleConfig = { init: 1, growthInterval: Infinity, dynamic: false };

/** S stays within f32's exact powers of two, so 1/S is exact too. */
const MIN_SCALE = 2 ** -24;
const MAX_SCALE = 2 ** 24;

export class LossScaler {
  private s: number;
  private goodSteps = 0;
  /** Steps skipped for non-finite gradients, over the scaler's life. */
  overflows = 0;
  /** Whether the last step `update` heard of was skipped. */
  lastOverflow = false;

  constructor(readonly config: LossScaleConfig) {
    if (!(config.init >= MIN_SCALE && config.init <= MAX_SCALE)) throw new RangeError(`loss scale ${config.init} is outside [2^-24, 2^24]`);
    this.s = config.init;
  }

  /** The current S: seed the backward with S times the loss's seed. */
  get scale(): number {
    return this.s;
  }

  /** After a step: `overflow` says whether its update was skipped. Returns S for the next step. */
  update(overflow: boolean): number {
    this.lastOverflow = overflow;
    if (overflow) {
      this.overflows++;
      this.goodSteps = 0;
      if (this.config.dynamic) this.s = Math.max(MIN_SCALE, this.s / 2);
    } else if (this.config.dynamic && ++this.goodSteps >= this.config.growthInterval) {
      this.goodSteps = 0;
      this.s = Math.min(MAX_SCALE, this.s * 2);
    }
    return this.s;
  }

  /** What a checkpoint keeps, so a resumed run scales as the uninterrupted one would. */
  get state(): { scale: number; goodSteps: number; overflows: number } {
    return { scale: this.s, goodSteps: this.goodSteps, overflows: this.overflows };
  }

  setState(state: { scale: number; goodSteps: number; overflows: number }): void {
    this.s = state.scale;
    this.goodSteps = state.goodSteps;
    this.overflows = state.overflows;
  }
}
