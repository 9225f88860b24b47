/**
 * Residual add with a branch scale: float64 reference checked by finite differences, then the GPU forward and
 * backward against it, the accumulate (+=) paths, and a composed graph where one input feeds two residual
 * adds. Run: npx vitest run --config test/vitest.config.ts test/residual.test.ts
 * (DEBUG=1 prints the max error per compared tensor).
 */
import { describe, expect, it } from 'vitest';
import { residual_backward, residual_forward, residualAdd } from '../src/ops/residual.js';
import { closeTracker, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { residualBackwardRef, residualRef } from './reference/residual.js';

const TOL: Tolerance = { atol: 1e-6, rtol: 1e-6 };

const { close } = closeTracker('residual', TOL);

const add = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]!);
const scaled = (s: number, a: ArrayLike<number>) => Float64Array.from(a, (v) => s * v);

describe('residual reference', () => {
  it('backward matches finite differences', () => {
    const h = randomArray(7, 1);
    const branch = randomArray(7, 2);
    const dout = randomArray(7, 3);
    const scale = 1 / 0.7;
    const g = residualBackwardRef(dout, scale);
    expectGradMatchesFiniteDiff('dh', () => residualRef(h, branch, scale), h, dout, g.dh);
    expectGradMatchesFiniteDiff('dbranch', () => residualRef(h, branch, scale), branch, dout, g.dbranch);
  });
});

