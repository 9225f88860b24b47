/**
 * LayerNorm: float64 reference checked by finite differences, then the GPU forward (out, mean, rstd) and
 * backward (dx, dweight, dbias) against it at edge shapes, with the exact dispatch counts.
 * layernorm_backward_params on its own against a float64 sum from the same mean and rstd: C in
 * {1, 3, 4, 64, 130, 768} (scalar and vec4 paths) by N in {1, 7, 1088, 70000} (one chunk and split rows) under
 * both row-split plans (cpu and gpu, forced with useBiasBackwardPlan), both accumulate modes, the exact dispatch
 * count, and bit-identical results across calls; the kernel's chunks and a folded grid directly.
 * Run: npx vitest run --config test/vitest.config.ts test/layernorm.test.ts (DEBUG=1 prints the max error per
 * compared tensor).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LayerNormKind } from '../src/runtime/choice.js';
import {
  layernorm,
  layernorm_backward,
  layernorm_backward_params,
  layernorm_forward,
  layernormParamsDispatches,
  useLayerNormKernel,
} from '../src/ops/layernorm.js';
import { useBiasBackwardPlan, type BiasPlanKind } from '../src/ops/bias.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { bits, closeTracker, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { f16Ulp } from './helpers/precision.js';
import { f32, randomArray, randomF32 } from './helpers/random.js';
import { layernormBackwardRef, layernormParamsRef, layernormRef } from './reference/layernorm.js';

const TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };

const { close } = closeTracker('layernorm', TOL);

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

// Both forward / dx kernel families: a row per invocation (CPU adapters) and a workgroup per row (GPUs), each
// forced with useLayerNormKernel whatever this adapter's own choice is.
const KINDS: LayerNormKind[] = ['row-per-invocation', 'workgroup-per-row'];
const SUFFIX: Record<LayerNormKind, string> = { 'row-per-invocation': '', 'workgroup-per-row': '_rows' };

for (const kind of KINDS)
describe(`layernorm kernels (${kind})`, () => {
  beforeEach(async () => useLayerNormKernel(await getEngine(), kind));
  afterEach(async () => useLayerNormKernel(await getEngine(), null));
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
      e.dispatchLog = [];
      const out = layernorm(e, tx, tw, tb);
      expect(e.dispatchLog.map((r) => r.kernel)).toEqual([`layernorm_forward${SUFFIX[kind]}`]);
      e.dispatchLog = null;
      expect(e.counters.dispatches - before).toBe(1);
      expect(out.shape).toEqual([...lead, C]);
      close('out', await e.readFloat(out), ref.out);
      out.grad = tensorFrom(e, [...lead, C], dout, 'f32', 'dout');
      const beforeBack = e.counters.dispatches;
      e.dispatchLog = [];
      e.tape.replay();
      expect(e.dispatchLog[0]!.kernel).toBe(`layernorm_backward${SUFFIX[kind]}`);
      e.dispatchLog = null;
      expect(e.counters.dispatches - beforeBack).toBe(1 + layernormParamsDispatches(e, N));
      const g = layernormBackwardRef(N, C, x, weight, dout);
      close('dx', await e.readFloat(tx.grad!), g.dx);
      close('dweight', await e.readFloat(tw.grad!), g.dweight);
      close('dbias', await e.readFloat(tb.grad!), g.dbias);
    });
  }

  it('forMatmul under f16: the output is f16 on a neighbour of the float64 value; the backward is unchanged', async (ctx) => {
    const e = await getEngine();
    if (!e.choice.halfAvailable) return ctx.skip();
    e.choice.force('precision', 'f16');
    try {
      for (const [N, C] of [[1, 1], [31, 33], [5, 7], [65, 4], [3, 130]] as const) {
        e.resetArena();
        e.tape.clear();
        const { x, weight, bias, dout } = inputs(N, C, 300 + N + C);
        const run = async (forMatmul: boolean) => {
          const tx = tensorFrom(e, [N, C], x);
          const tw = paramFrom(e, [C], weight, 'ln.w');
          const tb = paramFrom(e, [C], bias, 'ln.b');
          e.dispatchLog = [];
          const out = layernorm(e, tx, tw, tb, { forMatmul });
          const kernels = e.dispatchLog.map((r) => r.kernel);
          e.dispatchLog = null;
          out.grad = tensorFrom(e, [N, C], dout, 'f32', 'dout');
          e.tape.replay();
          return { out, kernels, got: await e.read(out), dx: await e.readFloat(tx.grad!), dweight: await e.readFloat(tw.grad!) };
        };
        const full = await run(false);
        const half = await run(true);
        expect(full.out.dtype).toBe('f32');
        expect(half.out.dtype).toBe('f16');
        expect(half.kernels).toEqual([`layernorm_forward${SUFFIX[kind]}_f16`]);
        // The f32 kernel's error, then one f16 ulp (WGSL may round to either neighbour).
        const ref = layernormRef(N, C, x, weight, bias).out;
        for (let i = 0; i < ref.length; i++) {
          const f32Err = TOL.atol + TOL.rtol * Math.abs(ref[i]!);
          const v = Math.abs(ref[i]!) + f32Err;
          const ulp = f16Ulp(v);
          expect(Math.abs(half.got[i]! - ref[i]!), `N=${N} C=${C} element ${i}: ${half.got[i]} vs ${ref[i]}`).toBeLessThanOrEqual(f32Err + ulp);
        }
        // The backward reads x and the statistics, never the output: the same bits either way.
        expect(bits(half.dx)).toEqual(bits(full.dx));
        expect(bits(half.dweight)).toEqual(bits(full.dweight));
      }
    } finally {
      e.choice.force('precision', null);
    }
  });

  it('an f16 output past f16\'s range or not finite is an infinity of its sign, never clamped', async (ctx) => {
    const e = await getEngine();
    if (!e.choice.halfAvailable) return ctx.skip();
    e.resetArena();
    const [N, C] = [3, 6];
    const x = f32([0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0, 0, NaN, 0, 0, 0, 0]);
    // Column 0 scaled far past 65504 (positive in row 0, negative in row 1); row 2 is not finite.
    const weight = f32([1e6, 1, 1, 1, 1, 1]);
    const out = e.alloc([N, C], 'f16', 'out');
    layernorm_forward(e, out, e.alloc([N]), e.alloc([N]), tensorFrom(e, [N, C], x), tensorFrom(e, [C], weight), tensorFrom(e, [C], new Float32Array(C)), N, C);
    const got = await e.read(out);
    expect(got[0]).toBe(-Infinity); // x[0] is below its row's mean
    expect(got[C]).toBe(Infinity);
    for (let c = 0; c < C; c++) expect(Math.abs(got[2 * C + c]!), `row 2, column ${c}`).toBe(Infinity);
    for (const i of [1, 2, 3, 4, 5]) expect(Number.isFinite(got[i]!)).toBe(true);
  });

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
    // 200 rows need 4 workgroups of 64 (a row per invocation) or 200 (a workgroup per row); dispatch them as
    // 3 x 2 or 100 x 2 (as the host folds past 65535).
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
    const grid: [number, number] = kind === 'workgroup-per-row' ? [100, 2] : [3, 2];
    e.dispatch(`layernorm_forward${SUFFIX[kind]}`, { x: tx, weight: tw, bias: tb, out, mean, rstd }, { N, C, eps: 1e-5, accumulate: 0 }, grid);
    close('out (folded)', await e.readFloat(out), layernormRef(N, C, x, weight, bias).out);

    // The parameter kernel: 3 rows in 2 chunks (rows 0-1, row 2) of 201 quads (803 columns, the scalar path) need
    // 402 invocations, 7 workgroups of 64; dispatch them as 4 x 2. Each chunk's partial sums land in its own row.
    const [Nt, Ct] = [3, 803];
    const p = inputs(Nt, Ct, 12);
    const stats = layernormRef(Nt, Ct, p.x, p.weight, p.bias);
    const px = tensorFrom(e, [Nt, Ct], p.x);
    const pdout = tensorFrom(e, [Nt, Ct], p.dout);
    const [pmean, prstd] = [f32(stats.mean), f32(stats.rstd)];
    const dweight = e.alloc([2, Ct]);
    const dbias = e.alloc([2, Ct]);
    e.dispatch(
      'layernorm_backward_params',
      { x: px, x4: px, dout: pdout, dout4: pdout, mean: tensorFrom(e, [Nt], pmean), rstd: tensorFrom(e, [Nt], prstd), dweight, dbias },
      { N: Nt, C: Ct, rows_per_chunk: 2, chunks: 2, accumulate: 0 },
      [4, 2],
    );
    const chunk0 = layernormParamsRef(Nt, Ct, p.x, pmean, prstd, p.dout, 0, 2);
    const chunk1 = layernormParamsRef(Nt, Ct, p.x, pmean, prstd, p.dout, 2, 3);
    close('dweight (folded, 2 chunks)', await e.readFloat(dweight), [...chunk0.dweight, ...chunk1.dweight]);
    close('dbias (folded, 2 chunks)', await e.readFloat(dbias), [...chunk0.dbias, ...chunk1.dbias]);
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
    expect(() => layernorm_backward_params(e, e.alloc([6]), e.alloc([5]), x, e.alloc([4]), e.alloc([4]), x, 4, 6)).toThrow(
      /layernorm_backward_params: dbias has shape \[5\], expected \[6\]/,
    );
  });
});

/** Runs layernorm_backward_params into dweight, dbias preset to `prev`; returns them and the dispatches it recorded. */
async function runParams(
  e: Engine,
  t: { dweight: Tensor; dbias: Tensor; x: Tensor; mean: Tensor; rstd: Tensor; dout: Tensor },
  prev: { dweight: Float32Array; dbias: Float32Array },
  N: number,
  C: number,
  accumulate: boolean,
) {
  e.write(t.dweight, prev.dweight);
  e.write(t.dbias, prev.dbias);
  const mark = e.arenaMark();
  const d0 = e.counters.dispatches;
  layernorm_backward_params(e, t.dweight, t.dbias, t.x, t.mean, t.rstd, t.dout, N, C, accumulate);
  const dispatches = e.counters.dispatches - d0;
  const dweight = await e.readFloat(t.dweight);
  const dbias = await e.readFloat(t.dbias);
  e.releaseArena(mark); // the partials scratches
  return { dweight, dbias, dispatches };
}

