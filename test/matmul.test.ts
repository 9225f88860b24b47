/**
 * matmul against the float64 plain-loop reference (test/reference/matmul.ts): every GEMM kernel (forced with
 * useMatmulKernel) at awkward sizes (1, 31, 32, 33, 65, 129, non-multiples of 4, and multiples of 4 that are not
 * multiples of the kernels' tiles), all four transpose combinations, batched and against a shared 2-D weight,
 * with bias and with accumulation; forward and backward (driven by a random cotangent). The dispatch log checks
 * that the kernel under test is the one that ran. Also: which kernel the adapter rule picks, and shape errors.
 * bias_backward on its own against a float64 column sum: N in {1, 3, 4, 64, 130, 384} (scalar and vec4 paths)
 * by M in {1, 7, 1088, 70000} (one chunk and split rows) under both row-split plans (cpu and gpu, forced with
 * useBiasBackwardPlan), both accumulate modes, the exact dispatch count, and bit-identical results across calls;
 * plus a grid wide enough to fold.
 * Run: npx vitest run --config test/vitest.config.ts test/matmul.test.ts
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bias_backward, biasBackwardDispatches, biasBackwardPlan, useBiasBackwardPlan, type BiasPlanKind } from '../src/ops/bias.js';
import {
  matmul,
  matmul_forward,
  matmulKernelFor,
  subgroupKernelFits,
  useMatmulKernel,
  type MatmulKernel,
} from '../src/ops/matmul.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { bits, expectClose } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { abs, expectWithin, gemmName, productBound } from './helpers/precision.js';
import { f32, randomArray, randomF32 } from './helpers/random.js';
import { matmulBackwardRef, matmulRef, type MatmulRef } from './reference/matmul.js';

// f32 sums of at most 129 products of values in [-1, 1], in a different order than the float64 reference.
const TOL = { atol: 1e-5, rtol: 1e-4 };

const KERNELS: MatmulKernel[] = ['matmul_forward', 'matmul_tiled', 'matmul_subgroup'];

/** Whether matmul_subgroup can run on this device at all (an aligned GEMM fits). */
async function subgroupAvailable(): Promise<boolean> {
  const e = await getEngine();
  return subgroupKernelFits(e, { batch: 1, M: 4, N: 4, K: 4 }, false, false, []);
}

/** Runs `fn` with the dispatch log on; returns the GEMM kernels it dispatched. */
function gemmKernelsIn(e: Engine, fn: () => void): string[] {
  const prev = e.dispatchLog;
  e.dispatchLog = [];
  try {
    fn();
    return e.dispatchLog.map((r) => r.kernel).filter((k) => k.startsWith('matmul_'));
  } finally {
    e.dispatchLog = prev;
  }
}

afterEach(async () => {
  useMatmulKernel(await getEngine(), null);
});

/**
 * An autograd matmul's output and gradients against float64: within the f32 tolerance, plus under f16 precision
 * the f16 bound of each product sum (test/helpers/precision.ts); the bias gradient is an f32 sum either way.
 */
function expectLinear(
  e: Engine,
  d: MatmulRef,
  x: { a: ArrayLike<number>; w: ArrayLike<number>; bias: ArrayLike<number>; dout: ArrayLike<number> },
  got: { out: ArrayLike<number>; da: ArrayLike<number>; dw: ArrayLike<number>; dbias: ArrayLike<number> },
): void {
  const ref = matmulBackwardRef(d, x.a, x.w, x.dout);
  const sums = matmulBackwardRef(d, abs(x.a), abs(x.w), abs(x.dout));
  expectWithin('out', got.out, matmulRef(d, x.a, x.w, x.bias), productBound(e, matmulRef(d, abs(x.a), abs(x.w), null)), TOL);
  expectWithin('da', got.da, ref.da, productBound(e, sums.da), TOL);
  expectWithin('dw', got.dw, ref.dw, productBound(e, sums.dw), TOL);
  expectClose('dbias', got.dbias, ref.dbias, TOL);
}

describe('matmul reference', () => {
  it('backward matches finite differences (all transpose combinations)', () => {
    for (const transA of [false, true])
      for (const transB of [false, true]) {
        const d: MatmulRef = { batch: 2, M: 3, N: 4, K: 5, transA, transB };
        const a = randomArray(2 * 3 * 5, 1);
        const w = randomArray(2 * 5 * 4, 2);
        const bias = randomArray(4, 3);
        const dout = randomArray(2 * 3 * 4, 4);
        const g = matmulBackwardRef(d, a, w, dout);
        expectGradMatchesFiniteDiff('da', () => matmulRef(d, a, w, bias), a, dout, g.da);
        expectGradMatchesFiniteDiff('dw', () => matmulRef(d, a, w, bias), w, dout, g.dw);
        expectGradMatchesFiniteDiff('dbias', () => matmulRef(d, a, w, bias), bias, dout, g.dbias);
      }
  });
});

