/**
 * Layer dropping, the pure (CPU-only) part: policy configs, time schedules, SBLD's allocation and state, and
 * the per-step keep/scale lists plus seeded per-micro-batch draws. Spec: docs/layer-dropping.md.
 *
 * Use from the trainer, per optimizer step t:
 *   const cfg = resolveDropConfig(flags, { nLayer: L, totalSteps: T });   // once; log cfg.rhoMatch?.note
 *   const sbld = cfg.policy === 'sbld' ? new SbldState(cfg) : null;        // once (or SbldState.fromJSON)
 *   if (sbld?.needsMeasurement(t)) sbld.applyMeasurement(t, measuredOnGpu, ms);
 *   const { keep, scale } = keepProbabilities(cfg, t, sbld);
 *   for each micro-batch m: const run = drawPlan(keep, seed, t, m);       // run[l]: dispatch layer l?
 */

/** Config types, defaults, validation, and the `--drop-*` flag table. */
export { ALLOCS, CURVES, DEFAULT_DROP_CONFIG, DEFAULT_RESCALE, DROP_POLICIES, RESCALES, SENSITIVITIES } from './config.js';
export type {
  AllocMode,
  CurveName,
  DropConfig,
  DropContext,
  DropPolicyName,
  Rescale,
  ResolvedDropConfig,
  RhoMatch,
  SensitivityMode,
} from './config.js';
export { DROP_FLAGS, DropConfigError, parseDropFlag } from './flags.js';
export type { DropFlagKind, DropFlagSpec } from './flags.js';
export { resolveDropConfig } from './resolve.js';

/** PLD's θ(t) and lists, SBLD's PWEGD ρ(t), expected-compute helpers and the equal-compute ρ_peak solve. */
export {
  matchPldRhoPeak,
  pldExpectedDropFraction,
  pldLayerLists,
  pldTheta,
  pldThetaAt,
  pldThetaForDropFraction,
  pldTotalDropped,
  pwegdDLogG,
  pwegdG,
  pwegdHat,
  pwegdMax,
  sbldCapacityLayers,
  sbldExpectedDropFraction,
  sbldRho,
  scheduledDropFraction,
  scheduledTotalDropped,
  shapeFromConfig,
  timeShape,
} from './schedule.js';
export type { PldParams, PwegdParams, ShapeParams } from './schedule.js';

/** SBLD's "update keep probability list": weights, proportional water-filling, ordered fill. */
export { allocateKeep, dropWeights, orderedFill, waterFill } from './allocate.js';
export type { Allocation, AllocationInput } from './allocate.js';

/** SBLD's measured state: sensitivities, lists, history, taylor EMA, checkpoint JSON. */
export { SbldState, clampSensitivities, computeLists, measurementSignal, seededPermutation } from './sbld.js';
export type { MeasurementSignal, SbldMeasurement, SbldStateConfig, SbldStateJSON, SbldView } from './sbld.js';
export { AllocatorNotes, type AllocatorNotesSummary } from './notes.js';

/** Per-step keep/scale lists for every policy, and the seeded per-micro-batch draw. */
export { drawPlan, keepProbabilities, planBitString } from './policy.js';
export type { KeepPlan } from './policy.js';
