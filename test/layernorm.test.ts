/**
 * LayerNorm: float64 reference checked by finite differences, then the GPU forward (out, mean, rstd) and
 * backward (dx, dweight, dbias) against it at edge shapes. Run: npx vitest run --config test/vitest.config.ts
 * test/layernorm.test.ts (DEBUG=1 prints the max error per compared tensor).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { layernorm, layernorm_backward, layernorm_forward } from '../src/ops/layernorm.js';
import { compareClose, expectClose, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { layernormBackwardRef, layernormRef } from './reference/layernorm.js';

const TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };

const maxErr = new Map<string, number>();
function close(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol = TOL): void {
  const key = what.split(' ')[0]!;
  maxErr.set(key, Math.max(maxErr.get(key) ?? 0, compareClose(got, ref, tol).maxAbsErr));
  expectClose(what, got, ref, tol);
}
afterAll(() => {
  if (process.env.DEBUG) console.log('layernorm max abs errors', Object.fromEntries(maxErr));
});

/** Rows with different means and spreads, so normalisation does real work. */
function inputs(N: number, C: number, seed: number) {
  const x = randomArray(N * C, seed, 2);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) x[n * C + c] = x[n * C + c]! * (0.5 + (n % 3)) + (n % 5) - 2;
  return {
    x: f32(x),
    weight: f32(randomArray(C, seed + 1)),
    bias: f32(randomArray(C, seed + 2)),
    dout: f32(randomArray(N * C, seed + 3)),
  };
}

describe('layernorm reference', () => {
  it('backward matches finite differences', () => {
    for (const [N, C] of [[3, 5], [2, 1], [1, 8]] as const) {
      const { x, weight, bias, dout } = inputs(N, C, 7);
      const g = layernormBackwardRef(N, C, x, weight, dout);
      const fwd = () => layernormRef(N, C, x, weight, bias).out;
      expectGradMatchesFiniteDiff(`dx N=${N} C=${C}`, fwd, x, dout, g.dx);
      expectGradMatchesFiniteDiff(`dweight N=${N} C=${C}`, fwd, weight, dout, g.dweight);
      expectGradMatchesFiniteDiff(`dbias N=${N} C=${C}`, fwd, bias, dout, g.dbias);
    }
  });
});

