/**
 * SBLD's skip_loss sensitivity is s_l = loss(layer l skipped) - loss(full), in that order: checked against
 * separately evaluated losses for GPT and the ViT, so a flipped sign (or a wrong layer) fails.
 * Run: npx vitest run --config test/vitest.config.ts test/sensitivity.test.ts
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../src/tasks/gpt/data/loader.js';
import { GPT, type GptConfig } from '../src/tasks/gpt/model.js';
import { fullPlan, type LayerPlan } from '../src/model/trunk.js';
import type { Engine } from '../src/runtime/engine.js';
import { measureSkipLoss } from '../src/tasks/gpt/step.js';
import { evaluate } from '../src/tasks/gpt/step.js';
import { batchOf, patchGeometry } from '../src/tasks/vit/data.js';
import { ViT, type VitConfig } from '../src/tasks/vit/model.js';
import { evaluateVit, measureVitSkipLoss } from '../src/tasks/vit/step.js';
import { getEngine } from './helpers/gpu.js';
import { randomInts } from './helpers/random.js';
import { randomSet } from './helpers/vit_data.js';

let e: Engine;
beforeAll(async () => {
  e = await getEngine();
});

const skipping = (L: number, l: number): LayerPlan => ({ run: fullPlan(L).run.map((_, i) => i !== l), scale: fullPlan(L).scale });

describe('skip_loss sensitivity', () => {
  it('GPT: s_l = loss(l skipped) - loss(full) over the probes, each layer in its place', async () => {
    const cfg: GptConfig = { n_layer: 3, n_head: 2, n_embd: 16, vocab_size: 32, n_positions: 8 };
    const [B, T] = [2, 8];
    const model = new GPT(e, cfg);
    model.initialize(4);
    const probes: Batch[] = [1, 2].map((s) => ({ inputs: new Int32Array(randomInts(B * T, s, 32)), targets: new Int32Array(randomInts(B * T, s + 50, 32)) }));
    const m = await measureSkipLoss(e, model, probes, B, T);
    const full = await evaluate(e, model, probes, B, T);
    expect(m.fullLoss).toBeCloseTo(full, 6);
    for (let l = 0; l < cfg.n_layer; l++) {
      const want = (await evaluate(e, model, probes, B, T, skipping(cfg.n_layer, l))) - full;
      expect(Math.abs(want)).toBeGreaterThan(1e-5); // not vacuous: a flipped sign changes the value
      expect(m.values[l]).toBeCloseTo(want, 6);
    }
  });

  it('ViT: s_l = loss(l skipped) - loss(full) over the probes, each layer in its place', async () => {
    const cfg: VitConfig = { n_layer: 3, n_head: 2, n_embd: 16, image_size: 28, patch_size: 7, n_classes: 10 };
    const model = new ViT(e, cfg);
    model.initialize(6);
    const set = randomSet(8, 5);
    const g = patchGeometry(28, 28, 7);
    const probes = [0, 1].map((i) => batchOf(set, [2 * i, 2 * i + 1], 2, g));
    const m = await measureVitSkipLoss(e, model, probes);
    const full = (await evaluateVit(e, model, probes)).loss;
    expect(m.fullLoss).toBeCloseTo(full, 6);
    for (let l = 0; l < cfg.n_layer; l++) {
      const want = (await evaluateVit(e, model, probes, skipping(cfg.n_layer, l))).loss - full;
      expect(Math.abs(want)).toBeGreaterThan(1e-6);
      expect(m.values[l]).toBeCloseTo(want, 6);
    }
  });
});
