/**
 * The one entry point the trainer calls each step: `keepProbabilities(cfg, step, state)` returns the keep
 * probability p_l and the residual-branch scale of every layer for all four policies, as a pure function
 * of (step, state). `drawPlan` then draws which layers run in one micro-batch, reproducibly from
 * (seed, step, micro-batch, layer); `planBitString` formats a plan for logs.
 *
 * Scale is the multiplier on both residual branches of a kept layer (h = h + scale·Attn(LN1(h)); h = h +
 * scale·MLP(LN2(h))): 1 for rescale 'none', 1/p_l for 'inverse_keep', and PLD's reference 1/(1 - (i+1)Δ)
 * for pld with 'inverse_keep'. Evaluation ignores all of this and runs every layer unscaled.
 */

import { hashUniform } from '../util/rng.js';
import { allocateKeep } from './allocate.js';
import type { ResolvedDropConfig } from './config.js';
import { pldLayerLists, pldThetaAt, sbldRho, shapeFromConfig } from './schedule.js';
import type { SbldView } from './sbld.js';

/** Per-step output of a policy. */
export interface KeepPlan {
  /** p_l: probability that layer l runs in a micro-batch. */
  keep: number[];
  /** Multiplier on both residual branches of layer l when it runs. */
  scale: number[];
  /** mean_l p_l: expected fraction of layers run (1 - expected drop fraction). */
  expectedKeptFraction: number;
  /** Why the plan is what it is, when noteworthy (warm-up, awaiting measurement, cap reached). */
  note?: string;
  /** SBLD: the allocator could not drop D layers under the caps (`note` says how many it dropped). */
  capped?: boolean;
}

const ones = (n: number): number[] => new Array<number>(n).fill(1);

/** 1/p for inverse_keep (1 where p = 0: such a layer never runs, so its scale is never used). */
const inverseKeep = (keep: readonly number[]): number[] => keep.map((p) => (p > 0 ? 1 / p : 1));

function plan(keep: number[], scale: number[], note?: string): KeepPlan {
  const out: KeepPlan = { keep, scale, expectedKeptFraction: keep.reduce((a, b) => a + b, 0) / keep.length };
  if (note !== undefined) out.note = note;
  return out;
}

/**
 * Keep probabilities and scales of every layer at optimizer step `step`.
 * - none: p = 1.
 * - layerdrop: p = 1 - r.
 * - pld: θ = θ(t) (or, with pldCurve 'pwegd', the θ at which PLD drops ρ(t)); p_i = 1 - i·Δ, Δ = (1-θ)/L.
 * - sbld: p = 1 before T_pre and until the first measurement; then D = L·ρ_peak·ĝ(t) dropped layers
 *   spread by `allocateKeep` over the measured sensitivities and lists in `state` (required for sbld).
 * Cost O(L) (sbld: O(L²) worst case for water-filling); reads `state`, never modifies it.
 */
export function keepProbabilities(cfg: ResolvedDropConfig, step: number, state: SbldView | null): KeepPlan {
  const L = cfg.nLayer;
  switch (cfg.policy) {
    case 'none':
      return plan(ones(L), ones(L));
    case 'layerdrop': {
      const keep = new Array<number>(L).fill(1 - cfg.rate);
      return plan(keep, cfg.rescale === 'inverse_keep' ? inverseKeep(keep) : ones(L));
    }
    case 'pld': {
      const theta = pldThetaAt(cfg, step);
      const { keep, scale } = pldLayerLists(theta, L);
      return plan(keep, cfg.rescale === 'inverse_keep' ? scale : ones(L));
    }
    case 'sbld': {
      if (state === null) throw new Error('keepProbabilities: policy sbld needs its SbldState');
      if (step < cfg.warmupSteps) return plan(ones(L), ones(L), `SBLD warm-up (t < T_pre = ${cfg.warmupSteps})`);
      const s = state.sensitivities;
      if (s === null) return plan(ones(L), ones(L), 'SBLD: no sensitivities measured yet, running every layer');
      if (s.length !== L) throw new Error(`keepProbabilities: state has ${s.length} sensitivities, model has ${L} layers`);
      const rho = sbldRho(step, cfg.rhoPeak, shapeFromConfig(cfg, cfg.curve));
      const a = allocateKeep(L * rho, {
        sensitivities: s,
        block: state.block,
        allow: state.allow,
        alpha: cfg.alpha,
        kappa: cfg.kappa,
        qMax: cfg.qMax,
        alloc: cfg.alloc,
      });
      const p = plan(a.keep, cfg.rescale === 'inverse_keep' ? inverseKeep(a.keep) : ones(L), a.note);
      if (a.capped) p.capped = true;
      return p;
    }
  }
}

/**
 * Which layers run in one micro-batch: run[l] = hashUniform(seed, step, microBatch, l) < keep[l]
 * (true = run). A pure function of its arguments, so any (seed, step, micro-batch, layer) decision can be
 * replayed; p = 1 always runs and p = 0 never does.
 */
export function drawPlan(keep: readonly number[], seed: number, step: number, microBatch: number): boolean[] {
  return keep.map((p, l) => hashUniform(seed, step, microBatch, l) < p);
}

/** '1' for a layer that ran, '0' for a skipped one, layer 0 first (e.g. '110111011111'). */
export function planBitString(plan: readonly boolean[]): string {
  return plan.map((run) => (run ? '1' : '0')).join('');
}
