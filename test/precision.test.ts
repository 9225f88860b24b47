/**
 * f16 mixed precision in training: the loss scaler's rule (halve on overflow, double after a run of good steps,
 * fixed in f32, state round trip); a step whose gradients overflow is skipped with nothing changed (every
 * parameter and moment bit-identical, block step counts not advanced), logged, and the scale halves until steps
 * go through; the exact extra dispatches an f16 step makes (one cast per linear forward and backward, one per
 * weight changed since its last cast, none for a skipped layer); f16 training stays close to f32 at equal steps;
 * --precision validation, and f16 refused on an adapter without shader-f16.
 * Run: npx vitest run --config test/vitest.config.ts test/precision.test.ts
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWeights } from '../src/model/weights.js';
import type { LayerPlan } from '../src/model/plan.js';
import { KernelChoice } from '../src/runtime/choice.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Gpu } from '../src/runtime/gpu.js';
import type { KernelRegistry } from '../src/runtime/kernels.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { runTraining } from '../src/tasks/gpt/run.js';
import { TrainingSession } from '../src/tasks/gpt/session.js';
import { ConfigError, type TrainConfig } from '../src/train/config.js';
import { DYNAMIC_LOSS_SCALE, LossScaler, NO_LOSS_SCALE } from '../src/train/loss-scale.js';
import { applyPrecision } from '../src/train/precision.js';
import { getEngine } from './helpers/gpu.js';

afterAll(async () => (await getEngine()).choice.force('precision', null)); // the engine is shared with later files

const config = (precision: 'f32' | 'f16', steps = 8): TrainConfig =>
  resolveConfig({}, { preset: 'tiny', steps, warmupSteps: 2, evalEvery: 0, sampleTokens: 0, seed: 3, out: '/nonexistent', precision, drop: { policy: 'none' } });

async function session(precision: 'f32' | 'f16', steps = 8): Promise<TrainingSession | null> {
  const e = await getEngine();
  if (precision === 'f16' && !e.choice.halfAvailable) return null;
  return TrainingSession.open(config(precision, steps), e);
}

/** Runs step `step` with `plans` (the session's own when absent); returns the loss and the dispatches it made. */
async function runStep(s: TrainingSession, step: number, plans?: LayerPlan[]): Promise<{ loss: number; dispatches: number; kernels: string[] }> {
  const e = s.e;
  const before = e.counters.dispatches;
  e.dispatchLog = [];
  const { readLoss } = s.step(step, plans ?? s.plan(step).plans);
  const kernels = e.dispatchLog.map((r) => r.kernel);
  e.dispatchLog = null;
  const dispatches = e.counters.dispatches - before;
  return { loss: await readLoss(), dispatches, kernels };
}

const bitsOf = (w: Record<string, Float32Array>) => Object.fromEntries(Object.entries(w).map(([k, v]) => [k, Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length))]));

describe('LossScaler', () => {
  it('halves on overflow, doubles after growthInterval good steps in a row, and stays in [2^-24, 2^24]', () => {
    const s = new LossScaler({ init: 1024, growthInterval: 3, dynamic: true });
    expect(s.update(true)).toBe(512);
    expect(s.lastOverflow).toBe(true);
    expect([s.update(false), s.update(false)]).toEqual([512, 512]);
    expect(s.update(true)).toBe(256); // an overflow resets the run of good steps
    expect([s.update(false), s.update(false), s.update(false)]).toEqual([256, 256, 512]);
    expect(s.overflows).toBe(2);
    const low = new LossScaler({ init: 2 ** -24, growthInterval: 1, dynamic: true });
    expect(low.update(true)).toBe(2 ** -24);
    const high = new LossScaler({ init: 2 ** 24, growthInterval: 1, dynamic: true });
    expect(high.update(false)).toBe(2 ** 24);
    expect(() => new LossScaler({ ...DYNAMIC_LOSS_SCALE, init: 0 })).toThrow(/outside/);
  });

  it('f32: fixed at 1, overflows still counted; state round-trips', () => {
    const s = new LossScaler(NO_LOSS_SCALE);
    expect([s.update(true), s.update(false), s.update(true)]).toEqual([1, 1, 1]);
    expect(s.overflows).toBe(2);
    const t = new LossScaler(DYNAMIC_LOSS_SCALE);
    t.update(true);
    t.update(false);
    const u = new LossScaler(DYNAMIC_LOSS_SCALE);
    u.setState(t.state);
    expect(u.state).toEqual(t.state);
    expect(u.update(true)).toBe(t.update(true));
  });
});

