/**
 * Optimizer kernels against float64 references: grad_sumsq (any n, deterministic), grad_clip_scale, and
 * adamw_update over several steps with varying lr, clipping, decay on [0, decayCount) only, per-block step
 * counts, and blocks left undispatched (skipped layers) staying bit-identical.
 * Run: npx vitest run --config test/vitest.config.ts test/adamw.test.ts
 */
import { describe, expect, it } from 'vitest';
import {
  adamw_update,
  grad_clip_scale,
  grad_sumsq,
  gradSumsqDispatches,
  writeStepScalars,
  type AdamWHyper,
  type OptimBlock,
} from '../src/ops/adamw.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { closeTracker, compareClose, expectClose } from './helpers/compare.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { adamwStepRef, clipScaleRef, sumsqRef, type AdamWState } from './reference/adamw.js';

const HP: AdamWHyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
// f32 state compared with a float64 trajectory over a few steps; p is O(1), steps O(lr).
const P_TOL = { atol: 2e-6, rtol: 1e-5 };
const MV_TOL = { atol: 1e-7, rtol: 2e-5 };

/** Largest |got - ref| seen per quantity, printed with DEBUG set. */
const tracker = closeTracker('adamw', P_TOL);
function check(what: string, key: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: { atol: number; rtol: number }): void {
  tracker.close(what, got, ref, tol, key);
}

interface TestBlock {
  block: OptimBlock;
  state: AdamWState; // float64 mirror
}

/** A block with random params and (optionally) random nonzero moments, and its float64 mirror. */
function makeBlock(e: Engine, n: number, decayCount: number, seed: number, moments = false): TestBlock {
  const p = f32(randomArray(n, seed));
  const m = moments ? f32(randomArray(n, seed + 1, 0.1)) : new Float64Array(n);
  const v = moments ? f32(randomArray(n, seed + 2, 0.1).map((x) => x * x)) : new Float64Array(n);
  const block: OptimBlock = {
    params: tensorFrom(e, [n], p, 'f32', 'params'),
    grads: tensorFrom(e, [n], new Float64Array(n), 'f32', 'grads'),
    m: tensorFrom(e, [n], m, 'f32', 'm'),
    v: tensorFrom(e, [n], v, 'f32', 'v'),
    decayCount,
  };
  return { block, state: { p, m, v } };
}

async function readBits(e: Engine, t: Tensor): Promise<number[]> {
  return Array.from(new Uint32Array((await e.readFloat(t)).buffer));
}

describe('adamw reference', () => {
  it('first step from zero moments is p (1 - lr wd) - lr g / (|g| + eps), decay only below decayCount', () => {
    const n = 6;
    const g = randomArray(n, 1);
    const s: AdamWState = { p: randomArray(n, 2), m: new Float64Array(n), v: new Float64Array(n) };
    const p0 = Float64Array.from(s.p);
    const lr = 0.01;
    adamwStepRef(s, g, { lr, step: 1, ...HP, decayCount: 4, clipScale: 1 });
    const want = p0.map((p, i) => (i < 4 ? p * (1 - lr * HP.weightDecay) : p) - (lr * g[i]!) / (Math.abs(g[i]!) + HP.eps));
    expectClose('p', s.p, want, { atol: 1e-12, rtol: 1e-12 });
  });

  it('clip scale: maxNorm / (norm + 1e-6) above maxNorm, 1 below, 1 when maxNorm <= 0', () => {
    expect(clipScaleRef([9, 16], 1)).toEqual([1 / (5 + 1e-6), 5]);
    expect(clipScaleRef([9, 16], 10)).toEqual([1, 5]);
    expect(clipScaleRef([9, 16], 0)).toEqual([1, 5]);
  });
});

