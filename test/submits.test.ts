/**
 * One submit per training step, for any gradient accumulation: the step's uploads of later micro-batches go
 * through staged copies (no flush), and the losses' readback rides the same submit. Asserted by the engine's
 * counters for GPT and ViT; the staged uploads are checked to land in the right micro-batch by comparing the
 * step's mean loss with the per-batch evaluation losses taken just before it.
 * Run: npx vitest run --config test/vitest.config.ts test/submits.test.ts
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../src/tasks/gpt/data/loader.js';
import { fullPlan, GPT, type GptConfig } from '../src/tasks/gpt/model.js';
import { prepareTransformerKernels } from '../src/model/kernels.js';
import { Engine } from '../src/runtime/engine.js';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer.js';
import { evaluate, StepRunner } from '../src/tasks/gpt/step.js';
import { batchOf, patchGeometry } from '../src/tasks/vit/data.js';
import { ViT, type VitConfig } from '../src/tasks/vit/model.js';
import { evaluateVit, VitStepRunner } from '../src/tasks/vit/step.js';
import { getEngine } from './helpers/gpu.js';
import { randomInts } from './helpers/random.js';
import { randomSet } from './helpers/vit_data.js';

let e: Engine;
beforeAll(async () => {
  e = await getEngine();
});

/** Submits and readbacks `fn` makes, and what it returns. */
async function counted<T>(fn: () => Promise<T>): Promise<{ submits: number; readbacks: number; value: T }> {
  await e.sync();
  const c0 = { ...e.counters };
  const value = await fn();
  return { submits: e.counters.submits - c0.submits, readbacks: e.counters.readbacks - c0.readbacks, value };
}

describe('one submit per training step', () => {
  it('GPT: 1, 2 and 4 micro-batches each make exactly one submit and one readback; the mean loss is the batches\' mean', async () => {
    const cfg: GptConfig = { n_layer: 2, n_head: 2, n_embd: 16, vocab_size: 32, n_positions: 8 };
    const [B, T] = [2, 8];
    const model = new GPT(e, cfg);
    model.initialize(3);
    const runner = new StepRunner(e, model, new AdamW(e, model.blocks, ADAMW_DEFAULTS), 4);
    const batch = (seed: number): Batch => ({ inputs: new Int32Array(randomInts(B * T, seed, 32)), targets: new Int32Array(randomInts(B * T, seed + 100, 32)) });
    for (const n of [1, 2, 4]) {
      const batches = Array.from({ length: n }, (_, i) => batch(10 * n + i));
      const evals: number[] = [];
      for (const b of batches) evals.push(await evaluate(e, model, [b], B, T));
      const plans = batches.map(() => fullPlan(cfg.n_layer));
      const { submits, readbacks, value } = await counted(() => runner.step(batches, plans, 0, B, T)());
      expect(submits, `${n} micro-batches`).toBe(1);
      expect(readbacks, `${n} micro-batches`).toBe(1);
      expect(value).toBeCloseTo(evals.reduce((a, b) => a + b, 0) / n, 5);
    }
  });

  it('ViT: 1 and 3 micro-batches each make exactly one submit and one readback; the mean loss is the batches\' mean', async () => {
    const cfg: VitConfig = { n_layer: 2, n_head: 2, n_embd: 16, image_size: 28, patch_size: 7, n_classes: 10 };
    const model = new ViT(e, cfg);
    model.initialize(5);
    const runner = new VitStepRunner(e, model, new AdamW(e, model.blocks, ADAMW_DEFAULTS), 4);
    const set = randomSet(8, 2);
    const g = patchGeometry(28, 28, 7);
    for (const n of [1, 3]) {
      const batches = Array.from({ length: n }, (_, i) => batchOf(set, [2 * i, 2 * i + 1], 2, g));
      const evals: number[] = [];
      for (const b of batches) evals.push((await evaluateVit(e, model, [b])).loss);
      const plans = batches.map(() => fullPlan(cfg.n_layer));
      const { submits, readbacks, value } = await counted(() => runner.step(batches, plans, 0)());
      expect(submits, `${n} micro-batches`).toBe(1);
      expect(readbacks, `${n} micro-batches`).toBe(1);
      expect(value).toBeCloseTo(evals.reduce((a, b) => a + b, 0) / n, 5);
    }
  });
});

describe('override variants compile before step 1', () => {
  for (const precision of ['f32', 'f16'] as const) {
    it(`after prepareTransformerKernels, a GPT step and a ViT step compile no pipeline synchronously (${precision})`, async (ctx) => {
      const fresh = await Engine.create();
      try {
        if (precision === 'f16' && !fresh.choice.halfAvailable) return ctx.skip();
        fresh.choice.force('precision', precision);
        const gcfg: GptConfig = { n_layer: 1, n_head: 2, n_embd: 16, vocab_size: 32, n_positions: 8 };
        const vcfg: VitConfig = { n_layer: 1, n_head: 2, n_embd: 16, image_size: 28, patch_size: 7, n_classes: 10 };
        const gpt = new GPT(fresh, gcfg);
        gpt.initialize(1);
        const vit = new ViT(fresh, vcfg);
        vit.initialize(1);
        await prepareTransformerKernels(fresh, { headSize: 8, seqLen: 8 });
        await prepareTransformerKernels(fresh, { headSize: 8, seqLen: vit.T });
        const late0 = fresh.kernels.lateCompiles;
        const batch: Batch = { inputs: new Int32Array(randomInts(16, 1, 32)), targets: new Int32Array(randomInts(16, 2, 32)) };
        await new StepRunner(fresh, gpt, new AdamW(fresh, gpt.blocks, ADAMW_DEFAULTS)).step([batch], [fullPlan(1)], 1e-3, 2, 8)();
        const images = batchOf(randomSet(4, 3), [0, 1], 2, patchGeometry(28, 28, 7));
        await new VitStepRunner(fresh, vit, new AdamW(fresh, vit.blocks, ADAMW_DEFAULTS)).step([images], [fullPlan(1)], 1e-3)();
        expect(fresh.kernels.lateCompiles - late0).toBe(0);
        // Without the preparation the same step would compile late: the check above can fail.
        const other = await Engine.create();
        try {
          const g2 = new GPT(other, gcfg);
          g2.initialize(1);
          await new StepRunner(other, g2, new AdamW(other, g2.blocks, ADAMW_DEFAULTS)).step([batch], [fullPlan(1)], 1e-3, 2, 8)();
          expect(other.kernels.lateCompiles).toBeGreaterThan(0);
        } finally {
          other.destroy();
        }
      } finally {
        fresh.destroy();
      }
    });
  }
});