describe('an overflowing step under f16', () => {
  it('is skipped with every parameter and moment unchanged, and the scale halves until steps go through', async (ctx) => {
    const s = await session('f16');
    if (!s) return ctx.skip();
    // The label's dlogit is -(1 - p) / (B T), about -1/128 for this preset at the start; times S = 2^24 that is
    // about -131000, past f16's 65504, so the cast of the head's dout overflows at least on the first step. The
    // other gradients grow further; where S comes down far enough is the scaler's business, so what is checked is
    // the rule: overflowing steps change nothing and halve S, then steps go through at that S.
    expect(s.B * s.T).toBe(128);
    s.lossScaler.setState({ scale: 2 ** 24, goodSteps: 0, overflows: 0 });
    const initial = await readWeights(s.e, s.model);
    const seen: boolean[] = [];
    let scale = 2 ** 24;
    for (let step = 0; step < 8; step++) {
      await runStep(s, step);
      const overflow = s.lossScaler.lastOverflow;
      seen.push(overflow);
      expect(s.lossScaler.scale, `step ${step}`).toBe(overflow ? scale / 2 : scale);
      scale = s.lossScaler.scale;
      if (overflow) {
        expect(seen.every(Boolean), 'overflows come first, then steps go through').toBe(true);
        const after = await readWeights(s.e, s.model);
        expect(bitsOf(after.params)).toEqual(bitsOf(initial.params));
        expect(bitsOf(after.optimizer)).toEqual(bitsOf(initial.optimizer));
        expect(after.blockSteps).toEqual(initial.blockSteps);
      }
    }
    const skipped = seen.filter(Boolean).length;
    expect(seen[0]).toBe(true);
    expect(skipped).toBeLessThan(8);
    expect(s.lossScaler.overflows).toBe(skipped);
    const final = await readWeights(s.e, s.model);
    expect(final.blockSteps.every((n) => n === 8 - skipped)).toBe(true);
    expect(bitsOf(final.params)).not.toEqual(bitsOf(initial.params));
  });
});

describe('dispatches of an f16 step', () => {
  it('are the f32 step plus one cast per weight in the first step, and the f32 step after it (every f16 operand comes from the dispatch writing it)', async (ctx) => {
    const half = await session('f16');
    if (!half) return ctx.skip();
    const L = half.cfg.n_layer;
    // Step 0 casts every weight it uses (their copies are new); later steps cast none (AdamW's update wrote them).
    const full = await runStep(half, 0);
    const again = await runStep(half, 1);
    const skipLast: LayerPlan = { ...half.plan(2).plans[0]!, run: Array.from({ length: L }, (_, l) => l < L - 1) };
    const skipped = await runStep(half, 2, [skipLast]);
    const single = await session('f32');
    const f32Full = await runStep(single!, 0);
    const f32Skipped = await runStep(single!, 1, [{ ...skipLast }]);
    // Per block in step 0: the 4 linears' weights. Every linear input and dout has its f16 copy from the dispatch
    // that writes it: the LayerNorms and the fused linear + GELU write theirs in f16 in place of f32; attention's
    // f16 twins store copies of its output and of dqkv beside them; GELU's and the two residual adds' backward are
    // the *_dual kernels, in place of the plain ones; and each block's update is adamw_update_dual_f16, which
    // writes its weights' copies. The head (tied wte) stays f32 (headInF32): no casts.
    const perBlock = 4;
    const perBlockTwins = ['gelu_backward_dual_f16', 'residual_backward_dual_f16', 'residual_backward_dual_f16', 'attention_forward_subgroup_f16', 'attention_backward_dq_subgroup_f16', 'attention_backward_dkv_subgroup_f16', 'adamw_update_dual_f16'];
    expect(full.kernels.filter((k) => perBlockTwins.includes(k)).sort()).toEqual(Array.from({ length: L }, () => perBlockTwins).flat().sort());
    expect(full.kernels.filter((k) => k === 'adamw_update')).toHaveLength(1); // the block outside the layers
    expect(full.dispatches - f32Full.dispatches).toBe(perBlock * L);
    expect(full.kernels.filter((k) => k === 'cast_to_f16')).toHaveLength(perBlock * L);
    expect(again.dispatches).toBe(f32Full.dispatches);
    expect(again.kernels.filter((k) => k === 'cast_to_f16')).toEqual([]);
    expect(skipped.dispatches).toBe(f32Skipped.dispatches);
    expect(full.kernels.filter((k) => k.startsWith('layernorm_forward')).every((k) => k.endsWith('_f16'))).toBe(false); // ln_f stays f32
    expect(full.kernels.filter((k) => /^layernorm_forward.*_f16$/.test(k))).toHaveLength(2 * L);
    // The head's three GEMMs are the f32 kernels; every other GEMM is an f16 twin.
    expect(full.kernels.filter((k) => k.startsWith('matmul_') && !k.endsWith('_f16'))).toHaveLength(3);
    // An f16 head (headInF32 off): three casts more (x, the tied weight, dout), and no f32 GEMM left.
    half.e.choice.force('headInF32', false);
    const headF16 = await runStep(half, 3);
    half.e.choice.force('headInF32', null);
    expect(headF16.dispatches - f32Full.dispatches).toBe(3);
    expect(headF16.kernels.filter((k) => k.startsWith('matmul_') && !k.endsWith('_f16'))).toEqual([]);
    expect(f32Full.kernels.filter((k) => k.endsWith('_f16') || k === 'cast_to_f16')).toEqual([]);
  });
});

