/**
 * Layer-dropping configuration: every hyperparameter of docs/layer-dropping.md with its default, validation
 * with messages that name the CLI flag, and a table (`DROP_FLAGS`) from which the CLI builds its `--drop-*`
 * options. `resolveDropConfig(partial, { nLayer, totalSteps })` fills the defaults that depend on the model
 * and the run (n_block, n_allow, γ, T_pre, rescale, ρ_peak = 'match_pld') and refuses bad values.
 *
 * Defaults and where they come from ([ref] reference implementations, [ours] our reconstruction):
 * - layerdrop [ref]: rate 0.2, no rescale.
 * - pld [ref]: θ̄ 0.5, γ = 200/T (γ·T = 200), rescale = PLD's own 1/(1 - (i+1)Δ).
 * - sbld [ours]: see the field docs; rescale defaults to 'none' (reasons at `DEFAULT_RESCALE`).
 */

import { matchPldRhoPeak, pldThetaForDropFraction, sbldCapacityLayers, shapeFromConfig, stepSamples, timeShape } from './schedule.js';
import type { RhoMatch } from './schedule.js';

export const DROP_POLICIES = ['none', 'layerdrop', 'pld', 'sbld'] as const;
export type DropPolicyName = (typeof DROP_POLICIES)[number];

export const RESCALES = ['inverse_keep', 'none'] as const;
/** `inverse_keep`: kept layers' residual branches × 1/p (PLD: its own formula); `none`: unscaled. */
export type Rescale = (typeof RESCALES)[number];

export const CURVES = ['pwegd', 'pld'] as const;
/** Time curve of the whole-model drop rate: SBLD's PWEGD, or PLD's 1 - exp(-γt) shape. */
export type CurveName = (typeof CURVES)[number];

export const SENSITIVITIES = ['skip_loss', 'taylor'] as const;
export type SensitivityMode = (typeof SENSITIVITIES)[number];

export const ALLOCS = ['proportional', 'ordered'] as const;
export type AllocMode = (typeof ALLOCS)[number];
/** What a drop removes: the whole layer (forward, backward, update) or only its backward and update. */
export const DROP_SCOPES = ['layer', 'backward'] as const;
export type DropScope = (typeof DROP_SCOPES)[number];

/**
 * All layer-dropping hyperparameters. Fields whose default depends on the model, the run length or the
 * policy take the word 'auto' (or 'match_pld' for ρ_peak) and are fixed by `resolveDropConfig`.
 */
export interface DropConfig {
  /** Which policy: none | layerdrop | pld | sbld. */
  policy: DropPolicyName;
  /**
   * What a drop skips: 'layer' (the layer is the identity: no forward, backward or update) or 'backward' (the
   * forward runs as usual, the gradient bypasses the layer through the residual stream, no update).
   */
  scope: DropScope;
  /** Rescaling of kept layers; 'auto' = the policy's default (`DEFAULT_RESCALE`). */
  rescale: Rescale | 'auto';

  // LayerDrop [ref]
  /** LayerDrop's drop rate r: every layer kept with p = 1 - r. */
  rate: number;

  // PLD [ref]
  /** PLD's θ̄, the floor the global keep θ(t) decays to. */
  thetaBar: number;
  /** PLD's γ·T (γ = gammaT / T) unless `gamma` is given. */
  gammaT: number;
  /** PLD's γ per optimizer step; 'auto' = gammaT / T. */
  gamma: number | 'auto';
  /** Ablation "PLD with SBLD's curve": 'pwegd' sets θ(t) so PLD drops fraction ρ(t) = ρ_peak·ĝ(t). */
  pldCurve: CurveName;

  // SBLD [ours]: sensitivity measurement
  /** skip_loss (M probe batches, (L+1)·M forward passes) or taylor (free online EMA). */
  sensitivity: SensitivityMode;
  /** M, the number of fixed probe batches for skip_loss. */
  probeBatches: number;
  /** T_pre / T: warm-up fraction; sensitivities are first measured at step T_pre = round(warmupFrac·T). */
  warmupFrac: number;
  /** R: re-measure every R steps after T_pre; 0 = measure once. */
  remeasureEvery: number;
  /** β in s ← β·s + (1 - β)·s_new when re-measuring. */
  beta: number;
  /** Relative clamp: s_l ≥ eps·max(s). */
  eps: number;
  /** EMA coefficient of taylor mode: ema ← d·ema + (1 - d)·value for layers that ran. */
  taylorDecay: number;
  /**
   * The no-signal guard (src/drop/sbld.ts, `measurementSignal`): a measurement with no signal (no layer above
   * twice its standard error, more than `guardMaxClamped` of the layers at the clamp, or none positive) is not
   * used: SBLD allocates uniformly (every s_l = 1, no lists) and measures again T_pre steps later, up to
   * `guardRetries` times; after that it keeps the uniform allocation.
   */
  guard: boolean;
  guardRetries: number;
  /** Fraction of the layers at the clamp above which a measurement has no signal. */
  guardMaxClamped: number;