describe('grad_sumsq kernel', () => {
  // Edges: the n % 4 tail, one workgroup's width (256 invocations x 4), one stage (16384), G not a multiple of 4
  // in stage 2 (100000: G = 7), and past the 64-workgroup cap (1100003).
  const sizes = [1, 2, 3, 4, 5, 7, 31, 32, 33, 255, 256, 257, 1023, 1024, 1025, 4097, 16383, 16384, 16385, 65537, 100000, 1100003];
  for (const n of sizes) {
    it(`n=${n}: sumsq[slot] matches float64, other slots untouched, repeatable bit for bit`, async () => {
      const e = await getEngine();
      e.resetArena();
      const g = f32(randomArray(n, 100 + n));
      const grads = tensorFrom(e, [n], g, 'f32', 'grads');
      const sentinel = [11, 12, 13, 14, 15];
      const sumsq = tensorFrom(e, [5], sentinel, 'f32', 'sumsq');
      const before = e.counters.dispatches;
      grad_sumsq(e, grads, sumsq, 2);
      expect(e.counters.dispatches - before).toBe(gradSumsqDispatches(n));
      expect(gradSumsqDispatches(n)).toBe(n <= 16384 ? 1 : 2);
      const got = await e.readFloat(sumsq);
      check(`sumsq n=${n}`, 'sumsq (relative)', [got[2]! / sumsqRef(g)], [1], { atol: 0, rtol: 1e-5 });
      expect([got[0], got[1], got[3], got[4]]).toEqual([11, 12, 14, 15]);
      grad_sumsq(e, grads, sumsq, 2);
      expect((await e.readFloat(sumsq))[2]).toBe(got[2]);
    });
  }

  it('n=0 writes 0', async () => {
    const e = await getEngine();
    e.resetArena();
    const sumsq = tensorFrom(e, [2], [7, 7], 'f32', 'sumsq');
    grad_sumsq(e, e.alloc([0], 'f32', 'empty'), sumsq, 1);
    expect(Array.from(await e.readFloat(sumsq))).toEqual([7, 0]);
  });

  it('refuses a slot outside sumsq', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => grad_sumsq(e, e.alloc([8]), e.alloc([3]), 3)).toThrow(/grad_sumsq: slot 3 is outside sumsq \[3\]/);
  });
});

describe('grad_clip_scale kernel', () => {
  const cases: [string, number[], number, number][] = [
    ['norm above maxNorm', [3, 9.5, 0.25, 4], 1, 4],
    ['norm below maxNorm', [3, 9.5, 0.25, 4], 100, 4],
    ['maxNorm 0 disables clipping', [3, 9.5, 0.25, 4], 0, 4],
    ['only the first nSlots slots count', [3, 9.5, 0.25, 1e6], 2, 3],
    ['all-zero gradients', [0, 0, 0, 0], 1, 4],
  ];
  for (const [name, slots, maxNorm, nSlots] of cases) {
    it(name, async () => {
      const e = await getEngine();
      e.resetArena();
      const sumsq = tensorFrom(e, [4], slots, 'f32', 'sumsq');
      const clip = e.alloc([4], 'f32', 'clip');
      const before = e.counters.dispatches;
      grad_clip_scale(e, sumsq, nSlots, maxNorm, clip);
      expect(e.counters.dispatches - before).toBe(1);
      const [scale, norm] = await e.readFloat(clip);
      const [refScale, refNorm] = clipScaleRef(slots.slice(0, nSlots), maxNorm);
      check('norm', 'clip', [norm!], [refNorm], { atol: 0, rtol: 1e-6 });
      if (refScale === 1) expect(scale).toBe(1);
      else {
        expect(scale).toBeLessThan(1);
        check('scale', 'clip', [scale!], [refScale], { atol: 0, rtol: 1e-6 });
      }
    });
  }
});