describe('f16 training against f32', () => {
  it('stays within 0.02 nats of f32 over 30 steps of the tiny preset with the same seed', async (ctx) => {
    const steps = 30;
    const half = await session('f16', steps);
    if (!half) return ctx.skip();
    const lossesHalf: number[] = [];
    for (let step = 0; step < steps; step++) lossesHalf.push((await runStep(half, step)).loss);
    const single = (await session('f32', steps))!;
    const lossesSingle: number[] = [];
    for (let step = 0; step < steps; step++) lossesSingle.push((await runStep(single, step)).loss);
    expect(half.lossScaler.overflows).toBe(0);
    expect(lossesSingle[steps - 1]!).toBeLessThan(lossesSingle[0]! - 0.5); // it trained
    const worst = Math.max(...lossesHalf.map((l, i) => Math.abs(l - lossesSingle[i]!)));
    expect(worst).toBeLessThan(0.02);
    expect(worst).toBeGreaterThan(0); // f16 did change the arithmetic
  });
});

describe('a run under --precision f16', () => {
  it('logs its loss scale on every step line and its precision and overflow count in the summary', async (ctx) => {
    const e = await getEngine();
    if (!e.choice.halfAvailable) return ctx.skip();
    const out = mkdtempSync(join(tmpdir(), 'sbld-precision-'));
    try {
      const summary = await runTraining({ ...config('f16', 4), out, checkpointEvery: 0 }, { quiet: true, engine: e, overwrite: true });
      expect(summary.precision).toBe('f16');
      expect(summary.overflow_steps).toBe(0);
      const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const steps = lines.filter((l) => l.type === undefined);
      expect(steps.map((l) => l.loss_scale)).toEqual([65536, 65536, 65536, 65536]);
      expect(lines.find((l) => l.type === 'summary')).toMatchObject({ precision: 'f16', overflow_steps: 0 });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('the adapter rule for precision', () => {
  /** A KernelChoice for an adapter described by `name`, with subgroups of `subgroupSize` lanes and `kernels` loaded. */
  function choiceFor(name: string, subgroupSize: number, kernels: string[]): KernelChoice {
    const gpu = {
      adapterInfo: { vendor: name, architecture: '', device: '', description: name },
      device: { adapterInfo: { isFallbackAdapter: false, subgroupMinSize: subgroupSize } },
      features: new Set(subgroupSize > 0 ? ['subgroups'] : []),
    } as unknown as Gpu;
    const registry = { has: (n: string) => kernels.includes(n) } as unknown as KernelRegistry;
    return new KernelChoice(gpu, registry);
  }
  const half = ['cast_to_f16', 'matmul_forward_f16', 'matmul_subgroup_f16'];

  it('picks f16 on a CPU adapter with 8-wide subgroups and the f16 kernels, f32 everywhere else', () => {
    expect(choiceFor('llvmpipe', 8, half).defaults.precision).toBe('f16');
    expect(choiceFor('llvmpipe', 8, []).defaults.precision).toBe('f32'); // no shader-f16: the twins did not load
    expect(choiceFor('llvmpipe', 4, half).defaults.precision).toBe('f32'); // no subgroup kernel: f16 is no faster
    expect(choiceFor('NVIDIA H100', 32, half).defaults.precision).toBe('f32'); // a GPU: not measured
  });
});

describe('--precision', () => {
  it('refuses a value that is not auto, f32 or f16', () => {
    expect(() => resolveConfig({}, { preset: 'tiny', precision: 'bf16' as 'f16' })).toThrow(ConfigError);
    expect(() => resolveConfig({}, { preset: 'tiny', precision: 'bf16' as 'f16' })).toThrow(/--precision "bf16": must be one of auto, f32, f16/);
  });

  it('refuses f16 on an adapter without shader-f16, naming the adapter and what to use instead', () => {
    const noHalf = { choice: { halfAvailable: false }, gpu: { adapterName: 'SwiftShader' } } as unknown as Engine;
    expect(() => applyPrecision(noHalf, 'f16')).toThrow(/this adapter \(SwiftShader\) does not offer shader-f16; use --precision f32 or auto/);
  });

  it('auto takes the adapter rule (here the test project assumes f32 or f16), and an explicit choice is what runs', async () => {
    const e = await getEngine();
    expect(applyPrecision(e, 'auto')).toBe(e.choice.defaults.precision);
    expect(applyPrecision(e, 'f32')).toBe('f32');
    if (e.choice.halfAvailable) expect(applyPrecision(e, 'f16')).toBe('f16');
    e.choice.force('precision', null);
  });
});