describe('residual kernels', () => {
  // Sizes straddle the 4-element invocation and the 256-element workgroup; scales include 1/p values.
  const cases: [number[], number][] = [
    [[1], 1],
    [[3], 0.5],
    [[5], 1 / 0.7],
    [[31], 1],
    [[32], 2],
    [[33], 1 / 0.9],
    [[257], 1 / 0.7],
    [[2, 3, 11], -0.25],
  ];
  for (const [shape, scale] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    it(`forward and backward x=[${shape.join(', ')}] scale=${scale.toPrecision(4)}`, async () => {
      const e = await getEngine();
      e.resetArena();
      e.tape.clear();
      const h = f32(randomArray(n, 10 + n));
      const branch = f32(randomArray(n, 20 + n, 3));
      const dout = f32(randomArray(n, 30 + n));
      const s = Math.fround(scale); // the kernel's f32 scale
      const th = tensorFrom(e, shape, h);
      const tb = tensorFrom(e, shape, branch);
      const before = e.counters.dispatches;
      const out = residualAdd(e, th, tb, scale);
      expect(e.counters.dispatches - before).toBe(1);
      expect(out.shape).toEqual(shape);
      close('out', await e.readFloat(out), residualRef(h, branch, s));
      out.grad = tensorFrom(e, shape, dout, 'f32', 'dout');
      const beforeBack = e.counters.dispatches;
      e.tape.replay();
      expect(e.counters.dispatches - beforeBack).toBe(1);
      const g = residualBackwardRef(dout, s);
      close('dh', await e.readFloat(th.grad!), g.dh);
      close('dbranch', await e.readFloat(tb.grad!), g.dbranch);
      // dout is its own tensor, left as it was (dh does not alias it).
      expect(th.grad!.buffer).not.toBe(out.grad.buffer);
      close('dout (unchanged)', await e.readFloat(out.grad), dout, { atol: 0, rtol: 0 });
    });
  }

  it('backward adds into existing gradients (accumulate)', async () => {
    const e = await getEngine();
    e.resetArena();
    e.tape.clear();
    const n = 45;
    const scale = 1 / 0.6;
    const s = Math.fround(scale);
    const h = f32(randomArray(n, 1));
    const branch = f32(randomArray(n, 2));
    const dout = f32(randomArray(n, 3));
    const prevH = f32(randomArray(n, 4));
    const prevB = f32(randomArray(n, 5));
    // h a parameter (always +=), branch an activation that already received a gradient.
    const th = paramFrom(e, [n], h, 'h');
    e.write(th.grad!, Float32Array.from(prevH));
    const tb = tensorFrom(e, [n], branch);
    tb.grad = tensorFrom(e, [n], prevB, 'f32', 'dbranch.prev');
    const out = residualAdd(e, th, tb, scale);
    out.grad = tensorFrom(e, [n], dout, 'f32', 'dout');
    e.tape.replay();
    const g = residualBackwardRef(dout, s);
    close('dh (+=)', await e.readFloat(th.grad!), add(prevH, g.dh));
    close('dbranch (+=)', await e.readFloat(tb.grad), add(prevB, g.dbranch));
  });

  it('composed: one input feeding two residual adds gets the sum of both gradients', async () => {
    // o1 = h + s1 b1,  o2 = h + s2 b2,  o3 = o1 + s3 o2.  Replayed: o3 (o1 =, o2 =), o2 (h =, b2 =), o1 (h +=, b1 =).
    const e = await getEngine();
    e.resetArena();
    e.tape.clear();
    const n = 70;
    const [s1, s2, s3] = [1 / 0.8, 0.5, 1 / 0.7].map(Math.fround) as [number, number, number];
    const h = f32(randomArray(n, 1));
    const b1 = f32(randomArray(n, 2));
    const b2 = f32(randomArray(n, 3));
    const dout = f32(randomArray(n, 4));
    const th = tensorFrom(e, [n], h);
    const tb1 = tensorFrom(e, [n], b1);
    const tb2 = tensorFrom(e, [n], b2);
    const before = e.counters.dispatches;
    const o1 = residualAdd(e, th, tb1, s1);
    const o2 = residualAdd(e, th, tb2, s2);
    const o3 = residualAdd(e, o1, o2, s3);
    close('out (composed)', await e.readFloat(o3), residualRef(residualRef(h, b1, s1), residualRef(h, b2, s2), s3));
    o3.grad = tensorFrom(e, [n], dout, 'f32', 'dout');
    e.tape.replay();
    expect(e.counters.dispatches - before).toBe(6);
    const do2 = scaled(s3, dout);
    close('dh (composed)', await e.readFloat(th.grad!), add(dout, do2));
    close('db1 (composed)', await e.readFloat(tb1.grad!), scaled(s1, dout));
    close('db2 (composed)', await e.readFloat(tb2.grad!), scaled(s2, do2));
    close('do1 (composed)', await e.readFloat(o1.grad!), dout);
    close('do2 (composed)', await e.readFloat(o2.grad!), do2);
  });

  it('h and branch the same tensor: dh = (1 + scale) dout', async () => {
    const e = await getEngine();
    e.resetArena();
    e.tape.clear();
    const n = 9;
    const s = Math.fround(1 / 0.7);
    const h = f32(randomArray(n, 1));
    const dout = f32(randomArray(n, 2));
    const th = tensorFrom(e, [n], h);
    const out = residualAdd(e, th, th, s);
    close('out (h = branch)', await e.readFloat(out), residualRef(h, h, s));
    out.grad = tensorFrom(e, [n], dout, 'f32', 'dout');
    e.tape.replay();
    close('dh (h = branch)', await e.readFloat(th.grad!), scaled(1 + s, dout));
  });

  it('kernels number workgroups across a grid folded into y', async () => {
    // 1000 elements need 4 workgroups of 256; dispatch them as 3 x 2 (as the host folds past 65535).
    const e = await getEngine();
    e.resetArena();
    const n = 1000;
    const s = 0.75;
    const h = f32(randomArray(n, 1));
    const branch = f32(randomArray(n, 2));
    const dout = f32(randomArray(n, 3));
    const out = e.alloc([n]);
    const params = { n, scale: s, accumulate: 0, accumulate_branch: 0 };
    e.dispatch('residual_forward', { h: tensorFrom(e, [n], h), branch: tensorFrom(e, [n], branch), out }, params, [3, 2]);
    close('out (folded)', await e.readFloat(out), residualRef(h, branch, s));
    const dh = e.alloc([n]);
    const dbranch = e.alloc([n]);
    e.dispatch('residual_backward', { dout: tensorFrom(e, [n], dout), dh, dbranch }, params, [2, 3]);
    const g = residualBackwardRef(dout, s);
    close('dh (folded)', await e.readFloat(dh), g.dh);
    close('dbranch (folded)', await e.readFloat(dbranch), g.dbranch);
  });

  it('kernel-level accumulate flags are independent', async () => {
    const e = await getEngine();
    e.resetArena();
    const n = 6;
    const prev = f32(randomArray(n, 1));
    const dout = f32(randomArray(n, 2));
    const dh = tensorFrom(e, [n], prev);
    const dbranch = tensorFrom(e, [n], prev);
    residual_backward(e, dh, false, dbranch, true, tensorFrom(e, [n], dout), 2);
    close('dh (=)', await e.readFloat(dh), dout);
    close('dbranch (+=)', await e.readFloat(dbranch), add(prev, scaled(2, dout)));
    const out = tensorFrom(e, [n], prev);
    residual_forward(e, out, tensorFrom(e, [n], dout), tensorFrom(e, [n], dout), 2, true);
    close('out (+=)', await e.readFloat(out), add(prev, scaled(3, dout)));
  });

  it('refuses mismatched shapes and dtypes naming the op and shapes', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => residualAdd(e, e.alloc([2, 3]), e.alloc([3, 2]))).toThrow(/residualAdd: h has shape \[2, 3\] but branch has \[3, 2\]/);
    expect(() => residualAdd(e, e.alloc([4]), e.alloc([4], 'i32'))).toThrow(/residualAdd: branch has dtype i32, expected f32/);
    expect(() => residualAdd(e, e.alloc([4]), e.alloc([4]), NaN)).toThrow(/residualAdd: scale must be finite, got NaN/);
    expect(() => residual_forward(e, e.alloc([5]), e.alloc([4]), e.alloc([4]))).toThrow(/residual_forward: out has shape \[5\], but h has \[4\]/);
    expect(() => residual_backward(e, e.alloc([4]), false, e.alloc([3]), false, e.alloc([4]))).toThrow(
      /residual_backward: dbranch has shape \[3\], but dout has \[4\]/,
    );
  });
});
