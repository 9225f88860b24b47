/**
 * Layer dropping, pure part (no GPU): PLD reference values, LayerDrop, SBLD allocation, PWEGD schedule,
 * equal-compute ρ_peak, seeded draws, config validation, SBLD state.
 * Run: npx vitest run --config test/vitest.config.ts test/drop
 */

import { describe, expect, it } from 'vitest';

import {
  DEFAULT_DROP_CONFIG,
  DROP_FLAGS,
  DropConfigError,
  SbldState,
  clampSensitivities,
  measurementSignal,
  allocateKeep,
  drawPlan,
  keepProbabilities,
  matchPldRhoPeak,
  orderedFill,
  parseDropFlag,
  planBitString,
  pldExpectedDropFraction,
  pldLayerLists,
  pldTheta,
  pldTotalDropped,
  pwegdMax,
  resolveDropConfig,
  sbldCapacityLayers,
  scheduledTotalDropped,
  seededPermutation,
  shapeFromConfig,
  timeShape,
  waterFill,
} from '../src/drop/index.js';
import type { AllocationInput, DropConfig, ResolvedDropConfig } from '../src/drop/index.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const T = 1000;

/** Asserts that `fn` throws a DropConfigError whose message contains every fragment. */
function expectRefused(fn: () => unknown, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DropConfigError);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

describe('PLD [ref]', () => {
  it('per-layer keep and scale at θ = 0.5, L = 12 match the reference formulas (with the off-by-one)', () => {
    const { delta, keep, scale } = pldLayerLists(0.5, 12);
    expect(delta).toBeCloseTo(0.5 / 12, 15);
    const d = 1 / 24;
    for (let i = 0; i < 12; i++) {
      expect(keep[i]).toBeCloseTo(1 - i * d, 15);
      expect(scale[i]).toBeCloseTo(1 / (1 - (i + 1) * d), 15);
    }
    expect(keep[0]).toBe(1); // layer 0 always runs
    expect(keep[11]).toBeCloseTo(13 / 24, 15);
    expect(scale[0]).toBeCloseTo(24 / 23, 15); // off-by-one: layer 0 (always kept) is still scaled
    expect(scale[11]).toBeCloseTo(2, 15); // 1/θ
    const dropped = sum(keep.map((p) => 1 - p)) / 12;
    expect(dropped).toBeCloseTo((0.5 * 11) / 24, 15);
    expect(pldExpectedDropFraction(0.5, 12)).toBeCloseTo(0.2291666666666667, 15);
  });

  it('θ(0) = 1 and θ(T) ≈ θ̄ with γ = 200/T', () => {
    const cfg = resolveDropConfig({ policy: 'pld' }, { nLayer: 12, totalSteps: T });
    expect(cfg.gamma).toBeCloseTo(0.2, 15);
    expect(pldTheta(0, cfg)).toBe(1);
    expect(pldTheta(T, cfg)).toBeCloseTo(0.5, 12);
    const p0 = keepProbabilities(cfg, 0, null);
    expect(p0.keep).toEqual(new Array(12).fill(1));
    const pT = keepProbabilities(cfg, T, null);
    expect(1 - pT.expectedKeptFraction).toBeCloseTo(0.2291666, 6);
    expect(pT.scale[11]).toBeCloseTo(2, 6); // inverse_keep is PLD's own formula by default
    const noRescale = resolveDropConfig({ policy: 'pld', rescale: 'none' }, { nLayer: 12, totalSteps: T });
    expect(keepProbabilities(noRescale, T, null).scale).toEqual(new Array(12).fill(1));
  });

  it('explicit γ overrides γ·T', () => {
    const cfg = resolveDropConfig({ policy: 'pld', gamma: 0.001 }, { nLayer: 12, totalSteps: T });
    expect(cfg.gamma).toBe(0.001);
  });
});

