/**
 * SBLD's `skip_loss` sensitivity, for any task: s_l = mean over M fixed probe batches of loss(layer l skipped) -
 * loss(full), forward only, every other layer running unscaled, with its noise: the standard error of the M
 * paired per-batch differences (sample s.d. / √M; NaN for M = 1), which SBLD's no-signal guard reads
 * (src/drop/sbld.ts, `measurementSignal`). The task supplies the per-batch losses of the leave-one-out plans
 * (its evaluation); the cost is (L + 1) * M forward passes.
 */
import { leaveOneOutPlans } from '../model/trunk.js';
import type { LayerPlan } from '../model/plan.js';

export interface SkipLossResult {
  values: number[];
  /** Per layer: standard error of the per-batch differences. */
  stderr: number[];
  /** [layer][batch]: loss(layer skipped) - loss(full) on each probe batch. */
  perBatch: number[][];
  fullLoss: number;
  ms: number;
}

/** Losses of every probe batch under each plan ([plan][batch]); `undefined` is every layer, unscaled. */
export type PerBatchLosses = (plans: readonly (LayerPlan | undefined)[]) => Promise<number[][]>;

/** Means and standard errors of per-batch differences ([layer][batch]). */
export function skipLossStats(perBatch: readonly (readonly number[])[]): { values: number[]; stderr: number[] } {
  const values = perBatch.map(mean);
  const stderr = perBatch.map((d, l) => {
    if (d.length < 2) return NaN;
    const m = values[l]!;
    return Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / (d.length - 1) / d.length);
  });
  return { values, stderr };
}

/** skip_loss of each of `nLayer` layers from the task's per-batch losses of the leave-one-out plans. */
export async function measureSkipLossWith(nLayer: number, lossesOf: PerBatchLosses): Promise<SkipLossResult> {
  const t0 = performance.now();
  const losses = await lossesOf(leaveOneOutPlans(nLayer));
  const full = losses[0]!;
  const perBatch = losses.slice(1).map((xs) => xs.map((x, j) => x - full[j]!));
  const { stderr } = skipLossStats(perBatch);
  // The values: mean of the skipped losses minus mean of the full ones.
  const fullLoss = mean(full);
  return { values: losses.slice(1).map((xs) => mean(xs) - fullLoss), stderr, perBatch, fullLoss, ms: performance.now() - t0 };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
