/**
 * SBLD's measured state [ours, docs/layer-dropping.md]: per-layer sensitivities, the block and allow lists
 * derived from them, and the history of measurements. The trainer owns the GPU side: it asks
 * `needsMeasurement(step)`, measures (skip_loss: (L+1)·M probe forwards; taylor: `taylorSnapshot()` of the
 * EMA it feeds with `updateTaylor` for layers that ran) and hands the values to `applyMeasurement`.
 * `keepProbabilities` (policy.ts) then reads the state; it never changes it. `toJSON` / `fromJSON`
 * round-trip the state for checkpoints.
 *
 * Measurement rule: first at t = T_pre, then every R steps after it when R > 0. New values (permuted by a
 * fixed seeded permutation in the shuffle ablation) are mixed s ← β·s + (1 - β)·s_new with the stored,
 * already clamped s, then clamped s_l ≥ eps·max(s). Layers are sorted by s descending (ties: lower index
 * first); B = the first n_block, A = the last n_allow (both empty when use_lists is off).
 */

import { Rng } from '../util/rng.js';
import type { ResolvedDropConfig } from './config.js';

/** The part of the config the state needs. */
export type SbldStateConfig = Pick<
  ResolvedDropConfig,
  | 'nLayer'
  | 'warmupSteps'
  | 'remeasureEvery'
  | 'beta'
  | 'eps'
  | 'nBlock'
  | 'nAllow'
  | 'useLists'
  | 'shuffleSensitivities'
  | 'shuffleSeed'
  | 'taylorDecay'
  | 'guard'
  | 'guardRetries'
  | 'guardMaxClamped'
>;

/** One measurement as recorded in the history. */
export interface SbldMeasurement {
  step: number;
  /** Values as measured, layer order, before shuffle, mixing and clamping. */
  values: number[];
  /** s after shuffle, mixing and clamping: what the allocator uses. */
  sensitivities: number[];
  block: number[];
  allow: number[];
  /** Wall-clock time the measurement took (counts in every wall-clock figure). */
  ms: number;
  /** What the clamp did (layers raised to eps·max(s), or no positive sensitivity at all). */
  note?: string;
  /** Layers raised to the clamp. */
  clamped?: number[];
  /** skip_loss: standard error of each layer's value over the probe batches. */
  stderr?: number[];
  /** The no-signal guard's verdict and what SBLD did with the measurement. */
  signal?: MeasurementSignal & { action: 'use' | 'retry' | 'fallback' };
  /** Taylor: the step the measurement fell due at, when it had to wait there for a step's estimate. */
  postponedFrom?: number;
}

/** Whether a measurement carries signal (`measurementSignal`), and if not, why. */
export interface MeasurementSignal {
  ok: boolean;
  /** Empty when ok. */
  reasons: string[];
}

/**
 * The no-signal guard's test of one measurement (raw values, before clamping; `stderr` per layer when the
 * measurement has one, skip_loss): no signal when no layer's value is positive, when more than `maxClamped`·L
 * layers fall below the clamp eps·max (they would tie, and the lists would order them by index), or when no
 * layer's value exceeds twice its standard error (the ordering is noise).
 */
export function measurementSignal(values: readonly number[], stderr: readonly number[] | undefined, eps: number, maxClamped: number): MeasurementSignal {
  const L = values.length;
  const reasons: string[] = [];
  const max = Math.max(...values);
  if (!(max > 0)) reasons.push("no layer's skip raises the loss");
  else {
    const k = values.filter((v) => v < eps * max).length;
    if (k > maxClamped * L) reasons.push(`${k} of ${L} layers at the clamp (more than ${maxClamped} of them)`);
  }
  if (stderr && stderr.length === L && stderr.every(Number.isFinite)) {
    if (!values.some((v, l) => v > 2 * stderr[l]!)) reasons.push('no layer above twice its standard error');
  }
  return { ok: reasons.length === 0, reasons };
}

