/**
 * Layer dropping end to end: a short SBLD run on the tiny preset measures sensitivities once warm-up ends
 * (a metrics.jsonl 'sensitivity' line), then skips layers; its logged plans are replayed exactly from the
 * logged measurement with the pure policy (and differ when the sensitivities are swapped), the block-list
 * layer never skips, and the summary's skipped fraction matches the step lines. Policy 'none' never skips;
 * PLD (pure policy, many draws) skips deeper layers more often. Bad hyperparameters are refused at the config
 * boundary with messages that name the flag.
 * Run: npx vitest run --config test/vitest.config.ts test/sbld_run.test.ts
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DropConfig } from '../src/drop/config.js';
import { DropConfigError } from '../src/drop/flags.js';
import { resolveDropConfig } from '../src/drop/resolve.js';
import { drawPlan, keepProbabilities, planBitString } from '../src/drop/policy.js';
import { SbldState } from '../src/drop/sbld.js';
import type { Engine } from '../src/runtime/engine.js';
import { ConfigError, type TrainConfig } from '../src/train/config.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { readConfigFile } from '../src/cli/config-file.js';
import { runTraining, type RunSummary } from '../src/tasks/gpt/run.js';
import { getEngine } from './helpers/gpu.js';
import { layerDroppingLine } from '../src/cli/summary.js';

let e: Engine;
let root: string;

beforeAll(async () => {
  e = await getEngine();
  root = mkdtempSync(join(tmpdir(), 'sbld-run-test-'));
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

interface StepLine {
  step: number;
  loss: number;
  layers: string;
  expected_kept: number;
}

interface SensitivityLine {
  type: 'sensitivity';
  step: number;
  values: number[];
  sensitivities: number[];
  block: number[];
  allow: number[];
  ms: number;
}

interface Metrics {
  steps: StepLine[];
  sensitivity: SensitivityLine[];
  summary: RunSummary;
}

function readMetrics(out: string): Metrics {
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type?: string });
  return {
    steps: lines.filter((l) => l.type === undefined) as unknown as StepLine[],
    sensitivity: lines.filter((l) => l.type === 'sensitivity') as unknown as SensitivityLine[],
    summary: lines.find((l) => l.type === 'summary') as unknown as RunSummary,
  };
}

/** A tiny-preset run config: no mid-run eval, one checkpoint at the end, no sample. */
function tinyConfig(name: string, steps: number, drop: Partial<DropConfig>): TrainConfig {
  return resolveConfig(
    {},
    { preset: 'tiny', steps, warmupSteps: 2, evalEvery: 0, evalBatches: 1, checkpointEvery: 0, sampleTokens: 0, out: join(root, name), drop },
  );
}

/** The fraction of '0's over all step lines' plan bit strings. */
function skippedFraction(steps: readonly StepLine[]): number {
  const bits = steps.map((s) => s.layers.replace(/ /g, '')).join('');
  return (bits.match(/0/g)?.length ?? 0) / bits.length;
}

