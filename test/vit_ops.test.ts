/**
 * The two ops the ViT adds: mean over tokens (`meanPool`) and the learned position embedding (`posEmbed`).
 * Each: the float64 reference checked by finite differences, then the GPU forward and backward against it at
 * sizes around the 64-invocation workgroup (31, 32, 33, 65 and larger), the accumulate (+=) paths, a grid folded
 * into y, and shape errors that name the op.
 * Run: npx vitest run --config test/vitest.config.ts test/vit_ops.test.ts   (DEBUG=1 prints the max errors)
 */
import { describe, expect, it } from 'vitest';
import { meanPool, meanpool_backward, meanpool_forward } from '../src/ops/meanpool.js';
import { posEmbed, posembed_backward, posembed_forward } from '../src/ops/posembed.js';
import { closeTracker, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { meanpoolBackwardRef, meanpoolRef } from './reference/meanpool.js';
import { posembedBackwardRef, posembedRef } from './reference/posembed.js';

// Sums of up to ~50 values of size ~1 in f32, compared against float64.
const TOL: Tolerance = { atol: 1e-6, rtol: 1e-5 };

const { close } = closeTracker('vit ops', TOL);

const add = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]!);

// (B, T, C): one element, sizes straddling the 64-wide workgroup, and a ViT-like (B, 49, C) shape.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [2, 3, 5],
  [1, 31, 1],
  [3, 1, 32],
  [2, 33, 3],
  [5, 7, 13],
  [3, 16, 65],
  [4, 49, 24],
];

describe('meanpool reference', () => {
  it('backward matches finite differences', () => {
    const [B, T, C] = [2, 5, 3];
    const x = randomArray(B * T * C, 1);
    const dout = randomArray(B * C, 2);
    expectGradMatchesFiniteDiff('dx', () => meanpoolRef(B, T, C, x), x, dout, meanpoolBackwardRef(B, T, C, dout));
  });
});

describe('posembed reference', () => {
  it('backward matches finite differences', () => {
    const [B, T, C] = [3, 4, 2];
    const x = randomArray(B * T * C, 1);
    const pos = randomArray(T * C, 2);
    const dout = randomArray(B * T * C, 3);
    const g = posembedBackwardRef(B, T, C, dout);
    expectGradMatchesFiniteDiff('dx', () => posembedRef(B, T, C, x, pos), x, dout, g.dx);
    expectGradMatchesFiniteDiff('dpos', () => posembedRef(B, T, C, x, pos), pos, dout, g.dpos);
  });
});

