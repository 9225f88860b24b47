/**
 * SBLD's `skip_loss` sensitivity: s_l = mean over M fixed probe batches of loss(layer l skipped) - loss(full),
 * forward only, every other layer running unscaled, with its noise: the standard error of the M paired
 * per-batch differences (sample s.d. / √M; NaN for M = 1), which SBLD's no-signal guard reads
 * (src/drop/sbld.ts, `measurementSignal`). Cost: (L + 1) * M forward passes, one readback.
 */
import type { Batch } from '../data/loader.js';
import type { GPT } from '../model/gpt.js';
import { leaveOneOutPlans } from '../model/trunk.js';
import type { Engine } from '../runtime/engine.js';
import { evaluateManyPerBatch } from './step.js';

export interface SkipLossResult {
  values: number[];
  /** Per layer: standard error of the per-batch differences. */
  stderr: number[];
  /** [layer][batch]: loss(layer skipped) - loss(full) on each probe batch. */
  perBatch: number[][];
  fullLoss: number;
  ms: number;
}

/** Means and standard errors of per-batch differences ([layer][batch]). */
export function skipLossStats(perBatch: readonly (readonly number[])[]): { values: number[]; stderr: number[] } {
  const values = perBatch.map((d) => d.reduce((a, b) => a + b, 0) / d.length);
  const stderr = perBatch.map((d, l) => {
    if (d.length < 2) return NaN;
    const m = values[l]!;
    return Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / (d.length - 1) / d.length);
  });
  return { values, stderr };
}

export async function measureSkipLoss(e: Engine, model: GPT, probes: readonly Batch[], B: number, T: number): Promise<SkipLossResult> {
  const t0 = performance.now();
  const losses = await evaluateManyPerBatch(e, model, probes, B, T, leaveOneOutPlans(model.config.n_layer));
  const full = losses[0]!;
  const perBatch = losses.slice(1).map((xs) => xs.map((x, j) => x - full[j]!));
  const { stderr } = skipLossStats(perBatch);
  // The values as before: mean of the skipped losses minus mean of the full ones.
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const fullLoss = mean(full);
  return { values: losses.slice(1).map((xs) => mean(xs) - fullLoss), stderr, perBatch, fullLoss, ms: performance.now() - t0 };
}
