/**
 * SBLD's `skip_loss` sensitivity: s_l = mean over M fixed probe batches of loss(layer l skipped) - loss(full),
 * forward only, every other layer running unscaled. Cost: (L + 1) * M forward passes, one readback.
 */
import type { Batch } from '../data/loader.js';
import { fullPlan, type GPT, type LayerPlan } from '../model/gpt.js';
import type { Engine } from '../runtime/engine.js';
import { evaluateMany } from './step.js';

export interface SkipLossResult {
  values: number[];
  fullLoss: number;
  ms: number;
}

export async function measureSkipLoss(e: Engine, model: GPT, probes: readonly Batch[], B: number, T: number): Promise<SkipLossResult> {
  const t0 = performance.now();
  const L = model.config.n_layer;
  const plans: LayerPlan[] = [fullPlan(L)];
  for (let l = 0; l < L; l++) {
    const p = fullPlan(L);
    plans.push({ run: p.run.map((_, i) => i !== l), scale: p.scale });
  }
  const losses = await evaluateMany(e, model, probes, B, T, plans);
  const fullLoss = losses[0]!;
  return { values: losses.slice(1).map((x) => x - fullLoss), fullLoss, ms: performance.now() - t0 };
}
