/**
 * `resolveDropConfig(partial, { nLayer, totalSteps })`: fills the layer-dropping defaults that depend on the
 * model and the run (n_block, n_allow, γ, T_pre, rescale, ρ_peak = 'match_pld') and refuses bad values, each
 * problem naming its `--drop-*` flag.
 */

import {
  ALLOCS,
  CURVES,
  DEFAULT_DROP_CONFIG,
  DEFAULT_RESCALE,
  DROP_POLICIES,
  DROP_SCOPES,
  RESCALES,
  SENSITIVITIES,
  type DropConfig,
  type DropContext,
  type ResolvedDropConfig,
} from './config.js';
import { DROP_FLAGS, DropConfigError } from './flags.js';
import { matchPldRhoPeak, pldThetaForDropFraction, sbldCapacityLayers, shapeFromConfig, stepSamples, timeShape } from './schedule.js';

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Fills defaults and validates. Throws `DropConfigError` listing every problem (unknown keys or policy with
 * the valid list, probabilities outside their range, lists larger than L, ...), each naming its `--drop-*`
 * flag. For sbld (and pld with pldCurve 'pwegd') with rhoPeak 'match_pld' it solves the equal-compute
 * ρ_peak (O(T·100)); an unreachable match is not an error: it is reported in `rhoMatch.note` to be logged.
 */
