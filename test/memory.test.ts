/**
 * The engine's memory counters (src/runtime/buffers.ts, `e.memory()`): every kind of buffer is counted, and the
 * step arena's high-water mark shows that a skipped layer saves its activations and their gradients. The
 * expected saving is computed here from the block's shapes (what each op of the pre-LN block keeps for its
 * backward, and the gradient of each), not read off a measurement.
 * Run: npx vitest run --config test/vitest.config.ts test/memory.test.ts
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fullPlan, GPT, type GptConfig, type LayerPlan } from '../src/tasks/gpt/model.js';
import { paddedBytes } from '../src/runtime/buffers.js';
import type { Engine } from '../src/runtime/engine.js';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer.js';
import { StepRunner } from '../src/tasks/gpt/step.js';
import { getEngine } from './helpers/gpu.js';
import { halfMatmuls } from './helpers/precision.js';
import { randomInts } from './helpers/random.js';

const L = 4;
const B = 2;
const T = 16;
const C = 32;
const NH = 2;
const CONFIG: GptConfig = { n_layer: L, n_head: NH, n_embd: C, vocab_size: 256, n_positions: T };

/**
 * Arena bytes one layer of the pre-LN block uses in a training step, from the shapes: the forward's outputs
 * (each op's output, LayerNorm's mean and rstd per row, attention's log-sum-exp per head and row), the gradient
 * of every float activation of the block's math (not of the saved statistics), and attention backward's scratch
 * (one float per head and row). The output projections' branches (proj and fc2 before their residual adds) are
 * outputs only where the residual add is not fused into their GEMM (src/ops/linear_residual.ts); their
 * gradients exist either way. The arena frees nothing within a micro-batch, so all of it is live at the
 * high-water mark. Under f16 precision the LayerNorms' and GELU's outputs are f16 (the inputs of the linears
 * after them), the attention's projection adds the f16 copy of its input (kept for the backward), and every
 * linear adds one of its incoming gradient in the backward.
 */
function layerArenaBytes(residualFused: boolean, half: boolean): number {
  const f = (...shape: number[]) => paddedBytes(shape.reduce((a, b) => a * b, 1) * 4);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const h = (...shape: number[]) => paddedBytes(shape.reduce((a, b) => a * b, 1) * 2);
  // The stream's activations as [shape, stored in f16 under f16 precision]; their gradients are f32.
  const activations: [number[], boolean][] = [
    [[B, T, C], true], // LN1 out
    [[B, T, 3 * C], false], // qkv
    [[B, T, C], false], // attention out
    [[B, T, C], false], // residual after attention
    [[B, T, C], true], // LN2 out
    [[B, T, 4 * C], false], // fc (GELU's input)
    [[B, T, 4 * C], true], // gelu
    [[B, T, C], false], // residual after the MLP
  ];
  const stream = activations.map(([shape, inHalf]) => (half && inHalf ? h : f)(...shape));
  const streamGrads = activations.map(([shape]) => f(...shape));
  const branches = [f(B, T, C), f(B, T, C)]; // proj, fc2
  const statistics = 2 * (f(B * T) + f(B * T)) + f(B, NH, T); // LN mean and rstd twice, attention's log-sum-exp
  const forward = sum(stream) + (residualFused ? 0 : sum(branches)) + statistics;
  const gradients = sum(streamGrads) + sum(branches);
  const backwardScratch = f(B, NH, T); // attention backward's dsum
  const halfInputs = [h(B, T, C)]; // attention out
  const halfGrads = [h(B, T, 3 * C), h(B, T, C), h(B, T, 4 * C), h(B, T, C)]; // of qkv, proj, fc, fc2
  return forward + gradients + backwardScratch + (half ? sum(halfInputs) + sum(halfGrads) : 0);
}

let e: Engine;
let runner: StepRunner;
const batches = [{ inputs: randomInts(B * T, 11, 256), targets: randomInts(B * T, 12, 256) }];

function skipPlan(skipped: readonly number[]): LayerPlan {
  const p = fullPlan(L);
  return { run: p.run.map((_, l) => !skipped.includes(l)), scale: p.scale };
}

/** The arena's high-water mark of one training step with `plan`. */
async function highWater(plan: LayerPlan): Promise<number> {
  await runner.step(batches, [plan], 1e-3, B, T)();
  return e.memory().arenaHighWaterBytes;
}

beforeAll(async () => {
  e = await getEngine();
  const model = new GPT(e, CONFIG);
  model.initialize(3);
  runner = new StepRunner(e, model, new AdamW(e, model.blocks, ADAMW_DEFAULTS), 1);
});

describe('memory counters', () => {
  it('the kinds add up to the total, and bytesAllocated counts storage and upload buffers', async () => {
    await highWater(fullPlan(L));
    const m = e.memory();
    expect(m.totalBytes).toBe(m.persistentBytes + m.arenaBytes + m.uploadBytes + m.readbackBytes + m.uniformBytes);
    expect(m.arenaBytes).toBeGreaterThan(0);
    expect(m.readbackBytes).toBeGreaterThan(0); // the loss readback
    expect(m.uniformBytes).toBeGreaterThan(0);
    // The shared engine also served other tests' allocations; the counter and the report grow together.
    const before = { counted: e.counters.bytesAllocated, held: m.totalBytes - m.uniformBytes - m.readbackBytes };
    const p = e.persistent([1000], 'f32', 'memory-test');
    const r = e.readLater(p);
    await r();
    const after = e.memory();
    expect(after.persistentBytes - m.persistentBytes).toBe(paddedBytes(4000));
    expect(e.counters.bytesAllocated - before.counted).toBe(after.totalBytes - after.uniformBytes - after.readbackBytes - before.held);
  });

  it('the arena high-water mark of a step is lower by the skipped layers\' activations and gradients, for every skip set', async () => {
    const fullBy: Record<string, number> = {};
    for (const residual of ['fused', 'separate'] as const) {
      e.choice.force('linearResidual', residual);
      const perLayer = layerArenaBytes(residual === 'fused', halfMatmuls(e));
      const full = (fullBy[residual] = await highWater(fullPlan(L)));
      expect(full).toBeGreaterThan(L * perLayer);
      for (const skipped of [[0], [1], [3], [1, 3], [0, 1, 2], [0, 1, 2, 3]]) {
        const hw = await highWater(skipPlan(skipped));
        expect(full - hw, `${residual} residual, skip [${skipped}]`).toBe(skipped.length * perLayer);
      }
      // The full step again: the mark is per step, not a running maximum.
      expect(await highWater(fullPlan(L))).toBe(full);
    }
    e.choice.force('linearResidual', null);
    // Fusing the residual add into the projections saves each layer its two branch activations, (B, T, C) each.
    expect(fullBy.separate! - fullBy.fused!).toBe(L * 2 * paddedBytes(B * T * C * 4));
  });

  it('steady state: steps with any plan allocate nothing new once the full step has run', async () => {
    await highWater(fullPlan(L));
    const total = e.memory().totalBytes;
    await highWater(skipPlan([1, 2]));
    await highWater(fullPlan(L));
    expect(e.memory().totalBytes).toBe(total);
    expect(e.memory().arenaInUseBytes).toBe(0);
  });
});
