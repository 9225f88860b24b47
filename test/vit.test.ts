/**
 * The ViT's golden test: a tiny ViT on the GPU against the float64 plain-loop model in test/reference/vit.ts
 * (logits, loss, every parameter gradient; the same with a layer skipped and a residual scale), the reference
 * checked by central differences, the parameter names and checkpoint (timm) shapes, and a tiny ViT overfitting
 * a handful of images.
 * Run: npx vitest run --config test/vitest.config.ts test/vit.test.ts   (DEBUG=1 prints every max error)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullPlan, type LayerPlan } from '../src/tasks/gpt/model.js';
import { writeWeights } from '../src/model/weights.js';
import type { Engine } from '../src/runtime/engine.js';
import { AdamW } from '../src/train/optimizer.js';
import { batchOf, patchGeometry } from '../src/tasks/vit/data.js';
import { ViT, vitTensorSpecs, type VitConfig } from '../src/tasks/vit/model.js';
import { evaluateVit, uploadImages, VitStepRunner } from '../src/tasks/vit/step.js';
import { compareClose, expectClose, type Tolerance } from './helpers/compare.js';
import { expectParamGradsMatchFiniteDiff } from './helpers/finite_diff.js';
import { getEngine } from './helpers/gpu.js';
import { referencePair, withHalfSlack } from './helpers/precision.js';
import { gpuPass } from './helpers/gpu_pass.js';
import { f32, randomArray, randomInts } from './helpers/random.js';
import { randomSet } from './helpers/vit_data.js';
import { removeLayers, tokensRef, vitBackwardRef, vitForwardRef, vitParamShapesRef, type RefPlan, type VitParams, type VitRefConfig } from './reference/vit.js';

// L = 3 so that with layer 0 skipped two kept layers remain, one rescaled. 28x28 images in 7x7 patches: T = 16,
// K = 49. B = 4 with one padding row (label -1), which the loss must leave out.
const CFG: VitConfig = { n_layer: 3, n_head: 2, n_embd: 16, image_size: 28, patch_size: 7, n_classes: 10 };
const REF: VitRefConfig = { L: 3, NH: 2, C: 16, S: 28, P: 7, NC: 10 };
const B = 4;
const LABELS = Int32Array.from([3, 7, -1, 0]);

// Tolerances as GPT's golden test (same ops, same depth), checked against the measured errors printed at the end.
const LOGITS_TOL: Tolerance = { atol: 2e-5, rtol: 1e-4 };
const LOSS_TOL: Tolerance = { atol: 1e-5, rtol: 1e-5 };
const GRAD_RTOL = 1e-3;
const GRAD_ATOL_FRAC = 1e-4;

const report: { what: string; maxAbsErr: number; maxRef: number }[] = [];

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** `halfRef`: under f16, the reference with the f16 GEMMs' operands rounded; the tolerance grows by what that moves. */
function check(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, f32Tol: Tolerance, halfRef?: ArrayLike<number>): void {
  const tol = withHalfSlack(f32Tol, ref, halfRef);
  const r = compareClose(got, ref, tol);
  report.push({ what, maxAbsErr: r.maxAbsErr, maxRef: maxAbs(ref) });
  if (process.env.DEBUG) console.log(`${what}: ${r.message}`);
  expectClose(what, got, ref, tol);
}

function checkGrad(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, halfRef?: ArrayLike<number>): void {
  check(what, got, ref, { atol: GRAD_ATOL_FRAC * maxAbs(ref), rtol: GRAD_RTOL }, halfRef);
}

afterAll(() => {
  const worst = [...report].sort((a, b) => b.maxAbsErr / (b.maxRef || 1) - a.maxAbsErr / (a.maxRef || 1))[0];
  if (worst) console.log(`vit golden test, worst tensor: ${worst.what} max|err| ${worst.maxAbsErr.toExponential(2)} max|ref| ${worst.maxRef.toExponential(2)}`);
});

/** Seeded parameters rounded to f32, scaled so every part of the network matters (as GPT's golden test). */
function makeParams(cfg: VitRefConfig, seed: number): VitParams {
  const p: VitParams = {};
  vitParamShapesRef(cfg).forEach(({ name, shape }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = (scale: number) => f32(randomArray(n, seed * 1000 + i, scale));
    if (/norm\d?\.weight$/.test(name)) p[name] = f32(r(0.3).map((x) => 1 + x));
    else if (name.endsWith('.bias')) p[name] = r(0.1);
    else if (name === 'patch_embed.proj.weight') p[name] = r(0.3);
    else if (name === 'pos_embed') p[name] = r(0.5);
    else if (name.endsWith('qkv.weight')) p[name] = r(0.6);
    else if (name === 'head.weight') p[name] = r(0.8);
    else p[name] = r(0.4);
  });
  return p;
}

function toF32(p: VitParams): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Float32Array.from(v)]));
}