describe('meanpool kernels', () => {
  for (const [B, T, C] of SHAPES) {
    it(`forward and backward x=[${B}, ${T}, ${C}]`, async () => {
      const e = await getEngine();
      e.resetArena();
      const x = f32(randomArray(B * T * C, 10 + T, 2));
      const dout = f32(randomArray(B * C, 20 + T));
      const tx = tensorFrom(e, [B, T, C], x);
      const before = e.counters.dispatches;
      const out = meanPool(e, tx);
      expect(e.counters.dispatches - before).toBe(1);
      expect(out.shape).toEqual([B, C]);
      close('out', await e.readFloat(out), meanpoolRef(B, T, C, x));
      out.grad = tensorFrom(e, [B, C], dout, 'f32', 'dout');
      const beforeBack = e.counters.dispatches;
      e.tape.replay();
      expect(e.counters.dispatches - beforeBack).toBe(1);
      close('dx', await e.readFloat(tx.grad!), meanpoolBackwardRef(B, T, C, dout));
    });
  }

  it('accumulate paths add into existing values', async () => {
    const e = await getEngine();
    e.resetArena();
    const [B, T, C] = [3, 10, 7];
    const x = f32(randomArray(B * T * C, 1));
    const dout = f32(randomArray(B * C, 2));
    const prevOut = f32(randomArray(B * C, 3));
    const prevDx = f32(randomArray(B * T * C, 4));
    const out = tensorFrom(e, [B, C], prevOut);
    meanpool_forward(e, out, tensorFrom(e, [B, T, C], x), true);
    close('out (+=)', await e.readFloat(out), add(prevOut, meanpoolRef(B, T, C, x)));
    const dx = tensorFrom(e, [B, T, C], prevDx);
    meanpool_backward(e, dx, true, tensorFrom(e, [B, C], dout));
    close('dx (+=)', await e.readFloat(dx), add(prevDx, meanpoolBackwardRef(B, T, C, dout)));
    // An activation that already has a gradient gets += through the tape.
    e.tape.clear();
    const tx = tensorFrom(e, [B, T, C], x);
    tx.grad = tensorFrom(e, [B, T, C], prevDx, 'f32', 'dx.prev');
    const o = meanPool(e, tx);
    o.grad = tensorFrom(e, [B, C], dout, 'f32', 'dout');
    e.tape.replay();
    close('dx (tape +=)', await e.readFloat(tx.grad), add(prevDx, meanpoolBackwardRef(B, T, C, dout)));
  });

  it('kernels number workgroups across a grid folded into y', async () => {
    const e = await getEngine();
    e.resetArena();
    const [B, T, C] = [4, 9, 40]; // forward 160 outputs = 3 workgroups, backward 1440 = 23 workgroups
    const x = f32(randomArray(B * T * C, 5));
    const dout = f32(randomArray(B * C, 6));
    const out = e.alloc([B, C]);
    e.dispatch('meanpool_forward', { x: tensorFrom(e, [B, T, C], x), out }, { B, T, C, accumulate: 0 }, [2, 2]);
    close('out (folded)', await e.readFloat(out), meanpoolRef(B, T, C, x));
    const dx = e.alloc([B, T, C]);
    e.dispatch('meanpool_backward', { dout: tensorFrom(e, [B, C], dout), dx }, { B, T, C, accumulate: 0 }, [6, 4]);
    close('dx (folded)', await e.readFloat(dx), meanpoolBackwardRef(B, T, C, dout));
  });

  it('refuses bad shapes naming the op', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => meanPool(e, e.alloc([4, 5]))).toThrow(/meanPool: x must be \(B, T, C\), got \[4, 5\]/);
    expect(() => meanPool(e, e.alloc([2, 0, 3]))).toThrow(/meanPool: x \[2, 0, 3\] has no tokens/);
    expect(() => meanPool(e, e.alloc([2, 3, 4], 'i32'))).toThrow(/meanPool: x has dtype i32, expected f32/);
    expect(() => meanpool_forward(e, e.alloc([2, 5]), e.alloc([2, 3, 4]))).toThrow(/meanpool_forward: out has shape \[2, 5\], expected \[2, 4\]/);
    expect(() => meanpool_backward(e, e.alloc([2, 3, 4]), false, e.alloc([3, 4]))).toThrow(/meanpool_backward: dout has shape \[3, 4\], expected \[2, 4\]/);
  });
});

