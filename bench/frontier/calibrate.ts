/**
 * The measured inputs of the frontier's compute matching (plan.ts): the layers' share of a full step's time and
 * one SBLD skip_loss measurement's time in full steps, measured on this machine with this model before the
 * study trains anything.
 *
 * Method: a throwaway session of the base config (SBLD, so a measurement can be timed) runs `warmup` untimed
 * full steps, then `rounds` rounds of one full step and one step with k = floor(L/2) evenly spread layers
 * skipped, interleaved so the machine's load falls on both alike; each is timed as the trainer times a step
 * (record, submit, loss readback). With medians m_full and m_k: f = (1 - m_k / m_full) · L / k. Then one
 * skip_loss measurement is timed: m = its ms / m_full. Costs about 2 + 2·rounds steps and one measurement.
 */
import type { TrainConfig } from '../../src/train/config.js';
import { TrainingSession } from '../../src/train/session.js';
import { isVitConfig } from '../../src/vit/config.js';
import { VitSession } from '../../src/vit/session.js';
import type { LayerPlan } from '../../src/model/gpt.js';
import { evenSkips } from '../util.js';

export interface Calibration {
  /** f: the layers' share of a full step's time. */
  layer_share: number;
  /** m: one skip_loss measurement in full-step times. */
  measure_steps: number;
  full_step_ms: number;
  partial_step_ms: number;
  skipped_layers: number[];
  measure_ms: number;
  rounds: number;
  /** 'measured' here, 'given' by --layer-share, or 'reused' from an earlier frontier in the same folder. */
  source: 'measured' | 'given' | 'reused';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function calibrate(base: TrainConfig, rounds: number, warmup = 2): Promise<Calibration> {
  const cfg = { ...base, drop: { ...base.drop, policy: 'sbld' as const, sensitivity: 'skip_loss' as const } };
  const session = isVitConfig(cfg) ? await VitSession.open(cfg) : await TrainingSession.open(cfg);
  try {
    const L = cfg.n_layer;
    const k = Math.max(1, Math.floor(L / 2));
    const skipped = evenSkips(L, k);
    const plan = (skip: readonly number[]): LayerPlan => ({ run: Array.from({ length: L }, (_, l) => !skip.includes(l)), scale: Array(L).fill(1) });
    const plans = (skip: readonly number[]) => Array.from({ length: cfg.gradAccum }, () => plan(skip));
    const timed = async (skip: readonly number[], step: number) => {
      const t0 = performance.now();
      await session.step(step, plans(skip)).readLoss();
      return performance.now() - t0;
    };
    let step = 0;
    for (let i = 0; i < warmup; i++) {
      await timed([], step++);
      await timed(skipped, step++);
    }
    const full: number[] = [];
    const part: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        full.push(await timed([], step++));
        part.push(await timed(skipped, step++));
      } else {
        part.push(await timed(skipped, step++));
        full.push(await timed([], step++));
      }
    }
    const mFull = median(full);
    const mPart = median(part);
    const share = Math.min(1, Math.max(0, ((1 - mPart / mFull) * L) / skipped.length));
    const t0 = performance.now();
    await session.measureIfDue(session.drop.warmupSteps);
    const measureMs = performance.now() - t0;
    return {
      layer_share: share,
      measure_steps: measureMs / mFull,
      full_step_ms: mFull,
      partial_step_ms: mPart,
      skipped_layers: skipped,
      measure_ms: measureMs,
      rounds,
      source: 'measured',
    };
  } finally {
    session.e.destroy();
  }
}
