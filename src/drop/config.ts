/**
 * Layer-dropping configuration, its shape: every hyperparameter of docs/layer-dropping.md with its default, the
 * resolved form a run uses, and the enumerations. Types and constants only, so that every module of src/drop can
 * import it: the flag table and parsing live in ./flags.ts, the resolution (run-dependent defaults, validation)
 * in ./resolve.ts.
 *
 * Defaults and where they come from ([ref] reference implementations, [ours] our reconstruction):
 * - layerdrop [ref]: rate 0.2, no rescale.
 * - pld [ref]: θ̄ 0.5, γ = 200/T (γ·T = 200), rescale = PLD's own 1/(1 - (i+1)Δ).
 * - sbld [ours]: see the field docs; rescale defaults to 'none' (reasons at `DEFAULT_RESCALE`).
 */

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

/** Result of `matchPldRhoPeak` (./schedule.ts), kept here with `ResolvedDropConfig`, which holds one. Totals are expected dropped layer-steps Σ_t Σ_l (1 - p_l(t)). */
export interface RhoMatch {
  rhoPeak: number;
  /** False when even ρ_peak = 1 cannot drop as much as PLD (caps too tight); rhoPeak is then 1. */
  reachable: boolean;
  pldDropped: number;
  sbldDropped: number;
  note?: string;
}