describe('posembed kernels', () => {
  for (const [B, T, C] of SHAPES) {
    it(`forward and backward x=[${B}, ${T}, ${C}], pos a parameter`, async () => {
      const e = await getEngine();
      e.resetArena();
      e.tape.clear();
      const x = f32(randomArray(B * T * C, 30 + T));
      const pos = f32(randomArray(T * C, 40 + T));
      const dout = f32(randomArray(B * T * C, 50 + T));
      const prevPos = f32(randomArray(T * C, 60 + T));
      const tx = tensorFrom(e, [B, T, C], x);
      // A parameter (1, T, C) as the ViT holds it: its gradient accumulates into what is there.
      const tp = paramFrom(e, [1, T, C], pos, 'pos_embed');
      e.write(tp.grad!, Float32Array.from(prevPos));
      const before = e.counters.dispatches;
      const out = posEmbed(e, tx, tp);
      expect(e.counters.dispatches - before).toBe(1);
      expect(out.shape).toEqual([B, T, C]);
      close('out', await e.readFloat(out), posembedRef(B, T, C, x, pos));
      out.grad = tensorFrom(e, [B, T, C], dout, 'f32', 'dout');
      const beforeBack = e.counters.dispatches;
      e.tape.replay();
      expect(e.counters.dispatches - beforeBack).toBe(1);
      const g = posembedBackwardRef(B, T, C, dout);
      close('dx', await e.readFloat(tx.grad!), g.dx);
      close('dpos (+=)', await e.readFloat(tp.grad!), add(prevPos, g.dpos));
      // dout is left as it was (dx does not alias it).
      expect(tx.grad!.buffer).not.toBe(out.grad.buffer);
      close('dout (unchanged)', await e.readFloat(out.grad), dout, { atol: 0, rtol: 0 });
    });
  }

  it('kernel-level accumulate flags are independent; (T, C) pos; folded grid', async () => {
    const e = await getEngine();
    e.resetArena();
    const [B, T, C] = [3, 5, 30]; // 150 (t, c) = 3 workgroups backward, 450 elements = 8 forward
    const x = f32(randomArray(B * T * C, 1));
    const pos = f32(randomArray(T * C, 2));
    const dout = f32(randomArray(B * T * C, 3));
    const prev = f32(randomArray(B * T * C, 4));
    const prevPos = f32(randomArray(T * C, 5));
    const out = tensorFrom(e, [B, T, C], prev);
    posembed_forward(e, out, tensorFrom(e, [B, T, C], x), tensorFrom(e, [T, C], pos), true);
    close('out (+=)', await e.readFloat(out), add(prev, posembedRef(B, T, C, x, pos)));
    const g = posembedBackwardRef(B, T, C, dout);
    const dx = tensorFrom(e, [B, T, C], prev);
    const dpos = tensorFrom(e, [T, C], prevPos);
    posembed_backward(e, dx, true, dpos, false, tensorFrom(e, [B, T, C], dout));
    close('dx (+=)', await e.readFloat(dx), add(prev, g.dx));
    close('dpos (=)', await e.readFloat(dpos), g.dpos);
    const dx2 = tensorFrom(e, [B, T, C], prev);
    const dpos2 = tensorFrom(e, [T, C], prevPos);
    const params = { B, T, C, accumulate: 0, accumulate_pos: 1 };
    e.dispatch('posembed_backward', { dout: tensorFrom(e, [B, T, C], dout), dx: dx2, dpos: dpos2 }, params, [2, 2]);
    close('dx (=, folded)', await e.readFloat(dx2), g.dx);
    close('dpos (+=, folded)', await e.readFloat(dpos2), add(prevPos, g.dpos));
    const out2 = e.alloc([B, T, C]);
    e.dispatch('posembed_forward', { x: tensorFrom(e, [B, T, C], x), pos: tensorFrom(e, [T, C], pos), out: out2 }, { ...params, accumulate: 0 }, [4, 2]);
    close('out (folded)', await e.readFloat(out2), posembedRef(B, T, C, x, pos));
  });

  it('refuses bad shapes naming the op', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => posEmbed(e, e.alloc([4, 5]), e.alloc([4, 5]))).toThrow(/posEmbed: x must be \(B, T, C\), got \[4, 5\]/);
    expect(() => posEmbed(e, e.alloc([2, 3, 4]), e.alloc([4, 3]))).toThrow(/posEmbed: pos has shape \[4, 3\], expected \[3, 4\] or \[1, 3, 4\]/);
    expect(() => posEmbed(e, e.alloc([2, 3, 4]), e.alloc([3, 4], 'i32'))).toThrow(/posEmbed: pos has dtype i32, expected f32/);
    expect(() => posembed_backward(e, e.alloc([2, 3, 5]), false, e.alloc([3, 4]), false, e.alloc([2, 3, 4]))).toThrow(
      /posembed_backward: dx has shape \[2, 3, 5\], but dout has \[2, 3, 4\]/,
    );
  });
});
