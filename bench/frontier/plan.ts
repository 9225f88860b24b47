/**
 * How many steps each run of `npm run bench -- frontier` trains, as pure functions (tested in
 * test/frontier.test.ts).
 *
 * Compute matching. A run's cost is counted in full-depth steps of this model on this machine:
 *   cost(T) = Σ_t (1 - f·s·(1 - k_t)) + n_meas·m
 * where k_t is the policy's expected fraction of layers kept at step t (`keepProbabilities`, the same function
 * the trainer draws from; SBLD's mean keep depends only on ρ(t) and the caps, so a uniform stand-in for its
 * sensitivities gives it), f the layers' measured share of a full step's time, s the share of a layer's work a
 * skip removes (1 for `drop.scope` 'layer'; backward and optimizer only, measured, for 'backward'), n_meas the
 * number of SBLD skip_loss measurements the run makes and m one measurement's measured time in full steps.
 * The baseline at budget b trains round(b·R) steps (R the reference steps, cost = steps); a dropping policy at
 * budget b trains the T whose cost(T) is closest to b·R: more steps, each cheaper. Every run's schedule
 * (warm-up + cosine, and the policy's own time curve) spans its own T; the learning-rate warm-up is scaled with
 * T (the same fraction of the run).
 */
import type { DropConfig } from '../../src/drop/config.js';
import { resolveDropConfig } from '../../src/drop/resolve.js';
import { keepProbabilities } from '../../src/drop/policy.js';
import { computeLists } from '../../src/drop/sbld.js';
import { ConfigError } from '../../src/train/config.js';

/** What the step counts are computed from; `calibrate.ts` measures it. */
export interface StepCosts {
  /** f: share of a full step's time spent in the layers (the rest: embedding, head, loss, optimizer overhead). */
  layerShare: number;
  /** s: share of a layer's work a skip removes (1: the whole layer). */
  skipSaving: number;
  /** m: one SBLD skip_loss measurement, in full-step times (0 when none is made). */
  measureSteps: number;
}

/** Expected cost of a run of `steps` steps with these drop settings, in full-depth steps (module comment). */
export function expectedCost(drop: Partial<DropConfig>, nLayer: number, steps: number, costs: StepCosts): { cost: number; keptFraction: number; measurements: number } {
  const d = resolveDropConfig(drop, { nLayer, totalSteps: steps });
  if (d.policy === 'none') return { cost: steps, keptFraction: 1, measurements: 0 };
  const ones = new Array<number>(nLayer).fill(1);
  const view = { sensitivities: ones, ...computeLists(ones, d.nBlock, d.nAllow, d.useLists) };
  let kept = 0;
  for (let t = 0; t < steps; t++) kept += keepProbabilities(d, t, d.policy === 'sbld' ? view : null).expectedKeptFraction;
  let measurements = 0;
  if (d.policy === 'sbld' && d.sensitivity === 'skip_loss' && d.warmupSteps < steps) {
    measurements = 1 + (d.remeasureEvery > 0 ? Math.floor((steps - 1 - d.warmupSteps) / d.remeasureEvery) : 0);
  }
  const keptFraction = kept / steps;
  const perStep = 1 - costs.layerShare * costs.skipSaving * (1 - keptFraction);
  return { cost: steps * perStep + measurements * costs.measureSteps, keptFraction, measurements };
}

export interface BudgetSteps {
  steps: number;
  /** Expected cost in full-depth steps (the target is budget x reference steps). */
  cost: number;
  keptFraction: number;
  measurements: number;
}

/**
 * Steps for `drop` at `budget` x `refSteps`: round(budget·R) for `none`, else the T (searched over integers,
 * cost is non-decreasing in T) whose expected cost is closest to budget·R; ties go to the smaller T.
 */
export function stepsForBudget(drop: Partial<DropConfig>, nLayer: number, refSteps: number, budget: number, costs: StepCosts): BudgetSteps {
  const target = budget * refSteps;
  const at = (T: number): BudgetSteps => ({ steps: T, ...expectedCost(drop, nLayer, T, costs) });
  const base = Math.max(1, Math.round(target));
  if ((drop.policy ?? 'none') === 'none') return at(base);
  // cost(T) >= T·(1 - f·s) and <= T + measurements·m, so T lies in [target - meas, target / (1 - f·s)].
  let lo = Math.max(1, Math.floor(target - 4 * costs.measureSteps) - 1);
  let hi = Math.ceil(target / Math.max(0.05, 1 - costs.layerShare * costs.skipSaving)) + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (at(mid).cost < target) lo = mid + 1;
    else hi = mid;
  }
  const above = at(lo);
  if (lo > 1) {
    const below = at(lo - 1);
    if (Math.abs(below.cost - target) <= Math.abs(above.cost - target)) return below;
  }
  return above;
}

/** Parses a comma list of positive budgets (multiples of the reference run), sorted, duplicates removed. */
export function parseBudgets(flag: string, list: string): number[] {
  const xs = list.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (xs.length === 0 || xs.some((x) => !(x > 0) || !Number.isFinite(x))) {
    throw new ConfigError(`${flag} ${list}: needs positive numbers separated by commas (multiples of the reference run), e.g. 0.5,1,2`);
  }
  return [...new Set(xs)].sort((a, b) => a - b);
}