describe('float64 reference ViT', () => {
  // Smaller than the GPU model so central differences over many coordinates stay fast: 8x8 images, 4x4 patches.
  const cfg: VitRefConfig = { L: 2, NH: 2, C: 8, S: 8, P: 4, NC: 5 };
  const b = 3;
  const { T, K } = tokensRef(cfg);
  const patches = randomArray(b * T * K, 7, 2);
  const labels = [4, -1, 1];

  it('backward matches central differences of the loss for every tensor, with a layer skipped and a scale', () => {
    const p = makeParams(cfg, 3);
    const plan: RefPlan = { run: [true, false], scale: [1 / 0.7, 1] };
    const loss = () => vitForwardRef(cfg, p, patches, labels, b, plan).loss;
    const grads = vitBackwardRef(cfg, p, vitForwardRef(cfg, p, patches, labels, b, plan));
    expectParamGradsMatchFiniteDiff(loss, p, grads, vitParamShapesRef(cfg).map((s) => s.name));
    expect(maxAbs(grads['blocks.1.mlp.fc1.weight']!)).toBe(0);
    expect(maxAbs(grads['blocks.0.mlp.fc1.weight']!)).toBeGreaterThan(1e-4);
  });

  it('is bidirectional: the first token depends on the last patch (a causal model would not)', () => {
    const p = makeParams(cfg, 4);
    const plan: RefPlan = { run: [true, true], scale: [1, 1] };
    const f = vitForwardRef(cfg, p, patches, labels, b, plan);
    const g = vitBackwardRef(cfg, p, f);
    // The loss reads every token through the mean pool, so check a layer's attention instead: perturbing the last
    // patch of image 0 changes layer 1's input at token 0.
    const moved = Float64Array.from(patches);
    for (let k = 0; k < K; k++) moved[(T - 1) * K + k]! += 0.5;
    const f2 = vitForwardRef(cfg, p, moved, labels, b, plan);
    const x0 = (fw: typeof f) => fw.layers[1]!.x.subarray(0, cfg.C);
    expect(maxAbs(x0(f).map((v, i) => v - x0(f2)[i]!))).toBeGreaterThan(1e-6);
    expect(maxAbs(g['pos_embed']!)).toBeGreaterThan(0);
  });
});

