/**
 * Layer skipping in the ViT is real, proved by counters as for GPT (test/layerdrop.test.ts): the per-layer counts
 * are measured as one-layer differences (full - layer l skipped), checked equal for every l, then the linear
 * law count(S skipped) = full - |S| x per-layer is asserted exactly for every subset S of the L layers, for a
 * no-grad forward, a grad forward's tape and a whole training step (forward, backward, optimizer); a skipped
 * layer's params, grads, AdamW moments and step count stay bit-identical while kept layers change.
 * Run: npx vitest run --config test/vitest.config.ts test/vit_layerdrop.test.ts
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fullPlan, type LayerPlan } from '../src/tasks/gpt/model.js';
import { gradSumsqDispatches } from '../src/ops/adamw.js';
import type { DispatchRecord, Engine, Phase } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer.js';
import { batchOf, patchGeometry, type ImageBatch } from '../src/tasks/vit/data.js';
import { ViT, type VitConfig } from '../src/tasks/vit/model.js';
import { uploadImages, VitStepRunner } from '../src/tasks/vit/step.js';
import { getEngine } from './helpers/gpu.js';
import { attentionOutputCasts, halfCasts, halfMatmuls } from './helpers/precision.js';
import { randomSet } from './helpers/vit_data.js';

const L = 4;
const B = 2;
const CONFIG: VitConfig = { n_layer: L, n_head: 2, n_embd: 32, image_size: 28, patch_size: 7, n_classes: 10 };
const LR = 1e-2;

let e: Engine;
let model: ViT;
let runner: VitStepRunner;
let batches: ImageBatch[];

function skipPlan(skipped: readonly number[]): LayerPlan {
  const p = fullPlan(L);
  return { run: p.run.map((_, l) => !skipped.includes(l)), scale: p.scale };
}

const ALL_SKIP_SETS: number[][] = Array.from({ length: 1 << L }, (_, mask) => Array.from({ length: L }, (_, l) => l).filter((l) => mask & (1 << l)));

function count(fn: () => void): { dispatches: number; tapeEntries: number; log: DispatchRecord[] } {
  const d0 = e.counters.dispatches;
  const t0 = e.counters.tapeEntries;
  e.dispatchLog = [];
  try {
    fn();
    return { dispatches: e.counters.dispatches - d0, tapeEntries: e.counters.tapeEntries - t0, log: e.dispatchLog };
  } finally {
    e.dispatchLog = null;
  }
}

function countForward(plan: LayerPlan, grad: boolean) {
  currentHalfCopies();
  e.resetArena();
  const batch = uploadImages(e, batches[0]!, model.T, model.K);
  const c = count(() => {
    if (grad) model.forward(batch, plan);
    else e.noGrad(() => model.forward(batch, plan));
  });
  e.resetArena();
  return c;
}

const ofLayer = (log: readonly DispatchRecord[], l: number, phase?: Phase) => log.filter((r) => r.layer === l && (phase === undefined || r.phase === phase)).length;

async function bits(t: Tensor): Promise<Uint32Array> {
  return new Uint32Array((await e.readFloat(t)).buffer);
}

function changed(a: Uint32Array, b: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

beforeAll(async () => {
  e = await getEngine();
  model = new ViT(e, CONFIG);
  model.initialize(7);
  runner = new VitStepRunner(e, model, new AdamW(e, model.blocks, ADAMW_DEFAULTS), 4);
  const set = randomSet(8, 1);
  const g = patchGeometry(28, 28, 7);
  batches = [0, 1, 2, 3].map((i) => batchOf(set, [2 * i, 2 * i + 1], B, g));
});

/**
 * The shared pre-LN block's forward ops (each one dispatch and one entry on the tape): 2 LN, 4 matmuls (fc's with
 * GELU in its epilogue, the projections' with their residual adds), attention: 7; one more each where the adapter
 * runs GELU or a residual add on its own (src/model/block.ts).
 */
const BLOCK_FORWARD_OPS = () => 7 + (e.choice.get('linearGelu') === 'fused' ? 0 : 1) + (e.choice.get('linearResidual') === 'fused' ? 0 : 2);
/**
 * Its dispatches: under f16 precision one more where GELU runs on its own (its f32 output is cast for fc2), and
 * one more where attention's kernels cannot store the f16 copy of its output themselves (the LayerNorms and the
 * fused linear + GELU write theirs in f16; the weights' copies are current).
 */
const BLOCK_FORWARD_DISPATCHES = () =>
  BLOCK_FORWARD_OPS() + halfCasts(e, e.choice.get('linearGelu') === 'fused' ? 0 : 1).length + attentionOutputCasts(e, CONFIG.n_embd / CONFIG.n_head).length;

/**
 * Under f16, brings every weight's f16 copy up to date (a no-grad forward of the whole model), so the counts that
 * follow hold the casts of activations and gradients only. A weight is cast once after each update, in the next
 * forward that uses it; test/precision.test.ts counts those casts.
 */