const PLANS: BiasPlanKind[] = ['cpu', 'gpu'];

describe('layernorm_backward_params', () => {
  afterEach(async () => {
    useBiasBackwardPlan(await getEngine(), null);
  });

  // Each sum adds N terms in f32: dbias's in [-1, 1) (bias_backward's case), dweight's up to 3 in magnitude
  // (dout in [-1, 1), x - mean in [-1.5, 1.5), rstd in [0.5, 2)). The largest errors seen on lavapipe were 5e-5
  // at N = 1088 and 5.5e-4 at N = 70000, about 2e-6 sqrt(N) for both, so atol is 1e-5 sqrt(N): a margin of ~5x.
  // A dropped or doubled row errs by ~0.5.
  const tol = (N: number) => ({ atol: 1e-6 + 1e-5 * Math.sqrt(N), rtol: 1e-6 });

  for (const N of [1, 7, 1088, 70000])
    for (const C of [1, 3, 4, 64, 130, 768]) {
      it(`N=${N} C=${C}, both plans: = and += against float64, exact dispatches, bit-identical across calls`, async () => {
        const e = await getEngine();
        if (N * C * 4 > e.gpu.limits.maxStorageBufferBindingSize) {
          // (70000, 768) is 215 MB, over the 128 MiB that lavapipe (and WebGPU's default limit) lets one binding
          // have; the model could not hold such an x either. The op refuses it, naming itself, before recording.
          const x = e.persistent([N, C], 'f32', 'x'); // (N, C)
          const mark = e.arenaMark();
          try {
            const d0 = e.counters.dispatches;
            expect(() => layernorm_backward_params(e, e.alloc([C]), e.alloc([C]), x, e.alloc([N]), e.alloc([N]), x, N, C)).toThrow(
              /layernorm_backward_params: x \[\d+, \d+\] is \d+ bytes, over the device's maxStorageBufferBindingSize/,
            );
            expect(e.counters.dispatches).toBe(d0);
          } finally {
            e.releaseArena(mark);
            e.flush();
            x.buffer.destroy();
          }
          return;
        }
        const t = {
          x: e.persistent([N, C], 'f32', 'x'), // (N, C)
          dout: e.persistent([N, C], 'f32', 'dout'), // (N, C)
          mean: e.persistent([N], 'f32', 'mean'), // (N)
          rstd: e.persistent([N], 'f32', 'rstd'), // (N)
          dweight: e.persistent([C], 'f32', 'dweight'), // (C)
          dbias: e.persistent([C], 'f32', 'dbias'), // (C)
        };
        try {
          const x = randomF32(N * C, N + 7 * C);
          const dout = randomF32(N * C, N + 7 * C + 1);
          const mean = randomF32(N, 2).map((v) => v / 2);
          const rstd = randomF32(N, 3).map((v) => 1.25 + 0.75 * v);
          for (const [tensor, data] of [[t.x, x], [t.dout, dout], [t.mean, mean], [t.rstd, rstd]] as const) e.write(tensor, data);
          const ref = layernormParamsRef(N, C, x, mean, rstd, dout);
          // What dweight and dbias hold before: = must overwrite it, += must add to it.
          const prev = { dweight: randomF32(C, 4), dbias: randomF32(C, 5) };
          const plus = (a: Float64Array, b: Float32Array) => a.map((v, i) => v + b[i]!);
          for (const plan of PLANS) {
            useBiasBackwardPlan(e, plan);
            const dispatches = layernormParamsDispatches(e, N);
            for (const accumulate of [false, true]) {
              const what = `(${plan} plan, ${accumulate ? '+=' : '='})`;
              const run1 = await runParams(e, t, prev, N, C, accumulate);
              expect(run1.dispatches, what).toBe(dispatches);
              close(`dweight@N=${N} ${what}`, run1.dweight, accumulate ? plus(ref.dweight, prev.dweight) : ref.dweight, tol(N));
              close(`dbias@N=${N} ${what}`, run1.dbias, accumulate ? plus(ref.dbias, prev.dbias) : ref.dbias, tol(N));
              const run2 = await runParams(e, t, prev, N, C, accumulate);
              expect(bits(run2.dweight), what).toEqual(bits(run1.dweight));
              expect(bits(run2.dbias), what).toEqual(bits(run1.dbias));
            }
          }
        } finally {
          e.flush();
          for (const tensor of Object.values(t)) tensor.buffer.destroy();
        }
      });
    }

  it('dispatches follow the row-split plan: one when the rows fit a chunk, else the chunks and two finishing passes', async () => {
    const e = await getEngine();
    useBiasBackwardPlan(e, 'cpu'); // one chunk up to 4096 rows
    expect(layernormParamsDispatches(e, 0)).toBe(1);
    expect(layernormParamsDispatches(e, 1088)).toBe(1);
    expect(layernormParamsDispatches(e, 70000)).toBe(3);
    useBiasBackwardPlan(e, 'gpu'); // chunks of 32 rows or more
    expect(layernormParamsDispatches(e, 7)).toBe(1);
    expect(layernormParamsDispatches(e, 1088)).toBe(3);

    // And the log shows them: the chunks, then bias_backward's finishing pass for dweight and for dbias.
    e.resetArena();
    const [N, C] = [100, 8];
    const x = e.alloc([N, C]);
    e.dispatchLog = [];
    try {
      layernorm_backward_params(e, e.alloc([C]), e.alloc([C]), x, e.alloc([N]), e.alloc([N]), e.alloc([N, C]), N, C);
      expect(e.dispatchLog.map((r) => r.kernel)).toEqual(['layernorm_backward_params', 'bias_backward', 'bias_backward']);
    } finally {
      e.dispatchLog = null;
    }
  });

  it('N = 0: = writes zeros, += leaves the gradients as they were', async () => {
    const e = await getEngine();
    e.resetArena();
    const C = 6;
    const dweight = tensorFrom(e, [C], randomArray(C, 1));
    const dbias = tensorFrom(e, [C], randomArray(C, 2));
    const before = { dweight: await e.readFloat(dweight), dbias: await e.readFloat(dbias) };
    const [x, mean, rstd] = [e.alloc([0, C]), e.alloc([0]), e.alloc([0])];
    layernorm_backward_params(e, dweight, dbias, x, mean, rstd, x, 0, C, true);
    expect(bits(await e.readFloat(dweight))).toEqual(bits(before.dweight));
    expect(bits(await e.readFloat(dbias))).toEqual(bits(before.dbias));
    layernorm_backward_params(e, dweight, dbias, x, mean, rstd, x, 0, C, false);
    expect(Array.from(await e.readFloat(dweight))).toEqual(new Array(C).fill(0));
    expect(Array.from(await e.readFloat(dbias))).toEqual(new Array(C).fill(0));
  });
});
