/**
 * The fused linear + GELU (src/ops/linear_gelu.ts) against the float64 reference (test/reference/linear_gelu.ts,
 * itself checked by finite differences): every GEMM family's GELU twin (forced with useMatmulKernel; the
 * dispatch log checks which ran) at awkward sizes, a 2-D and a 3-D input, with and without bias; forward (out
 * and the saved pre-activation) and backward (da, dw, dbias) with exact dispatch counts; and the adapter's
 * `linearGelu` choice: the fused and the separate path agree to float tolerance, one dispatch apart.
 * Run: npx vitest run --config test/vitest.config.ts test/linear_gelu.test.ts
 */
import { afterEach, describe, expect, it } from 'vitest';
import { linearGelu, linear_gelu_forward, linearThenGelu } from '../src/ops/linear_gelu.js';
import { biasBackwardDispatches } from '../src/ops/bias.js';
import { subgroupKernelFits, useMatmulKernel, type MatmulKernel } from '../src/ops/matmul.js';
import type { Engine } from '../src/runtime/engine.js';
import { expectClose } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { expectWithin, f16Ulp, gemmName, halfCasts, halfMatmuls, linearBounds } from './helpers/precision.js';
import { f32, randomArray } from './helpers/random.js';
import { linearGeluBackwardRef, linearGeluRef } from './reference/linear_gelu.js';

// f32 sums of at most 129 products of values in [-1, 1] (as test/matmul.test.ts), then GELU (slope <= 1.13).
const TOL = { atol: 2e-5, rtol: 1e-4 };

const KERNELS: MatmulKernel[] = ['matmul_forward', 'matmul_tiled', 'matmul_subgroup'];

async function subgroupAvailable(): Promise<boolean> {
  return subgroupKernelFits(await getEngine(), { batch: 1, M: 4, N: 4, K: 4 }, false, false, []);
}

/** Runs `fn` with the dispatch log on; returns the kernels it dispatched. */
function kernelsIn(e: Engine, fn: () => void): string[] {
  const prev = e.dispatchLog;
  e.dispatchLog = [];
  try {
    fn();
    return e.dispatchLog.map((r) => r.kernel);
  } finally {
    e.dispatchLog = prev;
  }
}

afterEach(async () => {
  const e = await getEngine();
  useMatmulKernel(e, null);
  e.choice.force('linearGelu', null);
});

describe('linear + gelu reference', () => {
  it('backward matches finite differences', () => {
    const [M, N, K] = [3, 4, 5];
    const a = randomArray(M * K, 1, 2);
    const w = randomArray(K * N, 2, 2);
    const bias = randomArray(N, 3);
    const dout = randomArray(M * N, 4);
    const g = linearGeluBackwardRef(M, N, K, a, w, bias, dout);
    const fwd = () => linearGeluRef(M, N, K, a, w, bias).out;
    expectGradMatchesFiniteDiff('da', fwd, a, dout, g.da);
    expectGradMatchesFiniteDiff('dw', fwd, w, dout, g.dw);
    expectGradMatchesFiniteDiff('dbias', fwd, bias, dout, g.dbias);
  });
});

// [leading dims of a, N, K]: rows M = product of the leading dims. Unaligned sizes run the subgroup family's
// fallback (matmul_forward's twin); aligned ones cross tile edges (16 x 32, 32 x 32, 64 x 64) and the model's
// fc shape (B, T, C) -> 4C.
const UNALIGNED: [number[], number, number][] = [
  [[1], 1, 1],
  [[33], 31, 17],
  [[65], 70, 129],
];
const ALIGNED: [number[], number, number][] = [
  [[4], 4, 4],
  [[36], 44, 20],
  [[2, 66], 68, 36],
  [[2, 16], 128, 32],
];