describe('a short SBLD run', () => {
  const STEPS = 40;
  let cfg: TrainConfig;
  let m: Metrics;

  beforeAll(async () => {
    cfg = tinyConfig('sbld', STEPS, { policy: 'sbld', warmupFrac: 0.1, probeBatches: 2 });
    await runTraining(cfg, { quiet: true, engine: e });
    m = readMetrics(cfg.out);
  });

  it('measures sensitivities once, at T_pre, and logs values, lists and time', () => {
    const L = cfg.n_layer;
    const drop = resolveDropConfig(cfg.drop, { nLayer: L, totalSteps: STEPS });
    expect(drop.warmupSteps).toBe(4);
    expect(m.sensitivity.length).toBe(1); // remeasureEvery 0: once
    const s = m.sensitivity[0]!;
    expect(s.step).toBe(drop.warmupSteps);
    expect(s.values.length).toBe(L);
    expect(s.values.every(Number.isFinite)).toBe(true);
    expect(s.sensitivities.length).toBe(L);
    expect(s.ms).toBeGreaterThan(0);
    // The noise estimate (2 probe batches) and the guard's verdict are logged with it.
    const logged = s as SensitivityLine & { stderr: number[]; signal: { ok: boolean; action: string } };
    expect(logged.stderr.length).toBe(L);
    expect(logged.stderr.every((x) => x >= 0)).toBe(true);
    expect(logged.signal.action).toBe(logged.signal.ok ? 'use' : 'retry');
    expect(s.block.length).toBe(drop.nBlock);
    expect(s.allow.length).toBe(drop.nAllow);
    expect(s.block.filter((l) => s.allow.includes(l))).toEqual([]);
    // The block list holds the most sensitive layer.
    const most = s.sensitivities.indexOf(Math.max(...s.sensitivities));
    expect(s.block).toContain(most);
  });

  it('runs every layer before the measurement, then skips layers (never the block list); every step is logged', () => {
    const L = cfg.n_layer;
    const at = m.sensitivity[0]!.step;
    expect(m.steps.map((s) => s.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    for (const s of m.steps) {
      expect(s.layers, `step ${s.step}`).toMatch(new RegExp(`^[01]{${L}}$`)); // gradAccum 1: one plan per step
      expect(s.expected_kept).toBeGreaterThan(0);
      expect(s.expected_kept).toBeLessThanOrEqual(1);
      expect(Number.isFinite(s.loss)).toBe(true);
      if (s.step < at) {
        expect(s.layers, `step ${s.step} is before the measurement`).toBe('1'.repeat(L));
        expect(s.expected_kept).toBe(1);
      }
      for (const b of m.sensitivity[0]!.block) expect(s.layers[b], `block-list layer ${b} at step ${s.step}`).toBe('1');
    }
    const after = m.steps.filter((s) => s.step >= at);
    expect(after.some((s) => s.layers.includes('0')), 'some layer is skipped after the measurement').toBe(true);
    expect(after.some((s) => s.expected_kept < 1)).toBe(true);
    expect(m.summary.skipped_fraction).toBeGreaterThan(0);
    expect(m.summary.skipped_fraction).toBeCloseTo(skippedFraction(m.steps), 12);
    expect(m.summary.policy).toBe('sbld');
  });

  it('its plans are exactly what the pure policy draws from the logged measurement (and swapped sensitivities differ)', () => {
    const L = cfg.n_layer;
    const drop = resolveDropConfig(cfg.drop, { nLayer: L, totalSteps: STEPS });
    const s = m.sensitivity[0]!;
    const replay = (values: number[]) => {
      const state = new SbldState(drop);
      return m.steps.map((line) => {
        if (line.step === s.step) state.applyMeasurement(s.step, values, s.ms);
        const keep = keepProbabilities(drop, line.step, state);
        return { layers: planBitString(drawPlan(keep.keep, cfg.seed, line.step, 0)), kept: +keep.expectedKeptFraction.toFixed(4) };
      });
    };
    const replayed = replay(s.values);
    expect(replayed.map((r) => r.layers)).toEqual(m.steps.map((l) => l.layers));
    expect(replayed.map((r) => r.kept)).toEqual(m.steps.map((l) => l.expected_kept));
    // The plan follows the measurement: with the sensitivities reversed, a different layer is protected.
    expect(s.values[0]).not.toBe(s.values[L - 1]);
    expect(replay([...s.values].reverse()).map((r) => r.layers)).not.toEqual(m.steps.map((l) => l.layers));
  });
});

describe('what the allocator could not do is logged', () => {
  it('the cap note: an alloc line when a capped stretch begins, the capped steps counted in the summary and printed', async () => {
    // L = 2, one layer on the block list: capacity q_max = 0.5 layers, while ρ_peak 0.6 asks up to 1.2.
    const cfg = tinyConfig('capped', 30, { policy: 'sbld', rhoPeak: 0.6, warmupFrac: 0.1, probeBatches: 1, guard: false });
    const summary = await runTraining(cfg, { quiet: true, engine: e });
    const lines = readFileSync(join(cfg.out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const sens = lines.find((l) => l.type === 'sensitivity');
    const drop = resolveDropConfig(cfg.drop, { nLayer: cfg.n_layer, totalSteps: 30 });
    const capped: number[] = [];
    for (let t = 0; t < 30; t++) if (keepProbabilities(drop, t, sens).capped) capped.push(t);
    expect(capped.length).toBeGreaterThan(3);
    const notes = summary.allocator_notes!;
    expect(notes.capped_steps).toBe(capped.length);
    expect([notes.first_capped_step, notes.last_capped_step]).toEqual([capped[0], capped[capped.length - 1]]);
    expect(notes.cap_note).toMatch(/exceeds the cap capacity 0\.500/);
    // One alloc line per capped stretch: at each capped step whose previous step was not capped.
    const starts = capped.filter((t) => !capped.includes(t - 1));
    expect(lines.filter((l) => l.type === 'alloc').map((l) => l.step)).toEqual(starts);
    expect(lines.find((l) => l.type === 'summary').allocator_notes.capped_steps).toBe(capped.length);
    expect(layerDroppingLine(summary)).toMatch(new RegExp(`allocator capped on ${capped.length} step\\(s\\) \\(${capped[0]}-`));
  });

  it('an uncapped run logs no alloc line and prints no note', async () => {
    const cfg = tinyConfig('uncapped', 12, { policy: 'pld' });
    const summary = await runTraining(cfg, { quiet: true, engine: e });
    expect(readFileSync(join(cfg.out, 'metrics.jsonl'), 'utf8')).not.toContain('"alloc"');
    expect(summary.allocator_notes!.capped_steps).toBe(0);
    expect(layerDroppingLine(summary)).not.toContain('\n');
  });
});

describe('other policies', () => {
  it("policy 'none' never skips a layer and measures nothing", async () => {
    const cfg = tinyConfig('none', 10, { policy: 'none' });
    const summary = await runTraining(cfg, { quiet: true, engine: e });
    const m = readMetrics(cfg.out);
    expect(m.steps.length).toBe(10);
    for (const s of m.steps) {
      expect(s.layers).toBe('1'.repeat(cfg.n_layer));
      expect(s.expected_kept).toBe(1);
    }
    expect(m.sensitivity).toEqual([]);
    expect(summary.skipped_fraction).toBe(0);
    expect(Number.isFinite(summary.val_loss)).toBe(true);
  });

  it('PLD (pure policy) skips deeper layers more often, at the rate its keep probabilities say', () => {
    const L = 6;
    const T = 100;
    const MICRO = 40;
    const drop = resolveDropConfig({ policy: 'pld' }, { nLayer: L, totalSteps: T });
    const skips = new Array<number>(L).fill(0);
    const expected = new Array<number>(L).fill(0);
    for (let t = 0; t < T; t++) {
      const { keep } = keepProbabilities(drop, t, null);
      for (let mb = 0; mb < MICRO; mb++) drawPlan(keep, 1337, t, mb).forEach((run, l) => (skips[l]! += run ? 0 : 1));
      keep.forEach((p, l) => (expected[l]! += MICRO * (1 - p)));
    }
    expect(skips[0]).toBe(0); // layer 0 always runs
    for (let l = 1; l < L; l++) expect(skips[l], `layer ${l} vs ${l - 1}: ${skips.join(', ')}`).toBeGreaterThan(skips[l - 1]!);
    // Each count within 4 sigma of its expectation (draws are independent Bernoullis).
    for (let l = 1; l < L; l++) {
      const n = T * MICRO;
      const q = expected[l]! / n;
      expect(Math.abs(skips[l]! - expected[l]!), `layer ${l}`).toBeLessThanOrEqual(4 * Math.sqrt(n * q * (1 - q)));
    }
  });
});

describe('bad hyperparameters are refused clearly', () => {
  /** resolveConfig for the tiny preset with this drop block; returns the error's message. */
  function refusal(drop: Record<string, unknown>): string {
    try {
      resolveConfig({}, { preset: 'tiny', drop: drop as Partial<DropConfig> });
    } catch (err) {
      expect(err).toBeInstanceOf(DropConfigError);
      return (err as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(drop)}`);
  }

  it('accepts the defaults of every policy', () => {
    for (const policy of ['none', 'layerdrop', 'pld', 'sbld'] as const) {
      expect(() => resolveConfig({}, { preset: 'tiny', drop: { policy } })).not.toThrow();
    }
  });

  it('refuses probabilities outside [0, 1], naming the flag and the interval', () => {
    expect(refusal({ policy: 'layerdrop', rate: 1.5 })).toMatch(/--drop-rate must be in \[0, 1\), got 1\.5/);
    expect(refusal({ policy: 'layerdrop', rate: -0.1 })).toMatch(/--drop-rate .*got -0\.1/);
    expect(refusal({ policy: 'sbld', qMax: 1.2 })).toMatch(/--drop-q-max must be in \(0, 1\], got 1\.2/);
    expect(refusal({ policy: 'sbld', rhoPeak: -0.2 })).toMatch(/--drop-rho-peak must be in \[0, 1\], got -0\.2/);
    expect(refusal({ policy: 'pld', thetaBar: 1.5 })).toMatch(/--drop-theta-bar must be in \(0, 1\], got 1\.5/);
    expect(refusal({ policy: 'sbld', warmupFrac: 1 })).toMatch(/--drop-warmup-frac/);
    expect(refusal({ policy: 'sbld', beta: 2 })).toMatch(/--drop-beta/);
  });

  it('refuses block + allow lists larger than L', () => {
    // tiny has L = 2.
    expect(refusal({ policy: 'sbld', nBlock: 2, nAllow: 1 })).toMatch(/--drop-n-block \+ --drop-n-allow must not exceed .* L = 2, got 2 \+ 1 = 3/);
    expect(refusal({ policy: 'sbld', nBlock: 3, nAllow: 0 })).toMatch(/L = 2/);
  });

  it('refuses an unknown policy, listing the valid ones; and unknown options', () => {
    expect(refusal({ policy: 'stochastic_depth' })).toMatch(/--drop-policy: unknown value 'stochastic_depth' \(valid: none, layerdrop, pld, sbld\)/);
    expect(refusal({ policy: 'sbld', qmax: 0.3 })).toMatch(/unknown layer-dropping option 'qmax'/);
  });

  it('refuses a bad drop block in a --config file too, and training-level values by their flag', () => {
    const path = join(root, 'bad.json');
    writeFileSync(path, JSON.stringify({ preset: 'tiny', drop: { policy: 'sbld', qMax: 2 } }));
    expect(() => resolveConfig(readConfigFile(path), {})).toThrow(/--drop-q-max/);
    expect(() => resolveConfig({}, { preset: 'tiny', lr: 2 })).toThrow(ConfigError);
    expect(() => resolveConfig({}, { preset: 'tiny', lr: 2 })).toThrow(/--lr 2: must be a number in \(0, 1\)/);
  });

  it('a config that skipped resolveConfig is still refused before the first step', async () => {
    const cfg = { ...tinyConfig('refused', 5, { policy: 'none' }), drop: { policy: 'sbld', qMax: 7 } } as TrainConfig;
    await expect(runTraining(cfg, { quiet: true, engine: e })).rejects.toThrow(/--drop-q-max must be in \(0, 1\], got 7/);
    expect(existsSync(join(cfg.out, 'metrics.jsonl'))).toBe(false);
  });
});

describe('taylor sensitivity on a run too short for a warm-up', () => {
  it('T_pre = 0: the measurement waits for the first step that gave an estimate (step 1) and says so', async () => {
    const STEPS = 6;
    const cfg = tinyConfig('taylor-short', STEPS, { policy: 'sbld', sensitivity: 'taylor' });
    const L = cfg.n_layer;
    expect(resolveDropConfig(cfg.drop, { nLayer: L, totalSteps: STEPS }).warmupSteps).toBe(0);
    await runTraining(cfg, { quiet: true, engine: e });
    const m = readMetrics(cfg.out);
    expect(m.steps.map((s) => s.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    expect(m.steps[0]!.layers).toBe('1'.repeat(L));
    const sens = m.sensitivity as (SensitivityLine & { postponed_from?: number })[];
    expect(sens.map((s) => [s.step, s.postponed_from])).toEqual([[1, 0]]);
    // Taylor values are sums of |<dL/dh_out, h_out - h_in>|: finite, non-negative, and not all zero.
    expect(sens[0]!.values.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(sens[0]!.values.some((v) => v > 0)).toBe(true);
    expect(m.summary.policy).toBe('sbld');
  });
});
