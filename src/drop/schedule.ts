/**
 * Time schedules of the layer-dropping policies (pure math, no GPU), per docs/layer-dropping.md:
 * - PLD [ref] (DeepSpeed): global keep θ(t) = (1 - θ̄)·exp(-γ·t) + θ̄, and its per-layer keep / scale lists.
 * - SBLD [ours]: the whole-model drop target ρ(t) = ρ_peak·ĝ(t), where ĝ is the PWEGD shape normalised to a
 *   maximum of 1 and ĝ = 0 before the warm-up ends (t < T_pre).
 * - Expected-compute helpers, and `matchPldRhoPeak`, which solves for the ρ_peak that gives SBLD the same
 *   expected number of skipped layer-steps over the run as PLD.
 *
 * Steps are optimizer steps t = 0..T-1. "Dropped layers" is always an expectation: Σ_l (1 - p_l).
 */

import type { CurveName, ResolvedDropConfig, RhoMatch } from './config.js';

// ---------------------------------------------------------------------------------------------------------
// PLD [ref]

/** PLD's schedule parameters: θ̄ (the floor θ(t) decays to) and γ per optimizer step. */
export interface PldParams {
  thetaBar: number;
  gamma: number;
}

/** DeepSpeed's global keep probability θ(t) = (1 - θ̄)·exp(-γ·t) + θ̄; θ(0) = 1, θ(∞) = θ̄. */
export function pldTheta(t: number, p: PldParams): number {
  return (1 - p.thetaBar) * Math.exp(-p.gamma * t) + p.thetaBar;
}

/**
 * PLD's per-layer lists for a global keep θ, exactly as DeepSpeed's reference: Δ = (1 - θ)/L, layer i is
 * sampled with keep probability 1 - i·Δ (layer 0 always runs) and, when kept, both residual branches are
 * scaled by 1/(1 - (i+1)·Δ). The scale uses i+1 where the keep uses i: an off-by-one in the reference code
 * that we keep on purpose (the results must say so). With θ ≤ 0 the last layer's scale 1/θ is unbounded,
 * so callers must keep θ > 0 (config validation does).
 */
export function pldLayerLists(theta: number, nLayer: number): { delta: number; keep: number[]; scale: number[] } {
  const delta = (1 - theta) / nLayer;
  const keep: number[] = [];
  const scale: number[] = [];
  for (let i = 0; i < nLayer; i++) {
    keep.push(1 - i * delta);
    scale.push(1 / (1 - (i + 1) * delta)); // reference off-by-one: (i+1), not i
  }
  return { delta, keep, scale };
}

/** Expected fraction of layers PLD drops at global keep θ: Σ_i i·Δ / L = (1 - θ)(L - 1)/(2L). */
export function pldExpectedDropFraction(theta: number, nLayer: number): number {
  return ((1 - theta) * (nLayer - 1)) / (2 * nLayer);
}

/**
 * Inverse of `pldExpectedDropFraction`: the θ at which PLD's structure drops fraction ρ of the layers,
 * θ = 1 - 2Lρ/(L - 1). Used by the "PLD with SBLD's curve" ablation. One layer: PLD never drops it, θ = 1.
 */
export function pldThetaForDropFraction(rho: number, nLayer: number): number {
  if (nLayer <= 1) return 1;
  return 1 - (2 * nLayer * rho) / (nLayer - 1);
}

// ---------------------------------------------------------------------------------------------------------
// PWEGD time curve [ours]

/** PWEGD shape parameters: x = λ·t/T, g(x) = x^c · x·exp(-x) · (1 - (1 + x)·exp(-x))^(θe - 1). */
export interface PwegdParams {
  lambda: number;
  c: number;
  thetaE: number;
}

/** 1 - (1 + x)·exp(-x), the exponentiated-gamma CDF term, written to keep precision for small x. */
function gammaCdfTerm(x: number): number {
  if (x < 1e-4) return x * x * (0.5 - x / 3); // Taylor series: x²/2 - x³/3 + O(x⁴)
  return -Math.expm1(-x) - x * Math.exp(-x);
}

