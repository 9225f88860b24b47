/**
 * The linear layer with the residual add in the GEMM's epilogue (src/ops/linear_residual.ts) against the float64
 * reference (test/reference/linear_residual.ts, itself checked by finite differences): every GEMM family
 * (forced with useMatmulKernel; the dispatch log checks which ran) at awkward sizes, 2-D and 3-D inputs, with
 * and without bias; forward with exact dispatch counts (one GEMM at scale 1; matmul then residual add at another
 * scale) and bit-identical to the unfused path; backward (dh, da, dw, dbias) including h's gradient
 * accumulating with another consumer's.
 * Run: npx vitest run --config test/vitest.config.ts test/linear_residual.test.ts
 */
import { afterEach, describe, expect, it } from 'vitest';
import { biasBackwardDispatches } from '../src/ops/bias.js';
import { linearResidual } from '../src/ops/linear_residual.js';
import { subgroupKernelFits, useMatmulKernel, type MatmulKernel } from '../src/ops/matmul.js';
import { residualAdd } from '../src/ops/residual.js';
import type { Engine } from '../src/runtime/engine.js';
import { bits, expectClose } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { expectWithin, gemmName, halfCasts, halfMatmuls, linearBounds } from './helpers/precision.js';
import { f32, randomArray } from './helpers/random.js';
import { linearResidualBackwardRef, linearResidualRef } from './reference/linear_residual.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };
const KERNELS: MatmulKernel[] = ['matmul_forward', 'matmul_tiled', 'matmul_subgroup'];

async function subgroupAvailable(): Promise<boolean> {
  return subgroupKernelFits(await getEngine(), { batch: 1, M: 4, N: 4, K: 4 }, false, false, []);
}

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
  e.choice.force('linearResidual', null);
});

describe('linear + residual reference', () => {
  it('backward matches finite differences', () => {
    const [M, N, K, s] = [3, 4, 5, 0.7];
    const a = randomArray(M * K, 1);
    const w = randomArray(K * N, 2);
    const bias = randomArray(N, 3);
    const h = randomArray(M * N, 4);
    const dout = randomArray(M * N, 5);
    const g = linearResidualBackwardRef(M, N, K, a, w, dout, s);
    const fwd = () => linearResidualRef(M, N, K, a, w, bias, h, s);
    expectGradMatchesFiniteDiff('dh', fwd, h, dout, g.dh);
    expectGradMatchesFiniteDiff('da', fwd, a, dout, g.da);
    expectGradMatchesFiniteDiff('dw', fwd, w, dout, g.dw);
    expectGradMatchesFiniteDiff('dbias', fwd, bias, dout, g.dbias);
  });
});

const SHAPES: [number[], number, number][] = [
  [[1], 1, 1],
  [[33], 31, 17],
  [[4], 4, 4],
  [[36], 44, 20],
  [[2, 16], 32, 128],
];