describe('grad_clip_scale with a loss scale, and overflow', () => {
  it('unscales: the norm and clip scale of gradients of S times the loss are those of the unscaled ones, over S', async () => {
    const e = await getEngine();
    e.resetArena();
    const S = 1024;
    const slots = [3, 9.5, 0.25, 4];
    for (const maxNorm of [1, 100]) {
      const sumsq = tensorFrom(e, [4], slots.map((x) => x * S * S), 'f32', 'sumsq');
      const clip = e.alloc([4], 'f32', 'clip');
      grad_clip_scale(e, sumsq, 4, maxNorm, clip, 1 / S);
      const [scale, norm, overflow] = await e.readFloat(clip);
      const [refScale, refNorm] = clipScaleRef(slots, maxNorm);
      check('norm', 'clip', [norm!], [refNorm], { atol: 0, rtol: 1e-6 });
      check('scale', 'clip', [scale!], [refScale / S], { atol: 0, rtol: 1e-6 });
      expect(overflow).toBe(0);
    }
  });

  // Slots that are infinite, NaN, or finite but summing past f32's range.
  for (const slots of [[1, Infinity, 2], [1, NaN, 2], [3e38, 3e38, 1]]) {
    it(`a non-finite gradient sum (slots ${slots.join(', ')}) sets the overflow flag, and adamw_update then changes nothing`, async () => {
      const e = await getEngine();
      e.resetArena();
      const sumsq = tensorFrom(e, [3], slots, 'f32', 'sumsq');
      const clip = e.alloc([4], 'f32', 'clip');
      grad_clip_scale(e, sumsq, 3, 1, clip, 1 / 65536);
      const [scale, , overflow, pad] = await e.readFloat(clip);
      expect([scale, overflow, pad]).toEqual([0, 1, 0]);
      const { block } = makeBlock(e, 64, 40, 11, true);
      e.write(block.grads, Float32Array.from(randomArray(64, 12)));
      const before = await Promise.all([block.params, block.m, block.v].map((t) => readBits(e, t)));
      const stepScalars = e.alloc([4], 'f32', 'stepScalars');
      writeStepScalars(e, stepScalars, [{ lr: 0.1, step: 3 }], HP.beta1, HP.beta2);
      adamw_update(e, block, stepScalars, 0, clip, HP);
      const after = await Promise.all([block.params, block.m, block.v].map((t) => readBits(e, t)));
      expect(after).toEqual(before);
    });
  }

  it('refuses a loss scale that is not finite and positive', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => grad_clip_scale(e, e.alloc([1]), 1, 1, e.alloc([4]), 0)).toThrow(/invLossScale is 0/);
    expect(() => grad_clip_scale(e, e.alloc([1]), 1, 1, e.alloc([2]))).toThrow(/expected \[4\]/);
  });
});