function currentHalfCopies(): void {
  if (!halfMatmuls(e)) return;
  e.resetArena();
  const batch = uploadImages(e, batches[0]!, model.T, model.K);
  e.noGrad(() => model.forward(batch, fullPlan(L)));
  e.resetArena();
}

describe('ViT layer skipping', () => {
  it('no-grad forward and grad forward: dispatches and tape entries = full - k x per-layer for every skip set', () => {
    for (const grad of [false, true]) {
      const full = countForward(fullPlan(L), grad);
      const skip0 = countForward(skipPlan([0]), grad);
      const perLayer = full.dispatches - skip0.dispatches;
      const perLayerTape = full.tapeEntries - skip0.tapeEntries;
      expect(perLayer).toBe(BLOCK_FORWARD_DISPATCHES());
      expect(perLayerTape).toBe(grad ? BLOCK_FORWARD_OPS() : 0);
      for (let l = 0; l < L; l++) expect(ofLayer(full.log, l), `layer ${l}`).toBe(perLayer);
      for (const skipped of ALL_SKIP_SETS) {
        const c = countForward(skipPlan(skipped), grad);
        expect(c.dispatches, `skip [${skipped}]`).toBe(full.dispatches - skipped.length * perLayer);
        expect(c.tapeEntries, `skip [${skipped}]`).toBe(full.tapeEntries - skipped.length * perLayerTape);
        for (let l = 0; l < L; l++) expect(ofLayer(c.log, l), `skip [${skipped}], layer ${l}`).toBe(skipped.includes(l) ? 0 : perLayer);
      }
    }
  });

  it('training step: dispatches = full - k x (forward + backward + optimizer per layer) for every skip set', () => {
    const stepCount = (plans: LayerPlan[]) => {
      currentHalfCopies();
      return count(() => void runner.step(batches.slice(0, plans.length), plans, LR));
    };
    const phases: Phase[] = ['forward', 'backward', 'optimizer'];
    const full = stepCount([fullPlan(L)]);
    const perLayer = full.dispatches - stepCount([skipPlan([0])]).dispatches;
    const perPhase = Object.fromEntries(phases.map((p) => [p, ofLayer(full.log, 0, p)])) as Record<Phase, number>;
    expect(perPhase.forward + perPhase.backward + perPhase.optimizer).toBe(perLayer);
    expect(perPhase.forward).toBe(BLOCK_FORWARD_DISPATCHES());
    expect(perPhase.backward).toBeGreaterThan(0);
    expect(perPhase.optimizer).toBe(gradSumsqDispatches(model.layers[0]!.size) + 1);
    for (const skipped of ALL_SKIP_SETS) {
      const c = stepCount([skipPlan(skipped)]);
      expect(c.dispatches, `skip [${skipped}]`).toBe(full.dispatches - skipped.length * perLayer);
      for (let l = 0; l < L; l++) {
        for (const p of phases) expect(ofLayer(c.log, l, p), `skip [${skipped}], layer ${l}, ${p}`).toBe(skipped.includes(l) ? 0 : perPhase[p]);
      }
      expect(c.log.filter((r) => r.layer === null).length).toBe(full.dispatches - L * perLayer);
    }
    // Two micro-batches: a layer skipped in one still runs in the other and is updated; skipped in both, it is not.
    const one = stepCount([skipPlan([1]), fullPlan(L)]);
    const both = stepCount([skipPlan([1]), skipPlan([1])]);
    expect(ofLayer(one.log, 1, 'optimizer')).toBe(perPhase.optimizer);
    expect(ofLayer(both.log, 1)).toBe(0);
  });

  it("a skipped layer's params, grads, m, v stay bit-identical and its stepCount unchanged; kept layers change", async () => {
    runner.step(batches.slice(0, 1), [fullPlan(L)], LR);
    const snap = async () => Promise.all(model.blocks.map(async (b) => ({ params: await bits(b.params), grads: await bits(b.grads), m: await bits(b.m), v: await bits(b.v), stepCount: b.stepCount })));
    const before = await snap();
    const skipped = [0, 2];
    expect(Number.isFinite(await runner.step(batches.slice(1, 2), [skipPlan(skipped)], LR)())).toBe(true);
    const after = await snap();
    for (let b = 0; b <= L; b++) {
      const [x, y] = [before[b]!, after[b]!];
      const n = x.params.length;
      if (skipped.includes(b)) {
        expect(changed(x.m, new Uint32Array(n)), `layer ${b}: moments nonzero before`).toBeGreaterThan(n / 2);
        for (const k of ['params', 'grads', 'm', 'v'] as const) expect(changed(x[k], y[k]), `layer ${b}.${k}`).toBe(0);
        expect(y.stepCount).toBe(x.stepCount);
      } else {
        for (const k of ['params', 'grads', 'm', 'v'] as const) expect(changed(x[k], y[k]), `block ${b}.${k}`).toBeGreaterThan(n / 2);
        expect(y.stepCount).toBe(x.stepCount + 1);
      }
    }
  });
});
