/**
 * The `--drop-*` flags: a table (`DROP_FLAGS`) from which the CLIs build their options, `parseDropFlag` for one
 * value, and `DropConfigError`, whose messages name the flag of every refused setting (the resolution in
 * ./resolve.ts raises it too).
 */

import { ALLOCS, CURVES, DROP_POLICIES, DROP_SCOPES, RESCALES, SENSITIVITIES, type DropConfig } from './config.js';

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

/** A flag whose value is one of `choices`. */
const choice = (flag: string, choices: readonly string[], help: string): DropFlagSpec => ({ flag, kind: 'choice', choices, help });

/** Config key → CLI flag. A mapped type, so a hyperparameter without a flag is a compile error. */
export const DROP_FLAGS: { [K in keyof DropConfig]: DropFlagSpec } = {
  policy: choice('--drop-policy', DROP_POLICIES, 'layer-dropping policy'),
  scope: choice('--drop-scope', DROP_SCOPES, 'what a drop skips: layer (forward, backward, update) | backward (forward runs; backward and update skipped)'),
  rescale: choice('--drop-rescale', [...RESCALES, 'auto'], 'scale kept layers: inverse_keep (1/p; PLD: its 1/(1-(i+1)Δ)) | none; auto = pld inverse_keep, else none'),
  rate: { flag: '--drop-rate', kind: 'number', help: 'LayerDrop rate r, p = 1 - r for every layer, in [0, 1)' },
  thetaBar: { flag: '--drop-theta-bar', kind: 'number', help: 'PLD θ̄: floor of the global keep θ(t), in (0, 1]' },
  gammaT: { flag: '--drop-gamma-t', kind: 'number', help: 'PLD γ·T (γ = this / total steps), ≥ 0' },
  gamma: { flag: '--drop-gamma', kind: 'number', words: ['auto'], help: 'PLD γ per step (overrides --drop-gamma-t)' },
  pldCurve: choice('--drop-pld-curve', CURVES, "PLD's time curve: pld (its own) | pwegd (ablation: PLD dropping fraction ρ_peak·ĝ(t))"),
  sensitivity: choice('--drop-sensitivity', SENSITIVITIES, 'SBLD sensitivity: skip_loss (M probe batches) | taylor (online EMA)'),
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
  alloc: choice('--drop-alloc', ALLOCS, 'SBLD allocation: proportional (water-filling by weight) | ordered (least sensitive first)'),
  lambda: { flag: '--drop-lambda', kind: 'number', help: 'SBLD PWEGD λ (x = λ·t/T), > 0' },
  c: { flag: '--drop-c', kind: 'number', help: 'SBLD PWEGD polynomial exponent c, ≥ 0' },
  thetaE: { flag: '--drop-theta-e', kind: 'number', help: 'SBLD PWEGD exponent θe, > 0 with c + 2θe > 1' },
  rhoPeak: { flag: '--drop-rho-peak', kind: 'number', words: ['match_pld'], help: "SBLD peak drop fraction ρ_peak in [0, 1]; match_pld = PLD's expected compute" },
  curve: choice('--drop-curve', CURVES, "SBLD time curve: pwegd | pld (ablation: PLD's 1 - exp(-γt) shape)"),
  useLists: { flag: '--drop-use-lists', kind: 'boolean', help: 'SBLD block/allow lists (false = ablation without lists)' },
  shuffleSensitivities: { flag: '--drop-shuffle-sensitivities', kind: 'boolean', help: 'SBLD ablation: permute measured sensitivities across layers (seeded)' },
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
