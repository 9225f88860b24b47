/**
 * The layer-dropping part of a training session, the same for GPT (src/train/session.ts) and the ViT
 * (src/vit/session.ts): take SBLD's measurement when it is due, draw each micro-batch's layer plan, and feed SBLD
 * the online (taylor) sensitivities a step gathered. The sessions pass themselves as `DropState`.
 */
import type { ResolvedDropConfig } from '../drop/config.js';
import { drawPlan, keepProbabilities, type KeepPlan } from '../drop/policy.js';
import type { SbldMeasurement, SbldState } from '../drop/sbld.js';
import type { LayerPlan } from '../model/gpt.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';

/** What a session holds for layer dropping. */
export interface DropState {
  readonly e: Engine;
  readonly cfg: { readonly seed: number; readonly gradAccum: number };
  readonly drop: ResolvedDropConfig;
  readonly sbld: SbldState | null;
  /** (L) per-layer online sensitivity of the last step, when SBLD uses `taylor`. */
  readonly taylor: Tensor | null;
}

/**
 * SBLD's measurement at `step` if it wants one (its time counts in the run's wall clock): `taylor` takes the
 * online estimate gathered by earlier steps; `skip_loss` runs `skipLoss` (the probe forwards).
 */
export async function measureSensitivitiesIfDue(s: DropState, step: number, skipLoss: () => Promise<{ values: number[]; ms: number; stderr?: number[] }>): Promise<SbldMeasurement | null> {
  if (!s.sbld?.needsMeasurement(step)) return null;
  if (s.taylor) return s.sbld.applyMeasurement(step, s.sbld.taylorSnapshot(), 0);
  const m = await skipLoss();
  return s.sbld.applyMeasurement(step, m.values, m.ms, m.stderr);
}

/** Keep probabilities at `step` and the drawn plan of each micro-batch. */
export function planLayers(s: DropState, step: number): { keep: KeepPlan; plans: LayerPlan[] } {
  const keep = keepProbabilities(s.drop, step, s.sbld);
  const plans: LayerPlan[] = [];
  const scope = s.drop.scope;
  for (let mb = 0; mb < s.cfg.gradAccum; mb++) plans.push({ run: drawPlan(keep.keep, s.cfg.seed, step, mb), scale: keep.scale, scope });
  return { keep, plans };
}

/**
 * The step's loss reader; in taylor mode reading the loss also reads the layers' online sensitivities and feeds
 * those of the layers that ran (in some micro-batch) to SBLD.
 */
export function readLossFeedingSbld(s: DropState, plans: readonly LayerPlan[], readLoss: () => Promise<number>): () => Promise<number> {
  const { e, taylor, sbld } = s;
  if (!taylor || !sbld) return readLoss;
  return async () => {
    const loss = await readLoss();
    const values = await e.readFloat(taylor);
    plans[0]!.run.forEach((_, l) => {
      if (plans.some((p) => p.run[l])) sbld.updateTaylor(l, values[l]!);
    });
    return loss;
  };
}