for (const kernel of KERNELS) {
  describe(`linear_gelu with ${kernel}`, () => {
    for (const [lead, N, K] of [...UNALIGNED, ...ALIGNED])
      for (const withBias of [true, false]) {
        const M = lead.reduce((x, y) => x * y, 1);
        it(`a=[${[...lead, K]}] N=${N}${withBias ? '' : ' no bias'}`, async (ctx) => {
          if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) ctx.skip();
          const e = await getEngine();
          e.resetArena();
          useMatmulKernel(e, kernel);
          const a = f32(randomArray(M * K, 10 + M, 1));
          const w = f32(randomArray(K * N, 20 + N, 1));
          const bias = withBias ? f32(randomArray(N, 30)) : null;
          const dout = f32(randomArray(M * N, 40));
          const ta = tensorFrom(e, [...lead, K], a);
          const tw = paramFrom(e, [K, N], w);
          const tb = bias ? paramFrom(e, [N], bias) : null;
          let out = ta;
          const forward = kernelsIn(e, () => (out = linearGelu(e, ta, tw, tb)));
          const aligned = [M, N, K].every((n) => n % 4 === 0);
          const family = kernel === 'matmul_subgroup' && !aligned ? 'matmul_forward' : kernel;
          // Under f16: a and the weight cast first (the weight is new), then the GEMM's f16 twin.
          expect(forward).toEqual([...halfCasts(e, 2), gemmName(e, `${family}_gelu`)]);
          expect(out.shape).toEqual([...lead, N]);
          const ref = linearGeluRef(M, N, K, a, w, bias);
          const bound = linearBounds(halfMatmuls(e), M, N, K, { a, w, dout }, { slope: 1.13, gelu: true });
          // Under f16 the output is stored in f16 (the next linear's input): one more f16 step at most.
          expect(out.dtype).toBe(halfMatmuls(e) ? 'f16' : 'f32');
          const outBound = bound.out.map((b, i) => b + (out.dtype === 'f16' ? f16Ulp(Math.abs(ref.out[i]!) + b + TOL.atol) : 0));
          expectWithin('out', await e.readFloat(out), ref.out, outBound, TOL);
          expect(e.tape.ops().at(-1)).toBe('linear_gelu');
          out.grad = tensorFrom(e, [...lead, N], dout, 'f32', 'dout');
          const backward = kernelsIn(e, () => e.tape.replay());
          // gelu_backward into dpre (under f16 with its f16 copy in the same dispatch where the size allows, else a
          // cast after), dA and dW by the family's plain kernel, the bias gradient.
          const dual = halfMatmuls(e) && (M * N) % 4 === 0;
          const dgelu = dual ? ['gelu_backward_dual_f16'] : ['gelu_backward', ...halfCasts(e, 1)];
          const gemms = [...dgelu, gemmName(e, family), gemmName(e, family)];
          const biasKernels = Array.from({ length: bias ? biasBackwardDispatches(e, M) : 0 }, (_, i) => backward[gemms.length + i]);
          expect(backward).toEqual([...gemms, ...biasKernels]);
          expect(biasKernels.every((k) => k !== undefined && /^bias_backward|^sum_/.test(k)), biasKernels.join()).toBe(true);
          const g = linearGeluBackwardRef(M, N, K, a, w, bias, dout);
          expectWithin('da', await e.readFloat(ta.grad!), g.da, bound.da, TOL);
          expectWithin('dw', await e.readFloat(tw.grad!), g.dw, bound.dw, TOL);
          if (tb) expectWithin('dbias', await e.readFloat(tb.grad!), g.dbias, bound.dbias, TOL);
        });
      }

    it('the kernel-level forward writes the pre-activation beside the output', async (ctx) => {
      if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) ctx.skip();
      const e = await getEngine();
      e.resetArena();
      useMatmulKernel(e, kernel);
      const [M, N, K] = [20, 36, 12];
      const a = f32(randomArray(M * K, 5, 1));
      const w = f32(randomArray(K * N, 6, 1));
      const bias = f32(randomArray(N, 7));
      const out = e.alloc([M, N]);
      const pre = e.alloc([M, N]);
      linear_gelu_forward(e, out, pre, tensorFrom(e, [M, K], a), tensorFrom(e, [K, N], w), tensorFrom(e, [N], bias));
      const ref = linearGeluRef(M, N, K, a, w, bias);
      expectClose('pre', await e.readFloat(pre), ref.pre, TOL);
      expectClose('out', await e.readFloat(out), ref.out, TOL);
    });
  });
}