/** Unnormalised PWEGD g(x) for x ≥ 0 (g(0) = 0 when c + 2θe > 1, which config validation requires). */
export function pwegdG(x: number, p: PwegdParams): number {
  if (!(x > 0)) return 0;
  const logG = (p.c + 1) * Math.log(x) - x + (p.thetaE - 1) * Math.log(gammaCdfTerm(x));
  return Math.exp(logG);
}

const pwegdMaxCache = new Map<string, { x: number; g: number }>();

/** d(log g)/dx = (c + 1)/x - 1 + (θe - 1)·x·exp(-x) / (1 - (1 + x)·exp(-x)), since d/dx of the last term is x·e^(-x). */
export function pwegdDLogG(x: number, p: PwegdParams): number {
  return (p.c + 1) / x - 1 + ((p.thetaE - 1) * x * Math.exp(-x)) / gammaCdfTerm(x);
}

/**
 * Location and value of max over x > 0 of g (the global maximum of the shape, not only of its part inside
 * [0, λ]). We scan a log grid (robust should log g have several bumps), then solve d(log g)/dx = 0 by
 * bisection between the best grid point's neighbours (a golden-section search on g itself would only reach
 * ~1e-8 in x, as g is flat at its peak). Memoised; the location in x does not depend on λ.
 */
export function pwegdMax(p: PwegdParams): { x: number; g: number } {
  const key = `${p.c}|${p.thetaE}`;
  const hit = pwegdMaxCache.get(key);
  if (hit) return hit;
  // g decays like x^(c+1)·e^(-x): beyond x = 50 + 4(c + θe) it is far below its peak.
  const xHi = 50 + 4 * (p.c + Math.abs(p.thetaE));
  const n = 4000;
  const xLo = 1e-6;
  const ratio = Math.pow(xHi / xLo, 1 / n);
  let bestI = 0;
  let bestG = -Infinity;
  for (let i = 0; i <= n; i++) {
    const g = pwegdG(xLo * Math.pow(ratio, i), p);
    if (g > bestG) {
      bestG = g;
      bestI = i;
    }
  }
  let a = xLo * Math.pow(ratio, Math.max(0, bestI - 1));
  let b = xLo * Math.pow(ratio, Math.min(n, bestI + 1));
  let x = xLo * Math.pow(ratio, bestI);
  if (pwegdDLogG(a, p) > 0 && pwegdDLogG(b, p) < 0) {
    for (let it = 0; it < 200 && b - a > 1e-15 * b; it++) {
      const m = (a + b) / 2;
      if (pwegdDLogG(m, p) > 0) a = m;
      else b = m;
    }
    x = (a + b) / 2;
  }
  const result = { x, g: Math.max(pwegdG(x, p), bestG) };
  pwegdMaxCache.set(key, result);
  return result;
}

/** Normalised PWEGD ĝ(t) = g(λ·t/T) / max g, in [0, 1] (no warm-up cut; see `timeShape`). */
export function pwegdHat(t: number, totalSteps: number, p: PwegdParams): number {
  return pwegdG((p.lambda * t) / totalSteps, p) / pwegdMax(p).g;
}

// ---------------------------------------------------------------------------------------------------------
// Shared time shape: which curve drives the whole-model drop target

/** Everything that fixes the normalised time shape ĝ(t) ∈ [0, 1] of a drop target ρ(t) = ρ_peak·ĝ(t). */
export interface ShapeParams extends PwegdParams {
  curve: CurveName;
  /** T_pre in steps: ĝ(t) = 0 for t < warmupSteps. */
  warmupSteps: number;
  totalSteps: number;
  /** PLD's γ per step, used by curve 'pld'. */
  gamma: number;
}

