/**
 * GELU (tanh approximation): float64 reference checked by finite differences, then the GPU forward and
 * backward against it for inputs up to |x| = 20 and sizes around the 4-element invocation and the
 * 256-element workgroup. Run: npx vitest run --config test/vitest.config.ts test/gelu.test.ts
 * (DEBUG=1 prints the max error per compared tensor).
 */
import { describe, expect, it } from 'vitest';
import { gelu, gelu_backward, gelu_forward } from '../src/ops/gelu.js';
import { closeTracker, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { geluBackwardRef, geluRef } from './reference/gelu.js';

const TOL: Tolerance = { atol: 1e-6, rtol: 1e-5 };

const { close } = closeTracker('gelu', TOL);

/** Mostly |x| <= 4 (where GELU bends), a fifth up to |x| = 20, and the extremes themselves. */
function inputs(n: number, seed: number): Float64Array {
  const small = randomArray(n, seed, 4);
  const large = randomArray(n, seed + 1, 20);
  const x = small.map((v, i) => (i % 5 === 4 ? large[i]! : v));
  const edges = [20, -20, 0, -0, 7.5, -7.5, 1e-3, -3];
  for (let i = 0; i < Math.min(n, edges.length); i++) x[(i * 7) % n] = edges[i]!;
  return f32(x);
}

describe('gelu reference', () => {
  it('backward matches finite differences', () => {
    const x = Float64Array.from([-6, -3, -1.5, -0.3, 0, 0.2, 0.9, 2.5, 5]);
    const dout = randomArray(x.length, 2);
    expectGradMatchesFiniteDiff('dx', () => geluRef(x), x, dout, geluBackwardRef(x, dout));
  });

  it('is finite and saturates at |x| = 20', () => {
    const y = geluRef([20, -20]);
    expect(y[0]).toBe(20);
    expect(Math.abs(y[1]!)).toBeLessThan(1e-30);
  });
});

describe('gelu kernels', () => {
  // 1..5 and 255..257 straddle the vec4 tail and the 256-element workgroup.
  const shapes = [[1], [3], [4], [5], [31], [32], [33], [255], [256], [257], [3, 7, 13]];
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    it(`forward and backward x=[${shape.join(', ')}]`, async () => {
      const e = await getEngine();
      e.resetArena();
      e.tape.clear();
      const x = inputs(n, 10 + n);
      const dout = f32(randomArray(n, 20 + n));
      const tx = tensorFrom(e, shape, x);
      const before = e.counters.dispatches;
      const out = gelu(e, tx);
      expect(e.counters.dispatches - before).toBe(1);
      expect(out.shape).toEqual(shape);
      close('out', await e.readFloat(out), geluRef(x));
      out.grad = tensorFrom(e, shape, dout, 'f32', 'dout');
      e.tape.replay();
      close('dx', await e.readFloat(tx.grad!), geluBackwardRef(x, dout));
    });
  }

  it('accumulate adds to out and dx', async () => {
    const e = await getEngine();
    e.resetArena();
    const n = 37;
    const x = inputs(n, 1);
    const dout = f32(randomArray(n, 2));
    const prev = f32(randomArray(n, 3));
    const tx = tensorFrom(e, [n], x);
    const out = tensorFrom(e, [n], prev);
    gelu_forward(e, out, tx, true);
    close('out (+=)', await e.readFloat(out), geluRef(x).map((v, i) => v + prev[i]!));
    const dx = tensorFrom(e, [n], prev);
    gelu_backward(e, dx, true, tx, tensorFrom(e, [n], dout));
    close('dx (+=)', await e.readFloat(dx), geluBackwardRef(x, dout).map((v, i) => v + prev[i]!));
  });

  it('kernels number workgroups across a grid folded into y', async () => {
    // 1000 elements need 4 workgroups of 256; dispatch them as 3 x 2 (as the host folds past 65535).
    const e = await getEngine();
    e.resetArena();
    const n = 1000;
    const x = inputs(n, 5);
    const dout = f32(randomArray(n, 6));
    const tx = tensorFrom(e, [n], x);
    const out = e.alloc([n]);
    e.dispatch('gelu_forward', { x: tx, out }, { n, accumulate: 0 }, [3, 2]);
    close('out (folded)', await e.readFloat(out), geluRef(x));
    const dx = e.alloc([n]);
    e.dispatch('gelu_backward', { x: tx, dout: tensorFrom(e, [n], dout), dx }, { n, accumulate: 0 }, [2, 3]);
    close('dx (folded)', await e.readFloat(dx), geluBackwardRef(x, dout));
  });

  it('refuses mismatched shapes and dtypes naming the op and shapes', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => gelu(e, e.alloc([4], 'i32'))).toThrow(/gelu: x has dtype i32, expected f32/);
    expect(() => gelu_forward(e, e.alloc([5]), e.alloc([2, 2]))).toThrow(/gelu_forward: out has shape \[5\], but x has \[2, 2\]/);
    expect(() => gelu_backward(e, e.alloc([4]), false, e.alloc([4]), e.alloc([3]))).toThrow(
      /gelu_backward: dout has shape \[3\], but x has \[4\]/,
    );
  });
});