/** What `keepProbabilities` reads: a read-only view of the state. */
export interface SbldView {
  readonly sensitivities: readonly number[] | null;
  readonly block: readonly number[];
  readonly allow: readonly number[];
}

/** Serialised state (plain JSON). */
export interface SbldStateJSON {
  version: 1;
  nLayer: number;
  sensitivities: number[] | null;
  block: number[];
  allow: number[];
  history: SbldMeasurement[];
  /** Taylor EMA per layer (null: never updated). */
  taylorEma: (number | null)[];
  /** Taylor updates per layer. */
  taylorCount: number[];
}

/**
 * Sorts by s descending (ties: lower layer index first) and splits off the lists:
 * B = the nBlock most sensitive, A = the nAllow least sensitive; both empty when `useLists` is false.
 */
export function computeLists(
  s: readonly number[],
  nBlock: number,
  nAllow: number,
  useLists: boolean,
): { block: number[]; allow: number[] } {
  if (!useLists) return { block: [], allow: [] };
  const order = s.map((_, l) => l).sort((a, b) => s[b]! - s[a]! || a - b);
  const block = order.slice(0, nBlock).sort((a, b) => a - b);
  // Config validation ensures nBlock + nAllow ≤ L; the max() keeps the lists disjoint regardless.
  const allow = order.slice(Math.max(nBlock, order.length - nAllow)).sort((a, b) => a - b);
  return { block, allow };
}

/** Fixed permutation of 0..n-1 from `seed` (Fisher-Yates over the seeded xoshiro128** generator). */
export function seededPermutation(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}

/**
 * Clamps s_l ≥ eps·max(s). If max(s) ≤ 0 (no layer's skip raises the loss) every layer is equally
 * droppable: all s_l = 1, with a note. When layers are raised to the clamp, the note says which: they tie,
 * so the allocator treats them alike and the lists order them by index.
 */
export function clampSensitivities(s: readonly number[], eps: number): { s: number[]; note?: string; clamped: number[] } {
  const max = Math.max(...s);
  if (!(max > 0)) {
    return { s: s.map(() => 1), note: `max sensitivity ${max} ≤ 0: every layer treated as equally droppable (s = 1)`, clamped: s.map((_, l) => l) };
  }
  const floor = eps * max;
  const clamped = s.flatMap((v, l) => (v < floor ? [l] : []));
  const out: { s: number[]; note?: string; clamped: number[] } = { s: s.map((v) => Math.max(v, floor)), clamped };
  if (clamped.length > 0) {
    out.note =
      `${clamped.length} of ${s.length} layers at the clamp eps·max(s) = ${floor.toPrecision(3)} (layers ${clamped.join(', ')}): ` +
      'they tie, so the allocator treats them alike and the lists order them by layer index';
  }
  return out;
}

export class SbldState implements SbldView {
  readonly cfg: SbldStateConfig;
  sensitivities: number[] | null = null;
  block: number[] = [];
  allow: number[] = [];
  history: SbldMeasurement[] = [];
  private taylorEma: (number | null)[];
  private taylorCount: number[];
  private perm: number[] | null;

  constructor(cfg: SbldStateConfig) {
    this.cfg = cfg;
    this.taylorEma = new Array<number | null>(cfg.nLayer).fill(null);
    this.taylorCount = new Array<number>(cfg.nLayer).fill(0);
    this.perm = cfg.shuffleSensitivities ? seededPermutation(cfg.nLayer, cfg.shuffleSeed) : null;
  }

  get nLayer(): number {
    return this.cfg.nLayer;
  }

  /** Step of the last measurement, or null. */
  get lastMeasuredStep(): number | null {
    return this.history.length > 0 ? this.history[this.history.length - 1]!.step : null;
  }