describe('layernorm kernels', () => {
  // Rows and columns each hit 1, 31, 32, 33 and one past the 64-invocation workgroup.
  const shapes: [number[], number][] = [
    [[1], 1],
    [[1, 1], 32],
    [[31], 33],
    [[3, 11], 31],
    [[32], 65],
    [[65], 4],
    [[2, 33], 7],
  ];
  for (const [lead, C] of shapes) {
    const N = lead.reduce((a, b) => a * b, 1);
    it(`forward and backward x=[${[...lead, C].join(', ')}]`, async () => {
      const e = await getEngine();
      e.resetArena();
      e.tape.clear();
      const { x, weight, bias, dout } = inputs(N, C, 100 + N + C);
      const tx = tensorFrom(e, [...lead, C], x);
      const tw = paramFrom(e, [C], weight, 'ln.w');
      const tb = paramFrom(e, [C], bias, 'ln.b');

      // Kernel level: the saved statistics.
      const out0 = e.alloc([N, C]);
      const mean = e.alloc([N]);
      const rstd = e.alloc([N]);
      layernorm_forward(e, out0, mean, rstd, tx, tw, tb, N, C);
      const ref = layernormRef(N, C, x, weight, bias);
      close('mean', await e.readFloat(mean), ref.mean);
      close('rstd', await e.readFloat(rstd), ref.rstd, { atol: 1e-5, rtol: 2e-4 });

      // Autograd.
      const before = e.counters.dispatches;
      const out = layernorm(e, tx, tw, tb);
      expect(e.counters.dispatches - before).toBe(1);
      expect(out.shape).toEqual([...lead, C]);
      close('out', await e.readFloat(out), ref.out);
      out.grad = tensorFrom(e, [...lead, C], dout, 'f32', 'dout');
      const beforeBack = e.counters.dispatches;
      e.tape.replay();
      expect(e.counters.dispatches - beforeBack).toBe(2);
      const g = layernormBackwardRef(N, C, x, weight, dout);
      close('dx', await e.readFloat(tx.grad!), g.dx);
      close('dweight', await e.readFloat(tw.grad!), g.dweight);
      close('dbias', await e.readFloat(tb.grad!), g.dbias);
    });
  }

  it('backward adds into existing gradients (accumulate)', async () => {
    const e = await getEngine();
    e.resetArena();
    e.tape.clear();
    const [N, C] = [5, 33];
    const { x, weight, bias, dout } = inputs(N, C, 3);
    const prevDx = f32(randomArray(N * C, 4));
    const prevDw = f32(randomArray(C, 5));
    const prevDb = f32(randomArray(C, 6));
    const tx = tensorFrom(e, [N, C], x);
    tx.grad = tensorFrom(e, [N, C], prevDx, 'f32', 'dx.prev');
    const tw = paramFrom(e, [C], weight);
    const tb = paramFrom(e, [C], bias);
    e.write(tw.grad!, Float32Array.from(prevDw));
    e.write(tb.grad!, Float32Array.from(prevDb));
    const out = layernorm(e, tx, tw, tb);
    out.grad = tensorFrom(e, [N, C], dout, 'f32', 'dout');
    e.tape.replay();
    const g = layernormBackwardRef(N, C, x, weight, dout);
    close('dx (+=)', await e.readFloat(tx.grad), g.dx.map((v, i) => v + prevDx[i]!));
    close('dweight (+=)', await e.readFloat(tw.grad!), g.dweight.map((v, i) => v + prevDw[i]!));
    close('dbias (+=)', await e.readFloat(tb.grad!), g.dbias.map((v, i) => v + prevDb[i]!));
  });

  it('mean and rstd stay accurate far from zero and with an outlier in the first column', async () => {
    // The forward takes its statistics in one pass; these rows break the one-pass shortcuts it avoids. Row 0 has
    // mean 1000 and spread 1 (E[x^2] - mean^2 loses every digit of var). Row 1 has x[0] = 3000 among values in
    // [-1, 1] (shifted sums E[d^2] - E[d]^2 with d = x - x[0] lose about 3 digits). Row 2 is plain. C % 4 = 3
    // takes the scalar tail too. rstd is held to 1e-5 relative, as two passes over x give it. out is not
    // compared: at mean 1000 it inherits the f32 rounding of the mean (ulp 6e-5), whatever the kernel.
    const e = await getEngine();
    e.resetArena();
    const [N, C] = [3, 771];
    const { x, weight, bias } = inputs(N, C, 21);
    for (let c = 0; c < C; c++) {
      x[c] = Math.fround(1000 + x[c]! / 4);
      x[C + c] = Math.fround(x[C + c]! / 4);
    }
    x[C] = 3000;
    const mean = e.alloc([N]);
    const rstd = e.alloc([N]);
    layernorm_forward(e, e.alloc([N, C]), mean, rstd, tensorFrom(e, [N, C], x), tensorFrom(e, [C], weight), tensorFrom(e, [C], bias), N, C);
    const ref = layernormRef(N, C, x, weight, bias);
    close('mean (far rows)', await e.readFloat(mean), ref.mean);
    close('rstd (far rows)', await e.readFloat(rstd), ref.rstd, { atol: 0, rtol: 1e-5 });
  });

  it('kernels number workgroups across a grid folded into y', async () => {
    // 200 rows (or columns) need 4 workgroups of 64; dispatch them as 3 x 2 (as the host folds past 65535).
    const e = await getEngine();
    e.resetArena();
    const [N, C] = [200, 3];
    const { x, weight, bias, dout } = inputs(N, C, 11);
    const tx = tensorFrom(e, [N, C], x);
    const tw = tensorFrom(e, [C], weight);
    const tb = tensorFrom(e, [C], bias);
    const out = e.alloc([N, C]);
    const mean = e.alloc([N]);
    const rstd = e.alloc([N]);
    e.dispatch('layernorm_forward', { x: tx, weight: tw, bias: tb, out, mean, rstd }, { N, C, eps: 1e-5, accumulate: 0 }, [3, 2]);
    close('out (folded)', await e.readFloat(out), layernormRef(N, C, x, weight, bias).out);

    const [Nt, Ct] = [3, 200]; // transposed roles: 200 columns for the parameter kernel
    const p = inputs(Nt, Ct, 12);
    const px = tensorFrom(e, [Nt, Ct], p.x);
    const pw = tensorFrom(e, [Ct], p.weight);
    const pout = e.alloc([Nt, Ct]);
    const pmean = e.alloc([Nt]);
    const prstd = e.alloc([Nt]);
    layernorm_forward(e, pout, pmean, prstd, px, pw, tensorFrom(e, [Ct], p.bias), Nt, Ct);
    const dweight = e.alloc([Ct]);
    const dbias = e.alloc([Ct]);
    e.dispatch(
      'layernorm_backward_params',
      { x: px, mean: pmean, rstd: prstd, dout: tensorFrom(e, [Nt, Ct], p.dout), dweight, dbias },
      { N: Nt, C: Ct, eps: 0, accumulate: 0 },
      [2, 3],
    );
    const g = layernormBackwardRef(Nt, Ct, p.x, p.weight, p.dout);
    close('dweight (folded)', await e.readFloat(dweight), g.dweight);
    close('dbias (folded)', await e.readFloat(dbias), g.dbias);
  });

  it('refuses mismatched shapes and dtypes naming the op and shapes', async () => {
    const e = await getEngine();
    e.resetArena();
    const x = e.alloc([4, 6]);
    expect(() => layernorm(e, x, e.alloc([5]), e.alloc([6]))).toThrow(/layernorm: weight .*\[4, 6\].* has shape \[5\], expected \[6\]/);
    expect(() => layernorm(e, x, e.alloc([6]), e.alloc([6, 1]))).toThrow(/layernorm: bias .* has shape \[6, 1\], expected \[6\]/);
    expect(() => layernorm(e, e.alloc([4, 6], 'i32'), e.alloc([6]), e.alloc([6]))).toThrow(/layernorm: x has dtype i32, expected f32/);
    expect(() => layernorm(e, e.alloc([4, 0]), e.alloc([0]), e.alloc([0]))).toThrow(/layernorm: x \[4, 0\] has an empty last dimension/);
    const small = e.alloc([3]);
    expect(() => layernorm_forward(e, e.alloc([4, 6]), small, e.alloc([4]), x, e.alloc([6]), e.alloc([6]), 4, 6)).toThrow(
      /layernorm_forward: mean has shape \[3\], expected \[4\]/,
    );
    expect(() =>
      layernorm_backward(e, e.alloc([4, 5]), false, e.alloc([6]), e.alloc([6]), x, e.alloc([6]), e.alloc([4]), e.alloc([4]), x, 4, 6),
    ).toThrow(/layernorm_backward: dx has shape \[4, 5\], expected 24 elements/);
  });
});