describe('adamw_update kernel', () => {
  for (const n of [4, 64, 1028, 4096 + 4]) {
    const decayCount = n === 4 ? 3 : Math.floor(n * 0.6) + 1; // not a multiple of 4: splits a vec4
    it(`n=${n} decayCount=${decayCount}: 6 steps with varying lr and clipping match float64 AdamW`, async () => {
      const e = await getEngine();
      e.resetArena();
      const { block, state } = makeBlock(e, n, decayCount, 1000 + n, true);
      const sumsq = e.alloc([1], 'f32', 'sumsq');
      const clip = e.alloc([4], 'f32', 'clip');
      const stepScalars = e.alloc([4], 'f32', 'stepScalars');
      const lrs = [1e-2, 3e-3, 2e-2, 5e-3, 1e-3, 1.5e-2];
      // |g| ~ U(0, gs): norm ~ gs sqrt(n / 3). maxNorm sits between the small and large steps' norms.
      const gScales = [0.5, 2, 0.25, 3, 1, 0.5];
      const maxNorm = Math.sqrt(n / 3);
      let clipped = 0;
      for (let t = 1; t <= lrs.length; t++) {
        const lr = lrs[t - 1]!;
        const g = f32(randomArray(n, 5000 + 7 * n + t, gScales[t - 1]));
        e.write(block.grads, Float32Array.from(g));
        e.zero(sumsq);
        writeStepScalars(e, stepScalars, [{ lr, step: t }], HP.beta1, HP.beta2);
        const before = e.counters.dispatches;
        grad_sumsq(e, block.grads, sumsq, 0);
        grad_clip_scale(e, sumsq, 1, maxNorm, clip);
        adamw_update(e, block, stepScalars, 0, clip, HP);
        expect(e.counters.dispatches - before).toBe(gradSumsqDispatches(n) + 2);
        const [clipScale] = clipScaleRef([sumsqRef(g)], maxNorm);
        if (clipScale < 1) clipped++;
        adamwStepRef(state, g, { lr, step: t, ...HP, decayCount, clipScale });
        const [gpuScale] = await e.readFloat(clip);
        check(`clip scale step ${t}`, 'clip', [gpuScale!], [clipScale], { atol: 0, rtol: 1e-5 });
      }
      expect(clipped).toBeGreaterThan(0);
      expect(clipped).toBeLessThan(lrs.length);
      check('p', 'p', await e.readFloat(block.params), state.p, P_TOL);
      check('m', 'm', await e.readFloat(block.m), state.m, MV_TOL);
      check('v', 'v', await e.readFloat(block.v), state.v, MV_TOL);
    });
  }

  it('weight decay touches [0, decayCount) only; the rest is bit-identical when the Adam step is zero', async () => {
    const e = await getEngine();
    e.resetArena();
    const n = 64;
    const decayCount = 37;
    const { block, state } = makeBlock(e, n, decayCount, 7); // zero grads and moments: m / (sqrt(v) + eps) = 0
    const before = await readBits(e, block.params);
    const clip = tensorFrom(e, [4], [1, 0, 0, 0], 'f32', 'clip');
    const stepScalars = e.alloc([4], 'f32', 'stepScalars');
    const lr = 0.05;
    writeStepScalars(e, stepScalars, [{ lr, step: 1 }], HP.beta1, HP.beta2);
    adamw_update(e, block, stepScalars, 0, clip, HP);
    const got = await e.readFloat(block.params);
    const bits = await readBits(e, block.params);
    for (let i = 0; i < n; i++) {
      if (i < decayCount) expect(got[i], `p[${i}]`).toBeCloseTo(state.p[i]! * (1 - lr * HP.weightDecay), 6);
      else expect(bits[i], `p[${i}]`).toBe(before[i]);
    }
    expect(got[0]).not.toBe(state.p[0]);
  });

  it('weight decay scales the OLD p before the Adam step (PyTorch order), not the updated p', async () => {
    const e = await getEngine();
    e.resetArena();
    const n = 16;
    const hp = { ...HP, weightDecay: 0.5 };
    const lr = 0.1; // lr * wd = 0.05 and an Adam step of ~lr: the two orders differ by ~5e-3
    const { block, state } = makeBlock(e, n, n, 51);
    const g = f32(randomArray(n, 52));
    e.write(block.grads, Float32Array.from(g));
    const clip = tensorFrom(e, [4], [1, 0, 0, 0], 'f32', 'clip');
    const stepScalars = e.alloc([4], 'f32', 'stepScalars');
    writeStepScalars(e, stepScalars, [{ lr, step: 1 }], hp.beta1, hp.beta2);
    adamw_update(e, block, stepScalars, 0, clip, hp);
    const p0 = Float64Array.from(state.p);
    adamwStepRef(state, g, { lr, step: 1, ...hp, decayCount: n, clipScale: 1 });
    const got = await e.readFloat(block.params);
    check('p', 'p', got, state.p, P_TOL);
    // Decay applied after the step: (p - lr g / (|g| + eps)) (1 - lr wd).
    const decayAfter = p0.map((p, i) => (p - (lr * g[i]!) / (Math.abs(g[i]!) + hp.eps)) * (1 - lr * hp.weightDecay));
    expect(compareClose(got, decayAfter, P_TOL).ok).toBe(false);
  });

  it('a block not dispatched stays bit-identical (params, m, v) while another block updates', async () => {
    const e = await getEngine();
    e.resetArena();
    const a = makeBlock(e, 128, 100, 21, true);
    const b = makeBlock(e, 128, 100, 22, true);
    e.write(a.block.grads, Float32Array.from(randomArray(128, 23)));
    e.write(b.block.grads, Float32Array.from(randomArray(128, 24)));
    const bBefore = [await readBits(e, b.block.params), await readBits(e, b.block.m), await readBits(e, b.block.v)];
    const aBefore = await readBits(e, a.block.params);
    const clip = tensorFrom(e, [4], [1, 0, 0, 0], 'f32', 'clip');
    const stepScalars = e.alloc([8], 'f32', 'stepScalars');
    for (let t = 1; t <= 3; t++) {
      writeStepScalars(e, stepScalars, [{ lr: 1e-2, step: t }, { lr: 1e-2, step: 0 }], HP.beta1, HP.beta2);
      adamw_update(e, a.block, stepScalars, 0, clip, HP); // block b (a skipped layer) is not dispatched
    }
    expect(await readBits(e, a.block.params)).not.toEqual(aBefore);
    expect(await readBits(e, b.block.params)).toEqual(bBefore[0]);
    expect(await readBits(e, b.block.m)).toEqual(bBefore[1]);
    expect(await readBits(e, b.block.v)).toEqual(bBefore[2]);
  });

  it('per-block step counts: a block that skipped steps uses its own t for the bias corrections', async () => {
    const e = await getEngine();
    e.resetArena();
    const n = 256;
    // Identical blocks; a runs every step, b only on steps 2 and 4 (its t is 1, then 2).
    const a = makeBlock(e, n, 200, 31);
    const b = makeBlock(e, n, 200, 31);
    const bGlobalT = { p: Float64Array.from(b.state.p), m: Float64Array.from(b.state.m), v: Float64Array.from(b.state.v) };
    const clip = tensorFrom(e, [4], [1, 0, 0, 0], 'f32', 'clip');
    const stepScalars = e.alloc([8], 'f32', 'stepScalars');
    let tA = 0;
    let tB = 0;
    for (let step = 1; step <= 4; step++) {
      const g = f32(randomArray(n, 40 + step));
      const bRuns = step % 2 === 0;
      const lr = 1e-2 * step;
      tA++;
      if (bRuns) tB++;
      e.write(a.block.grads, Float32Array.from(g));
      e.write(b.block.grads, Float32Array.from(g));
      writeStepScalars(e, stepScalars, [{ lr, step: tA }, { lr, step: tB }], HP.beta1, HP.beta2);
      adamw_update(e, a.block, stepScalars, 0, clip, HP);
      adamwStepRef(a.state, g, { lr, step: tA, ...HP, decayCount: 200, clipScale: 1 });
      if (bRuns) {
        adamw_update(e, b.block, stepScalars, 1, clip, HP);
        adamwStepRef(b.state, g, { lr, step: tB, ...HP, decayCount: 200, clipScale: 1 });
        adamwStepRef(bGlobalT, g, { lr, step: tA, ...HP, decayCount: 200, clipScale: 1 });
      }
    }
    const gotB = await e.readFloat(b.block.params);
    check('a.p', 'p', await e.readFloat(a.block.params), a.state.p, P_TOL);
    check('b.p', 'p', gotB, b.state.p, P_TOL);
    check('b.m', 'm', await e.readFloat(b.block.m), b.state.m, MV_TOL);
    check('b.v', 'v', await e.readFloat(b.block.v), b.state.v, MV_TOL);
    // With the global step count instead (t = 2, 4) the bias corrections differ, and so does p.
    expect(compareClose(gotB, bGlobalT.p, P_TOL).ok).toBe(false);
  });

  it('writeStepScalars uploads [lr, 1 - b1^t, 1 - b2^t, 0] per block in one write', async () => {
    const e = await getEngine();
    e.resetArena();
    const stepScalars = e.alloc([12], 'f32', 'stepScalars');
    writeStepScalars(e, stepScalars, [{ lr: 1e-3, step: 1 }, { lr: 2e-3, step: 10 }, { lr: 0, step: 0 }], 0.9, 0.999);
    const want = [1e-3, 0.1, 0.001, 0, 2e-3, 1 - 0.9 ** 10, 1 - 0.999 ** 10, 0, 0, 0, 0, 0];
    expect(Array.from(await e.readFloat(stepScalars))).toEqual(Array.from(Float32Array.from(want)));
    expect(() => writeStepScalars(e, stepScalars, [{ lr: 1, step: 1 }], 0.9, 0.999)).toThrow(/writeStepScalars: stepScalars has shape \[12\], expected \[4\]/);
  });

  it('refuses a block whose size is not a multiple of 4, mismatched buffers and bad indices', async () => {
    const e = await getEngine();
    e.resetArena();
    const clip = e.alloc([2]);
    const ss = e.alloc([4]);
    const blk = (n: number, nm = n): OptimBlock => ({ params: e.alloc([n]), grads: e.alloc([n]), m: e.alloc([nm]), v: e.alloc([n]), decayCount: 0 });
    expect(() => adamw_update(e, blk(6), ss, 0, clip, HP)).toThrow(/adamw_update: block has 6 elements, not a multiple of 4/);
    expect(() => adamw_update(e, blk(8, 12), ss, 0, clip, HP)).toThrow(/adamw_update: block m has shape \[12\] but params has \[8\]/);
    expect(() => adamw_update(e, { ...blk(8), decayCount: 9 }, ss, 0, clip, HP)).toThrow(/decayCount 9 is outside \[0, 8\]/);
    expect(() => adamw_update(e, blk(8), ss, 1, clip, HP)).toThrow(/blockIndex 1 is outside stepScalars \[4\]/);
  });

});