describe('LayerDrop and none', () => {
  it('layerdrop keeps 1 - r everywhere, unscaled by default', () => {
    const cfg = resolveDropConfig({ policy: 'layerdrop' }, { nLayer: 7, totalSteps: T });
    for (const t of [0, 10, 999]) {
      const p = keepProbabilities(cfg, t, null);
      expect(p.keep).toEqual(new Array(7).fill(0.8));
      expect(p.scale).toEqual(new Array(7).fill(1));
      expect(p.expectedKeptFraction).toBeCloseTo(0.8, 15);
    }
    const inv = resolveDropConfig({ policy: 'layerdrop', rate: 0.25, rescale: 'inverse_keep' }, { nLayer: 3, totalSteps: T });
    expect(keepProbabilities(inv, 5, null).scale).toEqual([4 / 3, 4 / 3, 4 / 3]);
  });

  it('none keeps every layer', () => {
    const cfg = resolveDropConfig({}, { nLayer: 4, totalSteps: T });
    expect(cfg.policy).toBe('none');
    expect(keepProbabilities(cfg, 500, null)).toEqual({ keep: [1, 1, 1, 1], scale: [1, 1, 1, 1], expectedKeptFraction: 1 });
  });
});

describe('SBLD allocation', () => {
  const L = 12;
  // Sensitivities: layer 0 most sensitive, layer 11 least; lists as computed for n_block = n_allow = 3.
  const s = Array.from({ length: L }, (_, l) => 1 / (l + 1));
  const base: AllocationInput = { sensitivities: s, block: [0, 1, 2], allow: [9, 10, 11], alpha: 1, kappa: 2, qMax: 0.5, alloc: 'proportional' };

  it('water-filling sums to D, never exceeds the cap, block list always keeps 1', () => {
    for (const D of [0, 0.3, 1, 2.5, 3.7, 4.4]) {
      const a = allocateKeep(D, base);
      expect(a.dropped).toBeCloseTo(D, 12);
      expect(a.capped).toBe(false);
      for (const q of a.drop) expect(q).toBeLessThanOrEqual(0.5);
      for (const l of base.block) expect(a.keep[l]).toBe(1);
      for (let l = 0; l < L; l++) expect(a.keep[l]).toBeCloseTo(1 - a.drop[l]!, 15);
    }
  });

  it('below the cap, q is proportional to w = s^-α (× κ on the allow list)', () => {
    const a = allocateKeep(1, base);
    // Ordinary layers 3..8 have w = l+1, allow layers 9..11 w = 2(l+1).
    const w = s.map((_, l) => (l < 3 ? 0 : (l + 1) * (l >= 9 ? 2 : 1)));
    for (let l = 0; l < L; l++) expect(a.drop[l]).toBeCloseTo(w[l]! / sum(w), 12);
  });

  it('water-filling pins capped layers and shares the rest in proportion', () => {
    const q = waterFill([1, 1, 8], 1.2, 0.5);
    expect(q[2]).toBe(0.5);
    expect(q[0]).toBeCloseTo(0.35, 15);
    expect(q[1]).toBeCloseTo(0.35, 15);
    // Cascade: pinning the biggest pushes the next over the cap.
    const q2 = waterFill([1, 3, 6], 1.3, 0.5);
    expect(q2).toEqual([0.30000000000000004, 0.5, 0.5]);
  });

  it('allow-list layers drop more than ordinary layers of equal sensitivity', () => {
    const flat = new Array(L).fill(1);
    const a = allocateKeep(2, { ...base, sensitivities: flat });
    expect(a.drop[9]).toBeCloseTo(2 * a.drop[5]!, 12);
    expect(a.drop[9]!).toBeGreaterThan(a.drop[5]!);
  });

  it('unreachable D is reported and capacity is dropped instead', () => {
    const a = allocateKeep(6, base); // capacity 0.5 × 9 = 4.5
    expect(a.capped).toBe(true);
    expect(a.capacity).toBe(4.5);
    expect(a.dropped).toBeCloseTo(4.5, 12);
    expect(a.note).toMatch(/exceeds the cap capacity 4\.500/);
    for (const l of base.block) expect(a.keep[l]).toBe(1);
  });

  it('ordered fills the least sensitive eligible layers to the cap first', () => {
    const a = allocateKeep(1.7, { ...base, alloc: 'ordered' });
    expect(a.drop.slice(0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(a.drop[8]).toBeCloseTo(0.2, 12);
    expect(a.drop.slice(9)).toEqual([0.5, 0.5, 0.5]);
    // Without lists it still skips nobody but respects sensitivity order (non-monotone layer order here).
    const q = orderedFill([1, 1, 1], [0.3, 0.1, 0.2], 0.8, 0.5);
    expect(q).toEqual([0, 0.5, 0.30000000000000004]);
  });
});

describe('SBLD schedule (PWEGD)', () => {
  const cfg = resolveDropConfig({ policy: 'sbld' }, { nLayer: 12, totalSteps: T });
  const shape = shapeFromConfig(cfg, 'pwegd');
  const g = Array.from({ length: T + 1 }, (_, t) => timeShape(t, shape));

  it('is 0 before T_pre, peaks at 1 mid-run, tapers at the end, rises then falls', () => {
    expect(cfg.warmupSteps).toBe(50);
    for (let t = 0; t < 50; t++) expect(g[t]).toBe(0);
    const max = Math.max(...g);
    const argmax = g.indexOf(max);
    expect(max).toBeGreaterThan(0.9999);
    expect(max).toBeLessThanOrEqual(1 + 1e-12);
    expect(argmax).toBeGreaterThan(0.3 * T);
    expect(argmax).toBeLessThan(0.6 * T);
    expect(argmax).toBeCloseTo((pwegdMax(cfg).x / cfg.lambda) * T, -1);
    expect(g[T]!).toBeLessThan(0.5);
    for (let t = 51; t <= argmax; t++) expect(g[t]!).toBeGreaterThanOrEqual(g[t - 1]!);
    for (let t = argmax + 1; t <= T; t++) expect(g[t]!).toBeLessThanOrEqual(g[t - 1]!);
  });

  it('pwegd max is found on the analytic stationary point', () => {
    // c = 1, θe = 2: g = x²e^{-x}(1 - (1+x)e^{-x}); d log g/dx = 2/x - 1 + x e^{-x}/(1 - (1+x)e^{-x}) = 0.
    const { x } = pwegdMax({ lambda: 6, c: 1, thetaE: 2 });
    const dlog = 2 / x - 1 + (x * Math.exp(-x)) / (1 - (1 + x) * Math.exp(-x)); // written out independently
    expect(Math.abs(dlog)).toBeLessThan(1e-9);
  });

  it('match_pld gives SBLD the same expected compute as PLD (summed over every step)', () => {
    for (const L of [12, 16]) {
      for (const extra of [{}, { useLists: false }, { curve: 'pld' as const }, { qMax: 0.4 }]) {
        const sbld = resolveDropConfig({ policy: 'sbld', ...extra }, { nLayer: L, totalSteps: T });
        const pld = resolveDropConfig({ policy: 'pld' }, { nLayer: L, totalSteps: T });
        expect(sbld.rhoMatch?.reachable).toBe(true);
        const a = scheduledTotalDropped(sbld);
        const b = scheduledTotalDropped(pld);
        expect(Math.abs(a - b) / b).toBeLessThan(1e-3);
        // Independent check: sum keepProbabilities over all steps with a measured state.
        if (Object.keys(extra).length === 0) {
          const st = new SbldState(sbld);
          st.applyMeasurement(sbld.warmupSteps, Array.from({ length: L }, (_, l) => 1 + ((l * 7) % 5)), 0);
          let dropS = 0;
          let dropP = 0;
          for (let t = 0; t < T; t++) {
            dropS += L * (1 - keepProbabilities(sbld, t, st).expectedKeptFraction);
            dropP += L * (1 - keepProbabilities(pld, t, null).expectedKeptFraction);
          }
          expect(Math.abs(dropS - dropP) / dropP).toBeLessThan(1e-3);
        }
      }
    }
  });

  it('the match accounts for the cap (ρ_peak above the uncapped solution) and reports unreachable targets', () => {
    const sbld = resolveDropConfig({ policy: 'sbld' }, { nLayer: 12, totalSteps: T });
    const noCap = matchPldRhoPeak(12, T, sbld, { shape: shapeFromConfig(sbld, 'pwegd'), capacityLayers: Infinity });
    expect(sbld.rhoPeak).toBeGreaterThan(noCap.rhoPeak); // L·ρ_peak = 4.93 > capacity 4.5 near the peak
    const tight = resolveDropConfig({ policy: 'sbld', qMax: 0.2 }, { nLayer: 12, totalSteps: T });
    expect(tight.rhoMatch?.reachable).toBe(false);
    expect(tight.rhoMatch?.note).toMatch(/unreachable/);
    expect(tight.rhoPeak).toBe(1);
    expect(tight.rhoMatch!.sbldDropped).toBeLessThan(pldTotalDropped(12, T, tight));
    expect(sbldCapacityLayers(tight)).toBeCloseTo(0.2 * 9, 12);
  });

  it('PLD with the SBLD curve matches PLD compute and keeps θ > 0', () => {
    const cfg = resolveDropConfig({ policy: 'pld', pldCurve: 'pwegd' }, { nLayer: 12, totalSteps: T });
    const pld = resolveDropConfig({ policy: 'pld' }, { nLayer: 12, totalSteps: T });
    expect(Math.abs(scheduledTotalDropped(cfg) / scheduledTotalDropped(pld) - 1)).toBeLessThan(1e-3);
    expect(keepProbabilities(cfg, 10, null).keep).toEqual(new Array(12).fill(1)); // before T_pre
    expectRefused(() => resolveDropConfig({ policy: 'pld', pldCurve: 'pwegd', rhoPeak: 0.5 }, { nLayer: 12, totalSteps: T }), '--drop-rho-peak', '--drop-pld-curve');
  });
});

describe('SBLD policy', () => {
  const L = 12;
  const cfg = resolveDropConfig({ policy: 'sbld', remeasureEvery: 100 }, { nLayer: L, totalSteps: T });

  it('runs every layer during warm-up and before the first measurement', () => {
    const st = new SbldState(cfg);
    expect(keepProbabilities(cfg, 10, st).note).toMatch(/warm-up/);
    const p = keepProbabilities(cfg, 400, st);
    expect(p.keep).toEqual(new Array(L).fill(1));
    expect(p.note).toMatch(/no sensitivities/);
    expect(() => keepProbabilities(cfg, 400, null)).toThrow(/SbldState/);
  });

  it('after measurement drops L·ρ(t) layers, block list kept, scale 1 by default (1/p with inverse_keep)', () => {
    const st = new SbldState(cfg);
    st.applyMeasurement(50, Array.from({ length: L }, (_, l) => 12 - l), 3.5);
    expect(st.block).toEqual([0, 1, 2]);
    expect(st.allow).toEqual([9, 10, 11]);
    const t = 250;
    const p = keepProbabilities(cfg, t, st);
    const rho = cfg.rhoPeak * timeShape(t, shapeFromConfig(cfg, 'pwegd'));
    expect(L * (1 - p.expectedKeptFraction)).toBeCloseTo(Math.min(L * rho, 4.5), 10);
    expect(p.keep.slice(0, 3)).toEqual([1, 1, 1]);
    expect(p.scale).toEqual(new Array(L).fill(1));
    const inv = resolveDropConfig({ policy: 'sbld', rescale: 'inverse_keep' }, { nLayer: L, totalSteps: T });
    const pi = keepProbabilities(inv, t, st);
    for (let l = 0; l < L; l++) expect(pi.scale[l]).toBeCloseTo(1 / pi.keep[l]!, 12);
    // Pure: same inputs, same output; the state is unchanged.
    const before = JSON.stringify(st);
    expect(keepProbabilities(cfg, t, st)).toEqual(p);
    expect(JSON.stringify(st)).toBe(before);
  });
});

describe('draws', () => {
  it('are deterministic in (seed, step, micro-batch, layer)', () => {
    const keep = [1, 0.5, 0.5, 0.2, 0];
    const a = drawPlan(keep, 7, 123, 2);
    expect(drawPlan(keep, 7, 123, 2)).toEqual(a);
    expect(a[0]).toBe(true);
    expect(a[4]).toBe(false);
    const others = [drawPlan(keep, 8, 123, 2), drawPlan(keep, 7, 124, 2), drawPlan(keep, 7, 123, 3)];
    expect(others.some((o) => planBitString(o) !== planBitString(a))).toBe(true);
  });

  it('run at the keep probability (10k draws within 3σ)', () => {
    const keep = [0.9, 0.5, 0.2, 0.75];
    const n = 10_000;
    const runs = keep.map(() => 0);
    for (let i = 0; i < n; i++) {
      const plan = drawPlan(keep, 42, Math.floor(i / 4), i % 4);
      plan.forEach((r, l) => (runs[l]! += r ? 1 : 0));
    }
    keep.forEach((p, l) => {
      const sigma = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(runs[l]! - n * p)).toBeLessThan(3 * sigma);
    });
  });

  it('planBitString writes layer 0 first', () => {
    expect(planBitString([true, false, true, true])).toBe('1011');
  });
});

describe('config validation', () => {
  const ctx = { nLayer: 12, totalSteps: T };

  it('resolves the L- and T-dependent defaults', () => {
    const cfg = resolveDropConfig({ policy: 'sbld' }, ctx);
    expect([cfg.nBlock, cfg.nAllow, cfg.warmupSteps, cfg.rescale, cfg.rhoPeakSource]).toEqual([3, 3, 50, 'none', 'match_pld']);
    expect(resolveDropConfig({ policy: 'sbld' }, { nLayer: 2, totalSteps: T }).nBlock).toBe(1);
    expect(resolveDropConfig({ policy: 'sbld', rhoPeak: 0.3 }, ctx).rhoPeak).toBe(0.3);
  });

  it("drop scope: 'layer' by default; 'backward' rescales nothing (auto) and refuses inverse_keep", () => {
    expect(resolveDropConfig({ policy: 'pld' }, ctx).scope).toBe('layer');
    expect(resolveDropConfig({ policy: 'pld' }, ctx).rescale).toBe('inverse_keep');
    expect(resolveDropConfig({ policy: 'pld', scope: 'backward' }, ctx).rescale).toBe('none');
    expectRefused(() => resolveDropConfig({ policy: 'pld', scope: 'backward', rescale: 'inverse_keep' }, ctx), '--drop-rescale', '--drop-scope backward');
    expectRefused(() => resolveDropConfig({ scope: 'forward' as never }, ctx), '--drop-scope', 'layer, backward');
  });

  it('refuses unknown policies, listing the valid ones', () => {
    expectRefused(() => resolveDropConfig({ policy: 'stochastic_depth' as never }, ctx), '--drop-policy', 'none, layerdrop, pld, sbld');
  });

  it('refuses probabilities and rates outside their ranges, naming the flag', () => {
    expectRefused(() => resolveDropConfig({ rate: 1.2 }, ctx), '--drop-rate', '[0, 1)');
    expectRefused(() => resolveDropConfig({ rate: -0.1 }, ctx), '--drop-rate');
    expectRefused(() => resolveDropConfig({ thetaBar: 0 }, ctx), '--drop-theta-bar');
    expectRefused(() => resolveDropConfig({ qMax: 0 }, ctx), '--drop-q-max', '(0, 1]');
    expectRefused(() => resolveDropConfig({ qMax: 1.5 }, ctx), '--drop-q-max');
    expectRefused(() => resolveDropConfig({ beta: 2 }, ctx), '--drop-beta');
    expectRefused(() => resolveDropConfig({ rhoPeak: 1.1 }, ctx), '--drop-rho-peak');
    expectRefused(() => resolveDropConfig({ warmupFrac: 1 }, ctx), '--drop-warmup-frac');
    expectRefused(() => resolveDropConfig({ lambda: 0 }, ctx), '--drop-lambda');
    expectRefused(() => resolveDropConfig({ lambda: -1 }, ctx), '--drop-lambda');
    expectRefused(() => resolveDropConfig({ rate: Number.NaN }, ctx), '--drop-rate');
  });

  it('refuses lists larger than L and negative sizes', () => {
    expectRefused(() => resolveDropConfig({ nBlock: 8, nAllow: 5 }, ctx), '--drop-n-block', '--drop-n-allow', 'L = 12');
    expectRefused(() => resolveDropConfig({ nBlock: -1 }, ctx), '--drop-n-block');
    expectRefused(() => resolveDropConfig({ nAllow: 1.5 }, ctx), '--drop-n-allow');
  });

  it('lists every problem at once and refuses unknown keys', () => {
    let err: DropConfigError | undefined;
    try {
      resolveDropConfig({ rate: 2, qMax: 0, nblock: 3 } as Partial<DropConfig>, ctx);
    } catch (e) {
      err = e as DropConfigError;
    }
    expect(err?.problems.length).toBe(3);
    expect(err?.message).toMatch(/unknown layer-dropping option 'nblock'/);
  });

  it('has a flag for every key, and parses CLI values', () => {
    expect(Object.keys(DROP_FLAGS).sort()).toEqual(Object.keys(DEFAULT_DROP_CONFIG).sort());
    for (const spec of Object.values(DROP_FLAGS)) expect(spec.flag).toMatch(/^--drop-[a-z-]+$/);
    expect(parseDropFlag('rate', '0.3')).toBe(0.3);
    expect(parseDropFlag('nBlock', 'auto')).toBe('auto');
    expect(parseDropFlag('rhoPeak', 'match_pld')).toBe('match_pld');
    expect(parseDropFlag('useLists', 'false')).toBe(false);
    expect(parseDropFlag('policy', 'sbld')).toBe('sbld');
    expectRefused(() => parseDropFlag('nBlock', '2.5'), '--drop-n-block', 'integer');
    expectRefused(() => parseDropFlag('policy', 'foo'), '--drop-policy', 'none, layerdrop, pld, sbld');
    expectRefused(() => parseDropFlag('rate', 'abc'), '--drop-rate');
  });
});

describe('SBLD state', () => {
  const L = 6;
  const mk = (extra: Partial<DropConfig> = {}): ResolvedDropConfig =>
    resolveDropConfig({ policy: 'sbld', nBlock: 1, nAllow: 2, ...extra }, { nLayer: L, totalSteps: T });

  it('needsMeasurement: at T_pre, every R after, and catches up if nothing was measured', () => {
    const once = new SbldState(mk());
    expect(once.needsMeasurement(49)).toBe(false);
    expect(once.needsMeasurement(50)).toBe(true);
    expect(once.needsMeasurement(70)).toBe(true); // never measured yet (e.g. resumed past T_pre)
    once.applyMeasurement(50, [1, 2, 3, 4, 5, 6], 1);
    expect(once.needsMeasurement(50)).toBe(false);
    expect(once.needsMeasurement(150)).toBe(false);
    const periodic = new SbldState(mk({ remeasureEvery: 100 }));
    periodic.applyMeasurement(50, [1, 2, 3, 4, 5, 6], 1);
    expect([100, 149, 150, 151, 250].map((t) => periodic.needsMeasurement(t))).toEqual([false, false, true, false, true]);
  });

  it('clamps at eps·max (a skip that lowers the loss becomes the most droppable) and builds lists', () => {
    const st = new SbldState(mk());
    const m = st.applyMeasurement(50, [0.5, -0.2, 2, 0.00001, 1, 0.3], 12);
    expect(m.sensitivities).toEqual([0.5, 2e-4, 2, 2e-4, 1, 0.3]);
    expect(st.block).toEqual([2]);
    expect(st.allow).toEqual([1, 3]); // the two clamped layers (tie: both at the floor)
    expect(m.ms).toBe(12);
    const allNeg = new SbldState(mk()).applyMeasurement(50, [-1, -2, -3, -1, -1, -1], 0);
    expect(allNeg.sensitivities).toEqual([1, 1, 1, 1, 1, 1]);
    expect(allNeg.note).toMatch(/equally droppable/);
    const some = clampSensitivities([0.5, -0.1, 1e-6, 1], 1e-4);
    expect(some.clamped).toEqual([1, 2]);
    expect(some.note).toMatch(/2 of 4 layers at the clamp eps·max\(s\) = 0\.000100 \(layers 1, 2\)/);
    expect(clampSensitivities([0.5, 1], 1e-4).note).toBeUndefined();
  });

  it('the no-signal guard: measurementSignal says why a measurement does not separate the layers', () => {
    expect(measurementSignal([0.3, 0.1, 0.2, 0.05], [0.01, 0.01, 0.01, 0.01], 1e-4, 0.5)).toEqual({ ok: true, reasons: [] });
    expect(measurementSignal([-0.1, -0.2, 0, -0.3], undefined, 1e-4, 0.5).reasons).toEqual(["no layer's skip raises the loss"]);
    expect(measurementSignal([0.3, -0.1, -0.2, 0], undefined, 1e-4, 0.5).reasons).toEqual(['3 of 4 layers at the clamp (more than 0.5 of them)']);
    expect(measurementSignal([0.3, -0.1, 0.2, 0], undefined, 1e-4, 0.5).ok).toBe(true); // 2 of 4: not more than half
    expect(measurementSignal([0.03, 0.01, 0.02, 0.05], [0.02, 0.02, 0.02, 0.03], 1e-4, 0.5).reasons).toEqual(['no layer above twice its standard error']);
    // Without a noise estimate (taylor, one probe batch) only the clamp tests apply.
    expect(measurementSignal([0.03, 0.01, 0.02, 0.05], [NaN, NaN, NaN, NaN], 1e-4, 0.5).ok).toBe(true);
  });

  it('the guard: no signal -> uniform allocation and a re-measurement T_pre steps later, up to the retries; then uniform for good', () => {
    const st = new SbldState(mk({ guardRetries: 1 }));
    const Tpre = mk().warmupSteps;
    const noisy = [0.001, -0.001, 0.002, 0.0005, -0.002, 0.001];
    const se = new Array(6).fill(0.01);
    const a = st.applyMeasurement(Tpre, noisy, 5, se);
    expect(a.signal).toEqual({ ok: false, reasons: ['no layer above twice its standard error'], action: 'retry' });
    expect([st.sensitivities, st.block, st.allow]).toEqual([[1, 1, 1, 1, 1, 1], [], []]);
    expect(st.usingFallback()).toBe(true);
    // Uniform allocation in the meantime: every droppable layer alike.
    const cfg = mk({ guardRetries: 1 });
    const k = keepProbabilities(cfg, Math.round(0.44 * T), st).keep;
    expect(Math.max(...k) - Math.min(...k)).toBeLessThan(1e-12);
    expect(st.needsMeasurement(Tpre + 1)).toBe(false);
    expect(st.needsMeasurement(2 * Tpre)).toBe(true);
    const b = st.applyMeasurement(2 * Tpre, noisy, 5, se);
    expect(b.signal!.action).toBe('fallback'); // the one retry is spent
    expect(st.needsMeasurement(3 * Tpre)).toBe(false);
    expect(st.needsMeasurement(T - 1)).toBe(false);
    expect(st.sensitivities).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('the guard: a re-measurement with signal is used as measured (not mixed with the uniform fallback); the state round-trips', () => {
    const st = new SbldState(mk({ beta: 0.5 }));
    const Tpre = mk().warmupSteps;
    st.applyMeasurement(Tpre, [0.3, -0.1, -0.2, -0.1, 0.2, -0.3], 5);
    expect(st.history[0]!.signal!.reasons[0]).toMatch(/4 of 6 layers at the clamp/);
    const back = SbldState.fromJSON(mk({ beta: 0.5 }), JSON.parse(JSON.stringify(st.toJSON())));
    expect(back.needsMeasurement(2 * Tpre)).toBe(true);
    const good = [0.5, 0.1, 0.2, 0.05, 0.3, 0.4];
    const r = back.applyMeasurement(2 * Tpre, good, 5, new Array(6).fill(0.01));
    expect(r.signal!.action).toBe('use');
    expect(r.sensitivities).toEqual(good);
    expect(back.block).toEqual([0]);
    expect(back.usingFallback()).toBe(false);
    expect(back.needsMeasurement(3 * Tpre)).toBe(false);
  });

  it('the guard off: every measurement is used as before', () => {
    const st = new SbldState(mk({ guard: false }));
    const m = st.applyMeasurement(mk().warmupSteps, [0.3, -0.1, -0.2, -0.1, 0.2, -0.3], 5);
    expect(m.signal).toBeUndefined();
    expect(st.block).toEqual([0]);
  });

  it('mixes s ← β·s + (1-β)·s_new after the first measurement', () => {
    const st = new SbldState(mk({ remeasureEvery: 100, beta: 0.25 }));
    st.applyMeasurement(50, [1, 2, 3, 4, 5, 6], 0);
    st.applyMeasurement(150, [6, 5, 4, 3, 2, 1], 0);
    const want = [1, 2, 3, 4, 5, 6].map((v, l) => 0.25 * v + 0.75 * (6 - l));
    st.sensitivities!.forEach((v, l) => expect(v).toBeCloseTo(want[l]!, 15));
    expect(st.history.map((h) => h.step)).toEqual([50, 150]);
    expect(st.history[1]!.values).toEqual([6, 5, 4, 3, 2, 1]);
  });

  it('shuffle ablation applies one fixed seeded permutation', () => {
    const perm = seededPermutation(L, 3);
    expect([...perm].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seededPermutation(L, 3)).toEqual(perm);
    const st = new SbldState(mk({ shuffleSensitivities: true, shuffleSeed: 3 }));
    const v = [1, 2, 3, 4, 5, 6];
    st.applyMeasurement(50, v, 0);
    expect(st.sensitivities).toEqual(perm.map((src) => v[src]));
  });

  it('without lists nothing is blocked', () => {
    const st = new SbldState(mk({ useLists: false }));
    st.applyMeasurement(50, [1, 2, 3, 4, 5, 6], 0);
    expect([st.block, st.allow]).toEqual([[], []]);
  });

  it('taylor EMA updates only the layers given, snapshot fills unseen layers with the max', () => {
    const st = new SbldState(mk({ sensitivity: 'taylor', taylorDecay: 0.9 }));
    expect(() => st.taylorSnapshot()).toThrow(/no layer/);
    st.updateTaylor(0, 1);
    st.updateTaylor(0, 2);
    st.updateTaylor(2, 5);
    const snap = st.taylorSnapshot();
    expect(snap[0]).toBeCloseTo(0.9 * 1 + 0.1 * 2, 15);
    expect(snap[2]).toBe(5);
    expect(snap[1]).toBe(5);
    expect(st.taylorUpdates()).toEqual([2, 0, 1, 0, 0, 0]);
    expect(() => st.updateTaylor(6, 1)).toThrow(/out of range/);
  });

  it('JSON round trip restores everything', () => {
    const cfg = mk({ remeasureEvery: 100 });
    const st = new SbldState(cfg);
    st.updateTaylor(1, 0.5);
    st.applyMeasurement(50, [0.1, 0.2, 0.3, -1, 0.5, 0.6], 7);
    st.applyMeasurement(150, [0.6, 0.5, 0.4, 0.3, 0.2, 0.1], 8);
    const back = SbldState.fromJSON(cfg, JSON.parse(JSON.stringify(st)));
    expect(back.toJSON()).toEqual(st.toJSON());
    expect(keepProbabilities(cfg, 400, back)).toEqual(keepProbabilities(cfg, 400, st));
    expect(back.needsMeasurement(250)).toBe(true);
    expect(back.needsMeasurement(150)).toBe(false);
    expect(() => SbldState.fromJSON(mk({}), { ...st.toJSON(), nLayer: 5 })).toThrow(/5 layers/);
    expect(() => new SbldState(cfg).applyMeasurement(50, [1, 2], 0)).toThrow(/expected 6 values/);
    expect(() => new SbldState(cfg).applyMeasurement(50, [1, 2, 3, 4, 5, Number.NaN], 0)).toThrow(/layer 5/);
  });
});