/**
 * ĝ(t): 0 for t < T_pre; then either the normalised PWEGD ('pwegd') or PLD's normalised drop shape
 * ('pld'): (1 - θ(t))/(1 - θ̄) = 1 - exp(-γ·t), whose supremum is 1 and which does not depend on θ̄.
 */
export function timeShape(t: number, p: ShapeParams): number {
  if (t < p.warmupSteps) return 0;
  if (p.curve === 'pld') return -Math.expm1(-p.gamma * t);
  return pwegdHat(t, p.totalSteps, p);
}

/** ShapeParams from a resolved config; `curve` picks SBLD's curve or the pld ablation's curve. */
export function shapeFromConfig(cfg: ResolvedDropConfig, curve: CurveName): ShapeParams {
  return {
    curve,
    warmupSteps: cfg.warmupSteps,
    totalSteps: cfg.totalSteps,
    gamma: cfg.gamma,
    lambda: cfg.lambda,
    c: cfg.c,
    thetaE: cfg.thetaE,
  };
}

/** SBLD's whole-model drop target ρ(t) = ρ_peak·ĝ(t) (a fraction of the L layers). */
export function sbldRho(t: number, rhoPeak: number, p: ShapeParams): number {
  return rhoPeak * timeShape(t, p);
}

/**
 * Expected fraction of layers SBLD drops at target ρ: min(L·ρ, capacity)/L, where `capacityLayers` =
 * q_max·(number of droppable layers) is the most the per-layer caps allow (see allocate.ts).
 */
export function sbldExpectedDropFraction(rho: number, nLayer: number, capacityLayers: number): number {
  return Math.min(nLayer * rho, capacityLayers) / nLayer;
}

/** The most layers SBLD can drop per step in expectation: q_max × (L - |block list|). */
export function sbldCapacityLayers(cfg: ResolvedDropConfig): number {
  const blocked = cfg.useLists ? cfg.nBlock : 0;
  return cfg.qMax * (cfg.nLayer - blocked);
}

// ---------------------------------------------------------------------------------------------------------
// Equal expected compute (its result type, `RhoMatch`, is in ./config.ts with the resolved config that holds one)

/**
 * Steps at which a sum over t = 0..T-1 is taken: every step up to `maxExact` steps; beyond, `maxExact` steps
 * spread evenly (stratified: the middle of each of `maxExact` equal spans), each standing for T/maxExact steps, so
 * sums over a huge --steps cost O(maxExact) and stay smooth-curve accurate (a relative error ~1/maxExact).
 */
export const MAX_EXACT_STEPS = 1 << 20;
export function stepSamples(totalSteps: number, maxExact = MAX_EXACT_STEPS): { steps: Float64Array; weight: number } {
  if (totalSteps <= maxExact) return { steps: Float64Array.from({ length: totalSteps }, (_, t) => t), weight: 1 };
  const steps = new Float64Array(maxExact);
  for (let i = 0; i < maxExact; i++) steps[i] = Math.floor(((i + 0.5) * totalSteps) / maxExact);
  return { steps, weight: totalSteps / maxExact };
}

/** Expected dropped layer-steps of PLD (its own curve) over steps 0..T-1 (sampled beyond `maxExact` steps). */
export function pldTotalDropped(nLayer: number, totalSteps: number, pld: PldParams, maxExact = MAX_EXACT_STEPS): number {
  const { steps, weight } = stepSamples(totalSteps, maxExact);
  let sum = 0;
  for (const t of steps) sum += nLayer * pldExpectedDropFraction(pldTheta(t, pld), nLayer);
  return sum * weight;
}