  // SBLD [ours]: lists and allocation
  /** |block list| (never dropped); 'auto' = max(1, round(L/4)). */
  nBlock: number | 'auto';
  /** |allow list| (dropped κ× more); 'auto' = round(L/4). */
  nAllow: number | 'auto';
  /** α in w_l = s_l^(-α). */
  alpha: number;
  /** κ: allow-list weight multiplier. */
  kappa: number;
  /** Cap on any layer's drop probability q_l. */
  qMax: number;
  /** proportional (water-filling by weight) or ordered (least sensitive to the cap first). */
  alloc: AllocMode;

  // SBLD [ours]: time scheduler
  /** λ in x = λ·t/T. */
  lambda: number;
  /** PWEGD polynomial exponent c. */
  c: number;
  /** PWEGD exponentiation θe. */
  thetaE: number;
  /** Peak whole-model drop fraction ρ_peak; 'match_pld' = equal expected compute to PLD over the run. */
  rhoPeak: number | 'match_pld';
  /** Ablation "SBLD with PLD's time curve": 'pld' uses ĝ(t) = 1 - exp(-γt). */
  curve: CurveName;

  // SBLD [ours]: ablations
  /** false = "SBLD without lists": no block list, no allow list. */
  useLists: boolean;
  /** true = measured sensitivities go through a fixed seeded permutation of the layers. */
  shuffleSensitivities: boolean;
  /** Seed of that permutation. */
  shuffleSeed: number;
}

/**
 * Per-policy rescale default. pld: inverse_keep, which for PLD means its reference formula
 * 1/(1 - (i+1)Δ). layerdrop: none (fairseq). sbld: none. The spec leaves SBLD's rescaling open; we choose
 * none because (1) the paper does not mention rescaling, (2) SBLD's ρ(t) tapers to ~0 at the end of training,
 * so the network trained last is the full, unscaled one that evaluation runs (the reason inverse_keep exists
 * for PLD, which keeps dropping to the end, is to keep train and eval networks alike), (3) the sensitivities
 * are measured on the unscaled network, and (4) with q_max = 0.5 inverse_keep would double whole branches.
 * `--drop-rescale inverse_keep` is the ablation ("rescale on/off").
 */
export const DEFAULT_RESCALE: { [K in DropPolicyName]: Rescale } = {
  none: 'none',
  layerdrop: 'none',
  pld: 'inverse_keep',
  sbld: 'none',
};

export const DEFAULT_DROP_CONFIG: Readonly<DropConfig> = Object.freeze({
  policy: 'none',
  scope: 'layer',
  rescale: 'auto',
  rate: 0.2,
  thetaBar: 0.5,
  gammaT: 200,
  gamma: 'auto',
  pldCurve: 'pld',
  sensitivity: 'skip_loss',
  probeBatches: 4,
  warmupFrac: 0.05,
  remeasureEvery: 0,
  beta: 0.5,
  eps: 1e-4,
  taylorDecay: 0.9,
  guard: true,
  guardRetries: 2,
  guardMaxClamped: 0.5,
  nBlock: 'auto',
  nAllow: 'auto',
  alpha: 1,
  kappa: 2,
  qMax: 0.5,
  alloc: 'proportional',
  lambda: 6,
  c: 1,
  thetaE: 2,
  rhoPeak: 'match_pld',
  curve: 'pwegd',
  useLists: true,
  shuffleSensitivities: false,
  shuffleSeed: 0,
});

/** How the CLI parses a flag's value. */
export type DropFlagKind = 'choice' | 'number' | 'int' | 'boolean';