for (const kernel of KERNELS) {
  describe(`linear_residual with ${kernel}`, () => {
    for (const [lead, N, K] of SHAPES)
      for (const [withBias, scale] of [[true, 1], [false, 1], [true, 0.5]] as const) {
        const M = lead.reduce((x, y) => x * y, 1);
        it(`a=[${[...lead, K]}] N=${N}${withBias ? '' : ' no bias'} scale ${scale}`, async (ctx) => {
          if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) ctx.skip();
          const e = await getEngine();
          e.resetArena();
          useMatmulKernel(e, kernel);
          const a = f32(randomArray(M * K, 10 + M));
          const w = f32(randomArray(K * N, 20 + N));
          const bias = withBias ? f32(randomArray(N, 30)) : null;
          const h = f32(randomArray(M * N, 35));
          const dout = f32(randomArray(M * N, 40));
          const ta = tensorFrom(e, [...lead, K], a);
          const tw = paramFrom(e, [K, N], w);
          const tb = bias ? paramFrom(e, [N], bias) : null;
          const th = tensorFrom(e, [...lead, N], h);
          let out = ta;
          const forward = kernelsIn(e, () => (out = linearResidual(e, ta, tw, tb, th, scale)));
          const family = kernel === 'matmul_subgroup' && ![M, N, K].every((n) => n % 4 === 0) ? 'matmul_forward' : kernel;
          // Under f16: a and the (new) weight cast first, then the GEMM's f16 twin.
          const gemm = [...halfCasts(e, 2), gemmName(e, family)];
          expect(forward).toEqual(scale === 1 ? gemm : [...gemm, 'residual_forward']);
          expect(out.shape).toEqual([...lead, N]);
          const bound = linearBounds(halfMatmuls(e), M, N, K, { a, w, dout }, { slope: scale, gelu: false });
          expectWithin('out', await e.readFloat(out), linearResidualRef(M, N, K, a, w, bias, h, scale), bound.out, TOL);
          out.grad = tensorFrom(e, [...lead, N], dout, 'f32', 'dout');
          const backward = kernelsIn(e, () => e.tape.replay());
          // residual_backward (dh and dbranch; under f16 dbranch's f16 copy too, from the same dispatch when fused and
          // the size allows, else a cast after), dA and dW by the family's kernel, the bias gradient.
          const dual = halfMatmuls(e) && scale === 1 && (M * N) % 4 === 0;
          const dres = dual ? ['residual_backward_dual_f16'] : ['residual_backward', ...halfCasts(e, 1)];
          const gemms = [...dres, gemmName(e, family), gemmName(e, family)];
          const biasKernels = Array.from({ length: bias ? biasBackwardDispatches(e, M) : 0 }, (_, i) => backward[gemms.length + i]);
          expect(backward).toEqual([...gemms, ...biasKernels]);
          expect(biasKernels.every((k) => k === 'bias_backward'), biasKernels.join()).toBe(true);
          const g = linearResidualBackwardRef(M, N, K, a, w, dout, scale);
          expectClose('dh', await e.readFloat(th.grad!), g.dh, TOL);
          expectWithin('da', await e.readFloat(ta.grad!), g.da, bound.da, TOL);
          expectWithin('dw', await e.readFloat(tw.grad!), g.dw, bound.dw, TOL);
          if (tb) expectClose('dbias', await e.readFloat(tb.grad!), g.dbias, TOL);
        });
      }
  });
}

describe('against matmul + residualAdd', () => {
  it('bit-identical forward and gradients at scale 1; h used twice accumulates its gradient', async () => {
    const e = await getEngine();
    const [M, N, K] = [64, 32, 128];
    const a = f32(randomArray(M * K, 60));
    const w = f32(randomArray(K * N, 61));
    const bias = f32(randomArray(N, 62));
    const h = f32(randomArray(M * N, 63));
    const dout = f32(randomArray(M * N, 64));
    const run = async (kind: 'fused' | 'separate') => {
      e.resetArena();
      e.choice.force('linearResidual', kind);
      const ta = tensorFrom(e, [M, K], a);
      const tw = paramFrom(e, [K, N], w);
      const th = tensorFrom(e, [M, N], h);
      // h also feeds a second residual add, so its gradient gets two contributions.
      const out = residualAdd(e, linearResidual(e, ta, tw, paramFrom(e, [N], bias), th), th);
      out.grad = tensorFrom(e, [M, N], dout, 'f32', 'dout');
      e.tape.replay();
      return { out: bits(await e.readFloat(out)), dh: await e.readFloat(th.grad!), da: bits(await e.readFloat(ta.grad!)), dw: bits(await e.readFloat(tw.grad!)) };
    };
    const fused = await run('fused');
    const separate = await run('separate');
    expect(fused.out).toEqual(separate.out);
    expect(fused.da).toEqual(separate.da);
    expect(fused.dw).toEqual(separate.dw);
    expectClose('dh', fused.dh, Float64Array.from(dout, (v) => 2 * v), { atol: 0, rtol: 0 });
    expectClose('dh', fused.dh, separate.dh, { atol: 0, rtol: 0 });
  });

  it('refuses an h of the wrong shape', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => linearResidual(e, e.alloc([4, 8]), e.alloc([8, 4]), null, e.alloc([4, 5]))).toThrow(/linear_residual: h has shape \[4, 5\], expected \[4, 4\]/);
  });
});