/**
 * ρ_peak such that Σ_t min(L·ρ_peak·ĝ(t), capacity) = PLD's Σ_t (1 - θ(t))(L - 1)/2 over t = 0..T-1.
 * The left side is what SBLD's allocator actually drops (water-filling caps it at `capacityLayers`), so
 * the solve accounts for the caps; it is continuous and non-decreasing in ρ_peak, solved by bisection on
 * [0, 1] to ~1e-15. If PLD's total exceeds SBLD's total at ρ_peak = 1, the target is unreachable:
 * rhoPeak = 1, reachable = false and `note` says by how much. Cost O(min(T, maxExact)) per bisection step:
 * beyond `maxExact` steps both sums are taken over the same evenly spread sample of steps (`stepSamples`).
 */
export function matchPldRhoPeak(
  nLayer: number,
  totalSteps: number,
  pld: PldParams,
  sbld: { shape: ShapeParams; capacityLayers: number },
  maxExact = MAX_EXACT_STEPS,
): RhoMatch {
  const pldDropped = pldTotalDropped(nLayer, totalSteps, pld, maxExact);
  const { steps, weight } = stepSamples(totalSteps, maxExact);
  const shape = steps.map((t) => timeShape(t, sbld.shape));
  const dropped = (rhoPeak: number): number => {
    let sum = 0;
    for (let i = 0; i < shape.length; i++) sum += Math.min(nLayer * rhoPeak * shape[i]!, sbld.capacityLayers);
    return sum * weight;
  };
  const atMax = dropped(1);
  if (atMax < pldDropped) {
    return {
      rhoPeak: 1,
      reachable: false,
      pldDropped,
      sbldDropped: atMax,
      note:
        `match_pld unreachable: PLD drops ${pldDropped.toFixed(1)} expected layer-steps but SBLD's caps ` +
        `(q_max × droppable layers = ${sbld.capacityLayers} per step) allow at most ${atMax.toFixed(1)} ` +
        `(${((100 * atMax) / pldDropped).toFixed(1)}%) even at rho_peak = 1; using rho_peak = 1`,
    };
  }
  let lo = 0;
  let hi = 1;
  for (let it = 0; it < 100 && hi - lo > 1e-15; it++) {
    const mid = (lo + hi) / 2;
    if (dropped(mid) < pldDropped) lo = mid;
    else hi = mid;
  }
  return { rhoPeak: hi, reachable: true, pldDropped, sbldDropped: dropped(hi) };
}

/**
 * Scheduled expected fraction of layers dropped at step t for any policy, from the schedule alone. For SBLD
 * it assumes the sensitivities were measured at T_pre (before that, and before measurement, nothing drops)
 * and is exact for any sensitivities, since the allocator drops min(L·ρ, capacity) layers in expectation.
 */
export function scheduledDropFraction(cfg: ResolvedDropConfig, t: number): number {
  const L = cfg.nLayer;
  switch (cfg.policy) {
    case 'none':
      return 0;
    case 'layerdrop':
      return cfg.rate;
    case 'pld':
      return pldExpectedDropFraction(pldThetaAt(cfg, t), L);
    case 'sbld':
      return sbldExpectedDropFraction(sbldRho(t, cfg.rhoPeak, shapeFromConfig(cfg, cfg.curve)), L, sbldCapacityLayers(cfg));
  }
}

/** Σ over t = 0..T-1 of the expected number of dropped layers (layer-steps saved) for a resolved config (sampled beyond 2^20 steps). */
export function scheduledTotalDropped(cfg: ResolvedDropConfig): number {
  const { steps, weight } = stepSamples(cfg.totalSteps);
  let sum = 0;
  for (const t of steps) sum += cfg.nLayer * scheduledDropFraction(cfg, t);
  return sum * weight;
}

/** PLD's global keep θ at step t: its own curve, or (pldCurve 'pwegd') the θ whose drop fraction is ρ(t). */
export function pldThetaAt(cfg: ResolvedDropConfig, t: number): number {
  if (cfg.pldCurve === 'pld') return pldTheta(t, cfg);
  return pldThetaForDropFraction(sbldRho(t, cfg.rhoPeak, shapeFromConfig(cfg, 'pwegd')), cfg.nLayer);
}