export function resolveDropConfig(partial: Partial<DropConfig>, ctx: DropContext): ResolvedDropConfig {
  const problems: string[] = [];
  const flag = (k: keyof DropConfig): string => DROP_FLAGS[k].flag;
  const L = ctx.nLayer;
  const T = ctx.totalSteps;
  if (!Number.isInteger(L) || L < 1) problems.push(`model n_layer must be a positive integer, got ${L}`);
  if (!Number.isInteger(T) || T < 1) problems.push(`total steps must be a positive integer, got ${T}`);

  for (const k of Object.keys(partial)) {
    if (!(k in DEFAULT_DROP_CONFIG)) {
      problems.push(`unknown layer-dropping option '${k}' (valid: ${Object.keys(DEFAULT_DROP_CONFIG).join(', ')})`);
    }
  }
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const cfg: DropConfig = { ...DEFAULT_DROP_CONFIG, ...defined };

  const choice = <K extends keyof DropConfig>(k: K, valid: readonly string[]): void => {
    if (!valid.includes(cfg[k] as string)) {
      problems.push(`${flag(k)}: unknown value '${String(cfg[k])}' (valid: ${valid.join(', ')})`);
    }
  };
  // range(k, lo, hi, loOpen, hiOpen): a finite number in the interval, printed in interval notation; `why` explains
  // an open bound and is printed only when that bound is the one crossed.
  const range = (k: keyof DropConfig, lo: number, hi: number, loOpen: boolean, hiOpen: boolean, why: { lo?: string; hi?: string } = {}): void => {
    const v = cfg[k];
    const loOk = isNum(v) && (loOpen ? v > lo : v >= lo);
    const hiOk = isNum(v) && (hiOpen ? v < hi : v <= hi);
    if (!loOk || !hiOk) {
      const iv = `${loOpen ? '(' : '['}${lo}, ${hi === Infinity ? '∞' : hi}${hiOpen ? ')' : ']'}`;
      const reason = isNum(v) ? (!loOk ? why.lo : why.hi) : undefined;
      problems.push(`${flag(k)} must be in ${iv}, got ${String(v)}${reason ? ` (${reason})` : ''}`);
    }
  };
  const intAtLeast = (k: keyof DropConfig, lo: number): void => {
    const v = cfg[k];
    if (!isNum(v) || !Number.isInteger(v) || v < lo) problems.push(`${flag(k)} must be an integer ≥ ${lo}, got ${String(v)}`);
  };
  const bool = (k: keyof DropConfig): void => {
    if (typeof cfg[k] !== 'boolean') problems.push(`${flag(k)} must be true or false, got ${String(cfg[k])}`);
  };

  choice('policy', DROP_POLICIES);
  choice('scope', DROP_SCOPES);
  choice('rescale', [...RESCALES, 'auto']);
  range('rate', 0, 1, false, true, { hi: 'a rate of 1 would skip every layer' });
  range('thetaBar', 0, 1, true, false, { lo: "θ̄ = 0 makes PLD's last-layer scale 1/θ unbounded" });
  range('gammaT', 0, Infinity, false, true);
  if (cfg.gamma !== 'auto') range('gamma', 0, Infinity, false, true);
  choice('pldCurve', CURVES);
  choice('sensitivity', SENSITIVITIES);
  intAtLeast('probeBatches', 1);
  range('warmupFrac', 0, 1, false, true);
  intAtLeast('remeasureEvery', 0);
  range('beta', 0, 1, false, false);
  range('eps', 0, 1, true, false);
  range('taylorDecay', 0, 1, false, true);
  bool('guard');
  intAtLeast('guardRetries', 0);
  range('guardMaxClamped', 0, 1, true, false);
  for (const k of ['nBlock', 'nAllow'] as const) {
    if (cfg[k] !== 'auto') intAtLeast(k, 0);
  }
  range('alpha', 0, Infinity, false, true);
  range('kappa', 0, Infinity, true, true);
  range('qMax', 0, 1, true, false);
  choice('alloc', ALLOCS);
  range('lambda', 0, Infinity, true, true);
  range('c', 0, Infinity, false, true);
  range('thetaE', 0, Infinity, true, true);
  if (isNum(cfg.c) && isNum(cfg.thetaE) && cfg.c + 2 * cfg.thetaE <= 1) {
    problems.push(`${flag('c')} + 2·${flag('thetaE')} must exceed 1 so the PWEGD curve starts at 0, got c = ${cfg.c}, θe = ${cfg.thetaE}`);
  }
  if (cfg.rhoPeak !== 'match_pld') range('rhoPeak', 0, 1, false, false);
  choice('curve', CURVES);
  bool('useLists');
  bool('shuffleSensitivities');
  if (!isNum(cfg.shuffleSeed) || !Number.isInteger(cfg.shuffleSeed) || cfg.shuffleSeed < 0 || cfg.shuffleSeed > 0xffffffff) {
    problems.push(`${flag('shuffleSeed')} must be an integer in [0, 2^32), got ${String(cfg.shuffleSeed)}`);
  }

  const nBlock = cfg.nBlock === 'auto' ? Math.max(1, Math.round(L / 4)) : cfg.nBlock;
  const nAllow = cfg.nAllow === 'auto' ? Math.round(L / 4) : cfg.nAllow;
  if (Number.isInteger(L) && L >= 1 && isNum(nBlock) && isNum(nAllow) && nBlock + nAllow > L) {
    problems.push(
      `${flag('nBlock')} + ${flag('nAllow')} must not exceed the number of layers L = ${L}, got ${nBlock} + ${nAllow} = ${nBlock + nAllow}`,
    );
  }
  if (cfg.scope === 'backward' && cfg.rescale === 'inverse_keep') {
    problems.push(`${flag('rescale')} inverse_keep does not apply to ${flag('scope')} backward: the forward of a dropped layer still runs, unscaled`);
  }
  if (problems.length > 0) throw new DropConfigError(problems);

  const resolved: ResolvedDropConfig = {
    ...cfg,
    // A backward-only skip leaves the forward as it is, so there is nothing to rescale for.
    rescale: cfg.rescale === 'auto' ? (cfg.scope === 'backward' ? 'none' : DEFAULT_RESCALE[cfg.policy]) : cfg.rescale,
    gamma: cfg.gamma === 'auto' ? cfg.gammaT / T : cfg.gamma,
    nBlock,
    nAllow,
    rhoPeak: 0,
    rhoPeakSource: cfg.rhoPeak === 'match_pld' ? 'match_pld' : 'explicit',
    rhoMatch: null,
    nLayer: L,
    totalSteps: T,
    warmupSteps: Math.round(cfg.warmupFrac * T),
  };

  const pldUsesRho = cfg.policy === 'pld' && cfg.pldCurve === 'pwegd';
  if (cfg.rhoPeak !== 'match_pld') {
    resolved.rhoPeak = cfg.rhoPeak;
  } else if (cfg.policy === 'sbld' || pldUsesRho) {
    // PLD's own structure has no per-layer cap (only θ > 0, checked below); SBLD's is q_max per droppable layer.
    const capacityLayers = pldUsesRho ? Infinity : sbldCapacityLayers(resolved);
    const shape = shapeFromConfig(resolved, pldUsesRho ? 'pwegd' : cfg.curve);
    resolved.rhoMatch = matchPldRhoPeak(L, T, { thetaBar: cfg.thetaBar, gamma: resolved.gamma }, { shape, capacityLayers });
    resolved.rhoPeak = resolved.rhoMatch.rhoPeak;
  }

  if (pldUsesRho) {
    // θ(t) = 1 - 2L·ρ(t)/(L-1) must stay > 0, or the last layer's reference scale 1/θ blows up.
    const shape = shapeFromConfig(resolved, 'pwegd');
    let thetaMin = 1;
    for (const t of stepSamples(T).steps) thetaMin = Math.min(thetaMin, pldThetaForDropFraction(resolved.rhoPeak * timeShape(t, shape), L));
    if (!(thetaMin > 0)) {
      throw new DropConfigError([
        `${flag('rhoPeak')} = ${resolved.rhoPeak.toPrecision(4)} with ${flag('pldCurve')} pwegd drives PLD's θ to ` +
          `${thetaMin.toPrecision(4)} ≤ 0 (PLD can drop at most (L-1)/(2L) = ${((L - 1) / (2 * L)).toPrecision(4)} of the layers)`,
      ]);
    }
  }
  return resolved;
}