// [batch, M, N, K]. Unaligned sizes: matmul_subgroup falls back to matmul_forward for the dispatches whose
// contiguous dimensions are not multiples of 4. Aligned sizes (every dimension a multiple of 4) run it for
// forward and both backward GEMMs: 36 / 44 / 20 are not multiples of its 16 x 32 tile or 8-step k blocks,
// 132 x 68 x 36 spans several tiles each way, 4 x 4 x 4 is one partial tile, and K = 33 with a transposed
// (and so M-contiguous) a exercises the masked last k block.
const UNALIGNED: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 31, 33, 32],
  [2, 33, 31, 17],
  [1, 65, 70, 129],
  [3, 5, 7, 1],
];
const ALIGNED: [number, number, number, number][] = [
  [1, 4, 4, 4],
  [2, 36, 44, 20],
  [1, 132, 68, 36],
  [1, 36, 40, 33],
];

for (const kernel of KERNELS) {
  describe(`matmul kernel ${kernel}`, () => {
    for (const [batch, M, N, K] of [...UNALIGNED, ...ALIGNED])
      for (const transA of [false, true])
        for (const transB of [false, true]) {
          it(`forward and backward batch=${batch} M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async (ctx) => {
            if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) ctx.skip();
            const e = await getEngine();
            e.resetArena();
            useMatmulKernel(e, kernel);
            const d: MatmulRef = { batch, M, N, K, transA, transB };
            const a = f32(randomArray(batch * M * K, 10 + M));
            const w = f32(randomArray(batch * K * N, 20 + N));
            const bias = f32(randomArray(N, 30));
            const dout = f32(randomArray(batch * M * N, 40));
            const ta = tensorFrom(e, transA ? [batch, K, M] : [batch, M, K], a);
            const tw = tensorFrom(e, transB ? [batch, N, K] : [batch, K, N], w);
            const tb = paramFrom(e, [N], bias);
            let out = ta;
            const ran = gemmKernelsIn(e, () => {
              out = matmul(e, ta, tw, tb, { transA, transB });
              out.grad = tensorFrom(e, [batch, M, N], dout, 'f32', 'dout');
              e.tape.replay();
            });
            expect(out.shape).toEqual([batch, M, N]);
            expectLinear(e, d, { a, w, bias, dout }, { out: await e.readFloat(out), da: await e.readFloat(ta.grad!), dw: await e.readFloat(tw.grad!), dbias: await e.readFloat(tb.grad!) });
            // Forward, dA and dW: three GEMMs by the kernel under test. matmul_subgroup runs all three when every
            // stored layout's contiguous dimension is a multiple of 4: always when M, N, K are, and for transA
            // without transB also with any K (then a, dout and the weight are all read along M or N).
            expect(ran).toHaveLength(3);
            const fits = [M, N, K].every((n) => n % 4 === 0) || (transA && !transB && M % 4 === 0 && N % 4 === 0);
            const name = gemmName(e, kernel);
            if (kernel !== 'matmul_subgroup' || fits) expect(ran).toEqual([name, name, name]);
            else expect(ran.every((k) => k === name || k === gemmName(e, 'matmul_forward')), ran.join()).toBe(true);
          });
        }

    it('accumulate adds to out, every transpose combination (aligned and unaligned)', async (ctx) => {
      if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) ctx.skip();
      const e = await getEngine();
      useMatmulKernel(e, kernel);
      for (const [M, N, K] of [
        [9, 6, 3],
        [20, 36, 12],
      ] as const)
        for (const transA of [false, true])
          for (const transB of [false, true]) {
            e.resetArena();
            const d: MatmulRef = { batch: 1, M, N, K, transA, transB };
            const a = f32(randomArray(M * K, 1));
            const w = f32(randomArray(K * N, 2));
            const prev = f32(randomArray(M * N, 3));
            const out = tensorFrom(e, [M, N], prev);
            const ta = tensorFrom(e, transA ? [K, M] : [M, K], a);
            const tw = tensorFrom(e, transB ? [N, K] : [K, N], w);
            matmul_forward(e, out, ta, tw, null, { transA, transB, accumulate: true });
            const ref = matmulRef(d, a, w, null).map((v, i) => v + prev[i]!);
            expectClose(`out ${M}x${N}x${K} transA=${transA} transB=${transB}`, await e.readFloat(out), ref, TOL);
          }
    });

    for (const [B, T, K, N] of [
      [2, 3, 5, 7],
      [2, 18, 20, 36],
      [3, 11, 32, 33],
    ] as const) {
      it(`linear layer: (${B}, ${T}, ${K}) input against a shared (${K}, ${N}) weight with bias, forward and backward`, async (ctx) => {
        if (kernel === 'matmul_subgroup' && !(await subgroupAvailable())) ctx.skip();
        const e = await getEngine();
        e.resetArena();
        useMatmulKernel(e, kernel);
        const d: MatmulRef = { batch: 1, M: B * T, N, K, transA: false, transB: false };
        const a = f32(randomArray(B * T * K, 5));
        const w = f32(randomArray(K * N, 6));
        const bias = f32(randomArray(N, 8));
        const dout = f32(randomArray(B * T * N, 7));
        const ta = tensorFrom(e, [B, T, K], a);
        const tw = paramFrom(e, [K, N], w);
        const tb = paramFrom(e, [N], bias);
        const out = matmul(e, ta, tw, tb);
        expect(out.shape).toEqual([B, T, N]);
        const got = await e.readFloat(out);
        out.grad = tensorFrom(e, [B, T, N], dout, 'f32', 'dout');
        e.tape.replay();
        expectLinear(e, d, { a, w, bias, dout }, { out: got, da: await e.readFloat(ta.grad!), dw: await e.readFloat(tw.grad!), dbias: await e.readFloat(tb.grad!) });
      });
    }
  });
}

describe('matmul kernel choice', () => {
  it('a CPU adapter takes matmul_subgroup where it fits and matmul_forward elsewhere; GPUs take matmul_tiled', async () => {
    const e = await getEngine();
    const a = e.alloc([4]);
    const pick = (M: number, N: number, K: number, transA = false, transB = false) =>
      matmulKernelFor(e, { batch: 1, M, N, K }, { transA, transB }, [a]);
    if (!e.choice.cpu) {
      expect(pick(1024, 384, 128)).toBe('matmul_tiled');
      expect(pick(33, 31, 17)).toBe('matmul_tiled');
      return;
    }
    const sg = (await subgroupAvailable()) ? 'matmul_subgroup' : 'matmul_forward';
    // The GPT's GEMMs: forward, dA (transB), dW (transA), the tied head (transB) and its dW (transA, transB).
    expect(pick(1024, 384, 128)).toBe(sg);
    expect(pick(1024, 128, 512, false, true)).toBe(sg);
    expect(pick(128, 512, 1024, true, false)).toBe(sg);
    expect(pick(256, 128, 1024, true, true)).toBe(sg);
    // The contiguous dimension of a stored layout, or N, not a multiple of 4.
    expect(pick(1024, 384, 130)).toBe('matmul_forward');
    expect(pick(1024, 130, 128)).toBe('matmul_forward');
    expect(pick(130, 128, 1024, true)).toBe('matmul_forward');
    expect(pick(128, 128, 130, false, true)).toBe('matmul_forward');
    // a transposed reads along M, so K may be odd.
    expect(pick(128, 128, 33, true)).toBe(sg);
    useMatmulKernel(e, 'matmul_tiled');
    expect(pick(1024, 384, 128)).toBe('matmul_tiled');
  });
});

describe('matmul shape errors', () => {
  it('refuses mismatched shapes naming the op and shapes', async () => {
    const e = await getEngine();
    const a = e.alloc([4, 5]);
    const w = e.alloc([6, 7]);
    expect(() => matmul(e, a, w)).toThrow(/matmul: inner dimensions differ.*\[4, 5\].*\[6, 7\]/);
    expect(() => matmul(e, e.alloc([2, 4, 5]), e.alloc([3, 5, 7]))).toThrow(/matmul: batch dimensions differ/);
    const wi = e.alloc([5, 7], 'i32');
    expect(() => matmul(e, a, wi)).toThrow(/matmul: w has dtype i32, expected f32/);
  });
});

/** Float64 column sums of x viewed as (M, N): the plain-loop reference of bias_backward. */
function columnSumsRef(x: Float32Array, M: number, N: number): Float64Array {
  const out = new Float64Array(N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) out[n]! += x[m * N + n]!;
  return out;
}

/** Runs bias_backward into dbias preset to `prev`; returns the result and the dispatches it recorded. */
async function runBiasBackward(e: Engine, dbias: Tensor, dout: Tensor, prev: Float32Array, accumulate: boolean) {
  e.write(dbias, prev);
  const mark = e.arenaMark();
  const d0 = e.counters.dispatches;
  bias_backward(e, dbias, dout, accumulate);
  const dispatches = e.counters.dispatches - d0;
  const got = await e.readFloat(dbias);
  e.releaseArena(mark); // the partials scratch
  return { got, dispatches };
}

const BIAS_PLANS: BiasPlanKind[] = ['cpu', 'gpu'];

describe('bias_backward', () => {
  afterEach(async () => {
    useBiasBackwardPlan(await getEngine(), null);
  });

  // Each column sum adds M values in [-1, 1) in f32; the largest error seen on lavapipe was 1.5e-5 at M = 1088
  // and 2.6e-4 at M = 70000 (about M^0.7), so atol grows with M and keeps a margin of 3x or more. A dropped or
  // doubled row errs by ~0.5.
  const tol = (M: number) => ({ atol: 1e-6 + 5e-8 * M, rtol: 1e-6 });

  for (const M of [1, 7, 1088, 70000])
    for (const N of [1, 3, 4, 64, 130, 384]) {
      it(`M=${M} N=${N}, both plans: = and += against float64, bit-identical across calls`, async () => {
        const e = await getEngine();
        const dout = e.persistent([M, N], 'f32', 'dout'); // (M, N)
        const dbias = e.persistent([N], 'f32', 'dbias'); // (N)
        try {
          const data = randomF32(M * N, M + 7 * N);
          e.write(dout, data);
          const ref = columnSumsRef(data, M, N);
          const prev = randomF32(N, 3); // what dbias holds before: = must overwrite it, += must add to it
          for (const plan of BIAS_PLANS) {
            useBiasBackwardPlan(e, plan);
            const dispatches = biasBackwardDispatches(e, M);

            const set1 = await runBiasBackward(e, dbias, dout, prev, false);
            expect(set1.dispatches, plan).toBe(dispatches);
            expectClose(`dbias = (${plan} plan)`, set1.got, ref, tol(M));
            const set2 = await runBiasBackward(e, dbias, dout, prev, false);
            expect(bits(set2.got), plan).toEqual(bits(set1.got));

            const add1 = await runBiasBackward(e, dbias, dout, prev, true);
            expect(add1.dispatches, plan).toBe(dispatches);
            expectClose(`dbias += (${plan} plan)`, add1.got, ref.map((v, i) => v + prev[i]!), tol(M));
            const add2 = await runBiasBackward(e, dbias, dout, prev, true);
            expect(bits(add2.got), plan).toEqual(bits(add1.got));
          }
        } finally {
          e.flush();
          dout.buffer.destroy();
          dbias.buffer.destroy();
        }
      });
    }

  it('splits rows by M and the plan only: the adapter picks the plan; one chunk up to the minimum, at most 256', async () => {
    const e = await getEngine();
    const adapterPlan = biasBackwardPlan(e, 1088);
    useBiasBackwardPlan(e, e.choice.cpu ? 'cpu' : 'gpu');
    expect(biasBackwardPlan(e, 1088)).toEqual(adapterPlan);

    useBiasBackwardPlan(e, 'cpu');
    expect(biasBackwardPlan(e, 1088)).toEqual({ wg: 8, rowsPerChunk: 4096, chunks: 1 });
    expect(biasBackwardPlan(e, 4096)).toEqual({ wg: 8, rowsPerChunk: 4096, chunks: 1 });
    expect(biasBackwardPlan(e, 70000)).toEqual({ wg: 8, rowsPerChunk: 4096, chunks: 18 });
    expect(biasBackwardDispatches(e, 1088)).toBe(1);
    expect(biasBackwardDispatches(e, 70000)).toBe(2);

    useBiasBackwardPlan(e, 'gpu');
    expect(biasBackwardPlan(e, 7)).toEqual({ wg: 64, rowsPerChunk: 32, chunks: 1 });
    expect(biasBackwardPlan(e, 1088)).toEqual({ wg: 64, rowsPerChunk: 32, chunks: 34 });
    expect(biasBackwardPlan(e, 70000)).toEqual({ wg: 64, rowsPerChunk: 274, chunks: 256 });
    expect(biasBackwardPlan(e, 0).chunks).toBe(1);
  });

  it('a grid past 65535 workgroups folds into y (cpu plan: 2^21 + 3 columns in workgroups of 8)', async () => {
    const e = await getEngine();
    useBiasBackwardPlan(e, 'cpu');
    const N = (1 << 21) + 3;
    const M = 2;
    const dout = e.persistent([M, N], 'f32', 'dout'); // (M, N)
    const dbias = e.persistent([N], 'f32', 'dbias'); // (N)
    try {
      const data = randomF32(M * N, 11);
      e.write(dout, data);
      const { got } = await runBiasBackward(e, dbias, dout, randomF32(N, 12), false);
      expectClose('dbias', got, columnSumsRef(data, M, N), tol(M));
    } finally {
      e.flush();
      dout.buffer.destroy();
      dbias.buffer.destroy();
    }
  });

  it('refuses a dout that is not whole rows of the bias, naming the op', async () => {
    const e = await getEngine();
    expect(() => bias_backward(e, e.alloc([3]), e.alloc([2, 4]))).toThrow(/bias_backward: dout \[2, 4\] is not a multiple of bias \[3\]/);
  });
});
