/**
 * Plain-loop float64 references for the optimizer: sum of squares, torch.nn.utils.clip_grad_norm_'s scale, and
 * one torch.optim.AdamW step (single-tensor path, PyTorch 2.x) on a flat block whose first decayCount elements
 * are weight-decayed:
 *   param.mul_(1 - lr * weight_decay)                       decay first, with the old p
 *   exp_avg.lerp_(grad, 1 - beta1)
 *   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
 *   step_size = lr / (1 - beta1^t); denom = exp_avg_sq.sqrt() / sqrt(1 - beta2^t) + eps
 *   param.addcdiv_(exp_avg, denom, value=-step_size)
 * with grad already multiplied by the clip scale, as clip_grad_norm_ does in place before the step.
 */

export function sumsqRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

/** [scale, norm] from per-block sums of squares. */
export function clipScaleRef(sumsq: ArrayLike<number>, maxNorm: number): [number, number] {
  let s = 0;
  for (let i = 0; i < sumsq.length; i++) s += sumsq[i]!;
  const norm = Math.sqrt(s);
  return [maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1, norm];
}

export interface AdamWState {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamWStepRef {
  lr: number;
  /** The block's own step count, 1 on its first update. */
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decayCount: number;
  clipScale: number;
}

/** One AdamW step, in place on `s`. */
export function adamwStepRef(s: AdamWState, grads: ArrayLike<number>, o: AdamWStepRef): void {
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  const stepSize = o.lr / bc1;
  for (let i = 0; i < s.p.length; i++) {
    const g = grads[i]! * o.clipScale;
    if (i < o.decayCount) s.p[i] = s.p[i]! * (1 - o.lr * o.weightDecay);
    s.m[i] = s.m[i]! + (1 - o.beta1) * (g - s.m[i]!);
    s.v[i] = o.beta2 * s.v[i]! + (1 - o.beta2) * g * g;
    s.p[i] = s.p[i]! - (stepSize * s.m[i]!) / (Math.sqrt(s.v[i]!) / Math.sqrt(bc2) + o.eps);
  }
}
