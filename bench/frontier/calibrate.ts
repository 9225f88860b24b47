/**
 * The measured inputs of the frontier's compute matching (plan.ts): the layers' share of a full step's time and
 * one SBLD skip_loss measurement's time in full steps, measured on this machine with this model before the
 * study trains anything.
 *
 * Method: a throwaway session of the base config (SBLD, so a measurement can be timed) runs `warmup` untimed
 full steps, then `rounds` rounds of one full step, one step with k = floor(L/2) evenly spread layers skipped
 * and one with the same layers backward-skipped (drop scope 'backward'), interleaved so the machine's load
 * falls on all alike; each is timed as the trainer times a step (record, submit, loss readback). With medians
 * m_full, m_k and m_bk: f = (1 - m_k / m_full) · L / k, and the share of a layer's work a backward-only skip
 * removes, s_b = (m_full - m_bk) / (m_full - m_k). Then one skip_loss measurement is timed: m = its ms /
 * m_full. Costs about 3·(2 + rounds) steps and one measurement.
 */
import type { TrainConfig } from '../../src/train/config.js';
import { TrainingSession } from '../../src/tasks/gpt/session.js';
import { isVitConfig } from '../../src/tasks/vit/config.js';
import { VitSession } from '../../src/tasks/vit/session.js';
import type { LayerPlan } from '../../src/tasks/gpt/model.js';
import { evenSkips } from '../util.js';

export interface Calibration {
  /** f: the layers' share of a full step's time. */
  layer_share: number;
  /** s_b: the share of a layer's work (as its whole skip saves it) that a backward-only skip saves. */
  backward_saving: number;
  backward_step_ms: number;
  /**
   * The same two shares in FLOPs (deterministic: counted per dispatch), beside the timed ones: the layers' share
   * of a full step's FLOPs and the share of a layer's FLOPs a backward-only skip removes.
   */
  layer_share_flops: number;
  backward_saving_flops: number;
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
    const plan = (skip: readonly number[], scope: 'layer' | 'backward'): LayerPlan => ({ run: Array.from({ length: L }, (_, l) => !skip.includes(l)), scale: Array(L).fill(1), scope });
    const variants = [plan([], 'layer'), plan(skipped, 'layer'), plan(skipped, 'backward')];
    const flops: number[] = [0, 0, 0];
    const timed = async (p: LayerPlan, step: number) => {
      const t0 = performance.now();
      const f0 = session.e.counters.flops;
      await session.step(step, Array.from({ length: cfg.gradAccum }, () => p)).readLoss();
      flops[variants.indexOf(p)] = session.e.counters.flops - f0;
      return performance.now() - t0;
    };
    let step = 0;
    for (let i = 0; i < warmup; i++) for (const p of variants) await timed(p, step++);
    const ms: number[][] = variants.map(() => []);
    for (let r = 0; r < rounds; r++) {
      // Rotate the order every round (ABC, BCA, CAB).
      for (let j = 0; j < variants.length; j++) {
        const v = (j + r) % variants.length;
        ms[v]!.push(await timed(variants[v]!, step++));
      }
    }
    const [mFull, mPart, mBwd] = ms.map(median) as [number, number, number];
    const share = Math.min(1, Math.max(0, ((1 - mPart / mFull) * L) / skipped.length));
    const backwardSaving = mFull > mPart ? Math.min(1, Math.max(0, (mFull - mBwd) / (mFull - mPart))) : 0;
    const [fFull, fPart, fBwd] = flops as [number, number, number];
    const t0 = performance.now();
    await session.measureIfDue(session.drop.warmupSteps);
    const measureMs = performance.now() - t0;
    return {
      layer_share: share,
      backward_saving: backwardSaving,
      backward_step_ms: mBwd,
      layer_share_flops: ((1 - fPart / fFull) * L) / skipped.length,
      backward_saving_flops: (fFull - fBwd) / (fFull - fPart),
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