describe('the f16 output', () => {
  it('stores a value past f16\'s range as +infinity, never clamped, in every GEMM family', async (ctx) => {
    const e = await getEngine();
    if (!e.choice.halfAvailable) return ctx.skip();
    e.choice.force('precision', 'f16');
    try {
      for (const kernel of KERNELS) {
        if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) continue;
        e.resetArena();
        useMatmulKernel(e, kernel);
        const [M, N, K] = [8, 8, 4];
        // Row 0 of a is large, so row 0 of pre is about 1e5 in every column (GELU of it is itself); the rest is small.
        const a = f32(Array.from({ length: M * K }, (_, i) => (i < K ? 300 : 0.1)));
        const w = paramFrom(e, [K, N], f32(Array.from({ length: K * N }, () => 100)), 'w');
        const out = linearGelu(e, tensorFrom(e, [M, K], a), w);
        expect(out.dtype).toBe('f16');
        const got = await e.readFloat(out);
        for (let n = 0; n < N; n++) expect(got[n], `${kernel}: column ${n} of the large row`).toBe(Infinity);
        for (let i = N; i < M * N; i++) expect(Number.isFinite(got[i]!), `${kernel}: element ${i}`).toBe(true);
        e.tape.clear();
      }
    } finally {
      e.choice.force('precision', null);
    }
  });
});

describe('the adapter choice', () => {
  it('fused and separate agree to float tolerance; the fused forward is one dispatch fewer, the backward the same count (one fewer under f16)', async () => {
    const e = await getEngine();
    const [M, N, K] = [64, 128, 32];
    const a = f32(randomArray(M * K, 50, 1));
    const w = f32(randomArray(K * N, 51, 1));
    const bias = f32(randomArray(N, 52));
    const dout = f32(randomArray(M * N, 53));
    const run = async (kind: 'fused' | 'separate') => {
      e.resetArena();
      e.choice.force('linearGelu', kind);
      const ta = tensorFrom(e, [M, K], a);
      const tw = paramFrom(e, [K, N], w);
      let out = ta;
      const fwd = kernelsIn(e, () => (out = linearThenGelu(e, ta, tw, paramFrom(e, [N], bias))));
      out.grad = tensorFrom(e, [M, N], dout, 'f32', 'dout');
      const bwd = kernelsIn(e, () => e.tape.replay());
      return { fwd, bwd, out: await e.readFloat(out), da: await e.readFloat(ta.grad!), dw: await e.readFloat(tw.grad!) };
    };
    const fused = await run('fused');
    const separate = await run('separate');
    expect(fused.fwd).toHaveLength(1 + halfCasts(e, 2).length);
    expect(separate.fwd).toHaveLength(2 + halfCasts(e, 2).length);
    // Backward: the same count in f32; under f16 one fewer fused (gelu_backward_dual stores dpre's f16 copy itself).
    expect(fused.bwd).toHaveLength(separate.bwd.length - (halfMatmuls(e) ? 1 : 0));
    // Under f16 the fused output is stored in f16 (the separate GELU's stays f32): one f16 step apart at most.
    const outBound = separate.out.map((v) => (halfMatmuls(e) ? f16Ulp(Math.abs(v) + 1e-6) : 0));
    expectWithin('out', fused.out, separate.out, outBound, { atol: 1e-6, rtol: 1e-5 });
    expectClose('da', fused.da, separate.da, { atol: 1e-6, rtol: 1e-5 });
    expectClose('dw', fused.dw, separate.dw, { atol: 1e-6, rtol: 1e-5 });
  });

  it('refuses a batched weight', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => linearGelu(e, e.alloc([2, 4, 4]), e.alloc([2, 4, 4]))).toThrow(/linear_gelu: w must be 2-D/);
  });
});