  /**
   * True at t = T_pre, at T_pre + k·R when R > 0, and at any t ≥ T_pre while nothing has been measured yet
   * (e.g. resumed from a checkpoint taken before T_pre); false again once step t has been measured.
   */
  needsMeasurement(step: number): boolean {
    const { warmupSteps, remeasureEvery } = this.cfg;
    if (step < warmupSteps || this.lastMeasuredStep === step) return false;
    if (this.sensitivities === null) return true;
    const retry = this.retryStep();
    if (retry !== null && step >= retry) return true;
    return remeasureEvery > 0 && (step - warmupSteps) % remeasureEvery === 0;
  }

  /**
   * Takes a measurement (values in layer order, as measured) taken at `step` in `ms` milliseconds: shuffle
   * (ablation), mix with β after the first, clamp, recompute the lists, record it. Returns the record.
   */
  applyMeasurement(step: number, values: readonly number[], ms: number, stderr?: readonly number[]): SbldMeasurement {
    const L = this.cfg.nLayer;
    if (values.length !== L) throw new Error(`SbldState.applyMeasurement: expected ${L} values, got ${values.length}`);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`SbldState.applyMeasurement: layer ${bad} sensitivity is ${values[bad]} at step ${step}`);
    if (!Number.isInteger(step) || step < 0) throw new Error(`SbldState.applyMeasurement: bad step ${step}`);
    const perm = this.perm;
    const fresh = perm ? perm.map((src) => values[src]!) : [...values];
    // A uniform fallback holds no measured information: the next measurement replaces it instead of mixing.
    const prev = this.usingFallback() ? null : this.sensitivities;
    const beta = this.cfg.beta;
    const mixed = prev ? fresh.map((v, l) => beta * prev[l]! + (1 - beta) * v) : fresh;
    const clampedResult = clampSensitivities(mixed, this.cfg.eps);
    const { note, clamped } = clampedResult;
    let { s } = clampedResult;
    let { block, allow } = computeLists(s, this.cfg.nBlock, this.cfg.nAllow, this.cfg.useLists);
    let signal: SbldMeasurement['signal'];
    if (this.cfg.guard) {
      const verdict = measurementSignal(mixed, prev ? undefined : stderr && (perm ? perm.map((src) => stderr[src]!) : [...stderr]), this.cfg.eps, this.cfg.guardMaxClamped);
      if (verdict.ok) signal = { ...verdict, action: 'use' };
      else {
        // No signal: allocate uniformly (PLD-like: every layer alike, no lists), and measure again if retries are left.
        const retriesUsed = this.retriesSinceUse();
        signal = { ...verdict, action: retriesUsed < this.cfg.guardRetries ? 'retry' : 'fallback' };
        s = s.map(() => 1);
        block = [];
        allow = [];
      }
    }
    this.sensitivities = s;
    this.block = block;
    this.allow = allow;
    const record: SbldMeasurement = { step, values: [...values], sensitivities: [...s], block: [...block], allow: [...allow], ms };
    if (note) record.note = note;
    if (clamped.length > 0) record.clamped = clamped;
    if (stderr && stderr.every(Number.isFinite)) record.stderr = [...stderr]; // M = 1 has none (and JSON has no NaN)
    if (signal) record.signal = signal;
    this.history.push(record);
    return record;
  }

  /** True while the allocation is the guard's uniform fallback (the last measurement had no signal). */
  usingFallback(): boolean {
    const last = this.history[this.history.length - 1];
    return !!last?.signal && last.signal.action !== 'use';
  }

  /** Re-measurements the guard has asked for since the last measurement it used. */
  private retriesSinceUse(): number {
    let n = 0;
    for (let i = this.history.length - 1; i >= 0; i--) {
      const a = this.history[i]!.signal?.action;
      if (a !== 'retry') break;
      n++;
    }
    return n;
  }

  /** The step of the guard's pending re-measurement: T_pre steps after a measurement it could not use. */
  private retryStep(): number | null {
    const last = this.history[this.history.length - 1];
    if (last?.signal?.action !== 'retry') return null;
    return last.step + Math.max(1, this.cfg.warmupSteps);
  }

  /** Taylor mode: ema_l ← d·ema_l + (1 - d)·value for a layer that ran (the first value sets ema_l). */
  updateTaylor(layer: number, value: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.cfg.nLayer) {
      throw new Error(`SbldState.updateTaylor: layer ${layer} out of range [0, ${this.cfg.nLayer})`);
    }
    if (!Number.isFinite(value)) throw new Error(`SbldState.updateTaylor: layer ${layer} value is ${value}`);
    const d = this.cfg.taylorDecay;
    const prev = this.taylorEma[layer]!;
    this.taylorEma[layer] = prev === null ? value : d * prev + (1 - d) * value;
    this.taylorCount[layer]! += 1;
  }

  /** True once some layer has a taylor update: a taylor measurement needs at least one step that ran. */
  hasTaylorEstimate(): boolean {
    return this.taylorEma.some((v) => v !== null);
  }

  /**
   * Current taylor EMA as a measurement to pass to `applyMeasurement`. A layer with no update yet (it never
   * ran) gets the largest EMA of the others, i.e. is treated as sensitive until seen. Throws if no layer
   * has an update (`hasTaylorEstimate`).
   */
  taylorSnapshot(): number[] {
    const known = this.taylorEma.filter((v): v is number => v !== null);
    if (known.length === 0) throw new Error('SbldState.taylorSnapshot: no layer has a taylor sensitivity yet');
    const fill = Math.max(...known);
    return this.taylorEma.map((v) => (v === null ? fill : v));
  }

  /** Taylor updates per layer so far. */
  taylorUpdates(): number[] {
    return [...this.taylorCount];
  }

  toJSON(): SbldStateJSON {
    return {
      version: 1,
      nLayer: this.cfg.nLayer,
      sensitivities: this.sensitivities ? [...this.sensitivities] : null,
      block: [...this.block],
      allow: [...this.allow],
      history: this.history.map((h) => structuredClone(h)),
      taylorEma: [...this.taylorEma],
      taylorCount: [...this.taylorCount],
    };
  }

  /** Restores a state saved by `toJSON` (e.g. `JSON.parse` of a checkpoint) for the same number of layers. */
  static fromJSON(cfg: SbldStateConfig, json: unknown): SbldState {
    const j = json as Partial<SbldStateJSON> | null;
    const fail = (why: string): never => {
      throw new Error(`SbldState.fromJSON: ${why}`);
    };
    if (!j || typeof j !== 'object') fail('not an object');
    if (j!.version !== 1) fail(`unsupported version ${String(j!.version)}`);
    if (j!.nLayer !== cfg.nLayer) fail(`state is for ${String(j!.nLayer)} layers, model has ${cfg.nLayer}`);
    const L = cfg.nLayer;
    const isLayerList = (v: unknown): v is number[] =>
      Array.isArray(v) && v.every((l) => Number.isInteger(l) && l >= 0 && l < L);
    if (j!.sensitivities !== null && !(Array.isArray(j!.sensitivities) && j!.sensitivities.length === L)) {
      fail('sensitivities must be null or one number per layer');
    }
    if (!isLayerList(j!.block) || !isLayerList(j!.allow)) fail('block/allow must be lists of layer indices');
    if (!Array.isArray(j!.history)) fail('history must be an array');
    if (!Array.isArray(j!.taylorEma) || j!.taylorEma.length !== L) fail('taylorEma must have one entry per layer');
    if (!Array.isArray(j!.taylorCount) || j!.taylorCount.length !== L) fail('taylorCount must have one entry per layer');
    const st = new SbldState(cfg);
    st.sensitivities = j!.sensitivities ? [...j!.sensitivities] : null;
    st.block = [...j!.block!];
    st.allow = [...j!.allow!];
    st.history = j!.history!.map((h) => structuredClone(h));
    st.taylorEma = [...j!.taylorEma!];
    st.taylorCount = [...j!.taylorCount!];
    return st;
  }
}