/** One `--drop-*` option: flag name, help text, value kind, choices, and words accepted besides numbers. */
export interface DropFlagSpec {
  flag: string;
  help: string;
  kind: DropFlagKind;
  choices?: readonly string[];
  /** Non-numeric words a number flag also accepts ('auto', 'match_pld'). */
  words?: readonly string[];
}

/** Config key → CLI flag. A mapped type, so a hyperparameter without a flag is a compile error. */
export const DROP_FLAGS: { [K in keyof DropConfig]: DropFlagSpec } = {
  policy: { flag: '--drop-policy', kind: 'choice', choices: DROP_POLICIES, help: 'layer-dropping policy' },
  scope: {
    flag: '--drop-scope',
    kind: 'choice',
    choices: DROP_SCOPES,
    help: 'what a drop skips: layer (forward, backward, update) | backward (forward runs; backward and update skipped)',
  },
  rescale: {
    flag: '--drop-rescale',
    kind: 'choice',
    choices: [...RESCALES, 'auto'],
    help: 'scale kept layers: inverse_keep (1/p; PLD: its 1/(1-(i+1)Δ)) | none; auto = pld inverse_keep, else none',
  },
  rate: { flag: '--drop-rate', kind: 'number', help: 'LayerDrop rate r, p = 1 - r for every layer, in [0, 1)' },
  thetaBar: { flag: '--drop-theta-bar', kind: 'number', help: 'PLD θ̄: floor of the global keep θ(t), in (0, 1]' },
  gammaT: { flag: '--drop-gamma-t', kind: 'number', help: 'PLD γ·T (γ = this / total steps), ≥ 0' },
  gamma: { flag: '--drop-gamma', kind: 'number', words: ['auto'], help: 'PLD γ per step (overrides --drop-gamma-t)' },
  pldCurve: {
    flag: '--drop-pld-curve',
    kind: 'choice',
    choices: CURVES,
    help: "PLD's time curve: pld (its own) | pwegd (ablation: PLD dropping fraction ρ_peak·ĝ(t))",
  },
  sensitivity: {
    flag: '--drop-sensitivity',
    kind: 'choice',
    choices: SENSITIVITIES,
    help: 'SBLD sensitivity: skip_loss (M probe batches) | taylor (online EMA)',
  },
  probeBatches: { flag: '--drop-probe-batches', kind: 'int', help: 'SBLD M: probe batches for skip_loss, ≥ 1' },
  warmupFrac: { flag: '--drop-warmup-frac', kind: 'number', help: 'SBLD T_pre/T: no dropping before, measure at T_pre, in [0, 1)' },
  remeasureEvery: { flag: '--drop-remeasure-every', kind: 'int', help: 'SBLD R: re-measure every R steps (0 = once), ≥ 0' },
  beta: { flag: '--drop-beta', kind: 'number', help: 'SBLD β: s ← β·s + (1-β)·s_new on re-measure, in [0, 1]' },
  eps: { flag: '--drop-eps', kind: 'number', help: 'SBLD clamp s_l ≥ eps·max(s), in (0, 1]' },
  taylorDecay: { flag: '--drop-taylor-decay', kind: 'number', help: 'SBLD taylor EMA coefficient, in [0, 1)' },
  guard: { flag: '--drop-guard', kind: 'boolean', help: 'SBLD no-signal guard: a measurement without signal is not used (uniform allocation, re-measured later)' },
  guardRetries: { flag: '--drop-guard-retries', kind: 'int', help: 'SBLD guard: re-measurements after one without signal before staying uniform, ≥ 0' },
  guardMaxClamped: { flag: '--drop-guard-max-clamped', kind: 'number', help: 'SBLD guard: no signal when more than this fraction of layers is at the clamp, in (0, 1]' },
  nBlock: { flag: '--drop-n-block', kind: 'int', words: ['auto'], help: 'SBLD block-list size (never dropped); auto = max(1, round(L/4))' },
  nAllow: { flag: '--drop-n-allow', kind: 'int', words: ['auto'], help: 'SBLD allow-list size (dropped κ× more); auto = round(L/4)' },
  alpha: { flag: '--drop-alpha', kind: 'number', help: 'SBLD α: weight w = s^(-α), ≥ 0' },
  kappa: { flag: '--drop-kappa', kind: 'number', help: 'SBLD κ: allow-list weight multiplier, > 0' },
  qMax: { flag: '--drop-q-max', kind: 'number', help: 'SBLD cap on the drop probability of any layer, in (0, 1]' },
  alloc: {
    flag: '--drop-alloc',
    kind: 'choice',
    choices: ALLOCS,
    help: 'SBLD allocation: proportional (water-filling by weight) | ordered (least sensitive first)',
  },
  lambda: { flag: '--drop-lambda', kind: 'number', help: 'SBLD PWEGD λ (x = λ·t/T), > 0' },
  c: { flag: '--drop-c', kind: 'number', help: 'SBLD PWEGD polynomial exponent c, ≥ 0' },
  thetaE: { flag: '--drop-theta-e', kind: 'number', help: 'SBLD PWEGD exponent θe, > 0 with c + 2θe > 1' },
  rhoPeak: {
    flag: '--drop-rho-peak',
    kind: 'number',
    words: ['match_pld'],
    help: "SBLD peak drop fraction ρ_peak in [0, 1]; match_pld = PLD's expected compute",
  },
  curve: {
    flag: '--drop-curve',
    kind: 'choice',
    choices: CURVES,
    help: "SBLD time curve: pwegd | pld (ablation: PLD's 1 - exp(-γt) shape)",
  },
  useLists: { flag: '--drop-use-lists', kind: 'boolean', help: 'SBLD block/allow lists (false = ablation without lists)' },
  shuffleSensitivities: {
    flag: '--drop-shuffle-sensitivities',
    kind: 'boolean',
    help: 'SBLD ablation: permute measured sensitivities across layers (seeded)',
  },
  shuffleSeed: { flag: '--drop-shuffle-seed', kind: 'int', help: 'seed of the sensitivity permutation' },
};

