/**
 * One profiled training step, as the profiler (src/cli/profile.ts) and the step benchmark (bench/step.ts) both
 * take it: every dispatch of the step timed (`e.beginTiming` / `e.endTiming`), the loss read back, and which
 * layers ran.
 */
import { activeBlocks } from '../train/step.js';
import type { LayerPlan } from '../model/trunk.js';
import type { Engine, TimingMode } from '../runtime/engine.js';
import type { StepProfile } from './report.js';

/** What a profiled step needs from a training session. */
export interface ProfiledSession {
  readonly e: Engine;
  readonly cfg: { readonly n_layer: number };
  step(step: number, plans: readonly LayerPlan[]): { readLoss: () => Promise<number> };
}

export async function profileStep(session: ProfiledSession, step: number, plans: readonly LayerPlan[], mode: TimingMode): Promise<StepProfile> {
  const { e, cfg } = session;
  e.beginTiming(mode);
  const { readLoss } = session.step(step, plans);
  const records = await e.endTiming();
  await readLoss();
  return { step, records, layersRun: activeBlocks(plans, cfg.n_layer).slice(0, cfg.n_layer) };
}