describe('ViT on the GPU vs the float64 reference', () => {
  let e: Engine;
  let model: ViT;
  const params = makeParams(REF, 1);
  const { T, K } = tokensRef(REF);
  const patches = f32(randomArray(B * T * K, 11, 2));
  /** The test batch on the device (arena tensors: uploaded in each pass). */
  const upload = () => uploadImages(e, { patches: Float32Array.from(patches), labels: LABELS }, model.T, model.K);

  beforeAll(async () => {
    e = await getEngine();
    model = new ViT(e, CFG);
    writeWeights(e, model, toF32(params));
  });

  it('has the reference parameter names and device shapes, and timm shapes in checkpoints', () => {
    const got = model.blocks.flatMap((b) => b.specs.map((s) => `${s.name} ${s.shape.join('x')}`)).sort();
    const want = vitParamShapesRef(REF).map((s) => `${s.name} ${s.shape.join('x')}`).sort();
    expect(got).toEqual(want);
    const file = Object.fromEntries(vitTensorSpecs(CFG).map((s) => [s.name, s.fileShape]));
    expect(file['patch_embed.proj.weight']).toEqual([16, 1, 7, 7]); // timm's Conv2d (embed_dim, in_chans, P, P)
    expect(file['blocks.2.attn.qkv.weight']).toEqual([48, 16]); // nn.Linear (out, in)
    expect(file['blocks.0.mlp.fc1.weight']).toEqual([64, 16]);
    expect(file['head.weight']).toEqual([10, 16]);
    expect(file['pos_embed']).toEqual([1, 16, 16]);
    // One block per layer; decay only on weight matrices.
    expect(model.blocks.length).toBe(4);
    const decayed = model.rest.specs.filter((s) => s.decay).map((s) => s.name);
    expect(decayed.sort()).toEqual(['head.weight', 'patch_embed.proj.weight']);
  });

  it('forward: logits (B, classes) and the mean loss over labelled rows', async () => {
    const gpu = await gpuPass(e, model, upload, fullPlan(3));
    const { exact: ref, half } = referencePair(e, () => vitForwardRef(REF, params, patches, LABELS, B));
    check('logits', gpu.logits, ref.logits, LOGITS_TOL, half?.logits);
    check('loss', [gpu.loss], [ref.loss], LOSS_TOL, half && [half.loss]);
    expect(Math.abs(ref.loss - Math.log(10))).toBeGreaterThan(0.3);
    expect(maxAbs(ref.logits)).toBeGreaterThan(1);
  });

  it('backward: every parameter gradient', async () => {
    const gpu = await gpuPass(e, model, upload, fullPlan(3));
    const { exact: ref, half } = referencePair(e, () => vitBackwardRef(REF, params, vitForwardRef(REF, params, patches, LABELS, B)));
    for (const { name } of vitParamShapesRef(REF)) {
      expect(maxAbs(ref[name]!), `reference d${name} is all zero`).toBeGreaterThan(0);
      checkGrad(`d${name}`, gpu.grads[name]!, ref[name]!, half?.[name]);
    }
  });

  it('layer 0 skipped, layer 1 scaled by 1/0.7: the network with layer 0 removed; the skipped block untouched', async () => {
    const plan: LayerPlan = { run: [false, true, true], scale: [1, 1 / 0.7, 1] };
    const sentinel = Float32Array.from(randomArray(model.layers[0]!.size, 99));
    const gpu = await gpuPass(e, model, upload, plan, new Map([[0, sentinel]]));
    const sub = removeLayers(REF, params, plan);
    expect(sub.kept).toEqual([1, 2]);
    const pass = () => {
      const f = vitForwardRef(sub.cfg, sub.params, patches, LABELS, B, sub.plan);
      return { f, grads: vitBackwardRef(sub.cfg, sub.params, f) };
    };
    const { exact, half } = referencePair(e, pass);
    const { f, grads: ref } = exact;
    check('skip: logits', gpu.logits, f.logits, LOGITS_TOL, half?.f.logits);
    check('skip: loss', [gpu.loss], [f.loss], LOSS_TOL, half && [half.f.loss]);
    expect(Math.abs(f.loss - vitForwardRef(REF, params, patches, LABELS, B).loss)).toBeGreaterThan(1e-2);
    for (const { name } of vitParamShapesRef(sub.cfg)) {
      const m = /^blocks\.(\d+)\.(.*)$/.exec(name);
      const gpuName = m ? `blocks.${sub.kept[Number(m[1])]}.${m[2]}` : name;
      checkGrad(`skip: d${gpuName}`, gpu.grads[gpuName]!, ref[name]!, half?.grads[name]);
    }
    expect(new Uint32Array(gpu.rawGrads[0]!.buffer)).toEqual(new Uint32Array(sentinel.buffer));
  });

  it('evaluation: loss, top-1 and top-5 from the logits, padding rows left out', async () => {
    const { exact: ref, half } = referencePair(e, () => vitForwardRef(REF, params, patches, LABELS, B));
    const m = await evaluateVit(e, model, [{ patches: Float32Array.from(patches), labels: LABELS }]);
    expect(m.n).toBe(3);
    check('eval loss', [m.loss], [ref.loss], LOSS_TOL, half && [half.loss]);
    let top1 = 0;
    let top5 = 0;
    LABELS.forEach((y, r) => {
      if (y < 0) return;
      const row = ref.logits.subarray(r * 10, (r + 1) * 10);
      const above = row.filter((v) => v > row[y]!).length;
      top1 += above === 0 ? 1 : 0;
      top5 += above < 5 ? 1 : 0;
    });
    expect([m.top1, m.top5]).toEqual([top1 / 3, top5 / 3]);
  });
});

describe('training', () => {
  it('a tiny ViT overfits a handful of images', async () => {
    const e = await getEngine();
    const cfg: VitConfig = { n_layer: 2, n_head: 2, n_embd: 32, image_size: 28, patch_size: 7, n_classes: 10 };
    const model = new ViT(e, cfg);
    model.initialize(5);
    const opt = new AdamW(e, model.blocks, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, gradClip: 1 });
    const runner = new VitStepRunner(e, model, opt);
    // 16 random-noise images with random labels: only memorising them lowers the loss.
    const set = randomSet(16, 300);
    set.labels.set(Array.from(randomInts(16, 301, 10)));
    const batch = batchOf(set, Array.from({ length: 16 }, (_, i) => i), 16, patchGeometry(28, 28, 7));
    const plan = [fullPlan(2)];
    const first = await runner.step([batch], plan, 3e-3)();
    let read = () => Promise.resolve(first);
    for (let step = 1; step < 100; step++) {
      read = runner.step([batch], plan, 3e-3);
      if (process.env.DEBUG && step % 10 === 9) console.log(`overfit: step ${step + 1} loss ${(await read()).toFixed(5)}`);
    }
    const last = await read();
    const acc = await evaluateVit(e, model, [batch]);
    console.log(`vit overfit: loss ${first.toFixed(4)} -> ${last.toFixed(4)} after 100 steps, train top-1 ${acc.top1}`);
    // Measured on lavapipe: 2.27 at step 1 (~ln 10), 0.89 at 20, 0.17 at 40, 0.040 at 60, 0.011 at 100. The bound
    // 0.1 is 9x above the end value and is met by step ~45, so another summation order passes, while training that
    // does not memorise the images fails.
    expect(first).toBeGreaterThan(2);
    expect(last).toBeLessThan(0.1);
    expect(acc.top1).toBe(1);
  });
});
