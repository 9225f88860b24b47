/**
 * SBLD's `skip_loss` sensitivity: s_l = mean over M fixed probe batches of loss(layer l skipped) - loss(full),
 * forward only, every other layer running unscaled. Cost: (L + 1) * M forward passes, one readback.
 */
import type { Batch } from '../data/loader.js';
import type { GPT } from '../model/gpt.js';
import { leaveOneOutPlans } from '../model/trunk.js';
import type { Engine } from '../runtime/engine.js';
import { evaluateMany } from './step.js';

export interface SkipLossResult {
  values: number[];
  fullLoss: number;
  ms: number;
}

export async function measureSkipLoss(e: Engine, model: GPT, probes: readonly Batch[], B: number, T: number): Promise<SkipLossResult> {
  const t0 = performance.now();
  const losses = await evaluateMany(e, model, probes, B, T, leaveOneOutPlans(model.config.n_layer));
  const fullLoss = losses[0]!;
  return { values: losses.slice(1).map((x) => x - fullLoss), fullLoss, ms: performance.now() - t0 };
}