/** A refused layer-dropping setting. `problems` lists every one found, each naming its flag. */
export class DropConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `invalid layer-dropping config:\n  ${problems.join('\n  ')}`);
    this.name = 'DropConfigError';
    this.problems = problems;
  }
}

/** Parses one CLI value for config key `key`; throws DropConfigError naming the flag. */
export function parseDropFlag<K extends keyof DropConfig>(key: K, raw: string): DropConfig[K] {
  const spec: DropFlagSpec = DROP_FLAGS[key];
  const s = raw.trim();
  if (spec.words?.includes(s)) return s as DropConfig[K];
  switch (spec.kind) {
    case 'choice':
      if (!spec.choices!.includes(s)) {
        throw new DropConfigError([`${spec.flag}: '${raw}' is not one of ${spec.choices!.join(', ')}`]);
      }
      return s as DropConfig[K];
    case 'boolean':
      if (['true', '1', 'yes', 'on'].includes(s)) return true as DropConfig[K];
      if (['false', '0', 'no', 'off'].includes(s)) return false as DropConfig[K];
      throw new DropConfigError([`${spec.flag}: '${raw}' is not a boolean (true/false)`]);
    case 'number':
    case 'int': {
      const v = s === '' ? NaN : Number(s);
      const words = spec.words ? ` or ${spec.words.join(' / ')}` : '';
      if (!Number.isFinite(v) || (spec.kind === 'int' && !Number.isInteger(v))) {
        throw new DropConfigError([`${spec.flag}: '${raw}' is not ${spec.kind === 'int' ? 'an integer' : 'a number'}${words}`]);
      }
      return v as DropConfig[K];
    }
  }
}

/** The config with every default fixed for one model and run. */
export interface ResolvedDropConfig
  extends Omit<DropConfig, 'rescale' | 'gamma' | 'nBlock' | 'nAllow' | 'rhoPeak'> {
  rescale: Rescale;
  /** PLD's γ per step. */
  gamma: number;
  nBlock: number;
  nAllow: number;
  /** ρ_peak used by sbld and by pld with pldCurve 'pwegd'; 0 when 'match_pld' and the policy uses none. */
  rhoPeak: number;
  rhoPeakSource: 'match_pld' | 'explicit';
  /** The equal-compute solve when rhoPeak is 'match_pld' and the policy uses it; else null. */
  rhoMatch: RhoMatch | null;
  /** L. */
  nLayer: number;
  /** T, total optimizer steps. */
  totalSteps: number;
  /** T_pre = round(warmupFrac·T) in steps. */
  warmupSteps: number;
}

/** The model and run a config is resolved for. */
export interface DropContext {
  nLayer: number;
  totalSteps: number;
}

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
