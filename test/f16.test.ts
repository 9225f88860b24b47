/**
 * f16 mixed precision against float64 references: the f32 -> f16 cast (each value lands on one of its two f16
 * neighbours, overflow and non-finite values become infinities), every GEMM kernel's f16 twin on exactly known
 * f16 inputs (f32 accumulation: the f32 tolerance), and the autograd linears under f16 precision against float64
 * on the unrounded inputs, with a bound derived from f16's precision: each product a_k w_k is off by at most
 * (2u + u^2) |a_k w_k| with u = 2^-10 (one f16 ulp relative: WGSL may round to either neighbour), so an output
 * is off by at most (2u + u^2) sum_k |a_k| |w_k| plus the f32 tolerance. Also: the f16 copies of weights are
 * cast once per change of their source and no more, and the dispatch counts say so.
 * Run: npx vitest run --config test/vitest.config.ts test/f16.test.ts
 */
import { Float16Array, f16round } from '@petamoriken/float16';
import { afterEach, describe, expect, it } from 'vitest';
import { adamw_update, writeStepScalars, type OptimBlock } from '../src/ops/adamw.js';
import { cast_to_f16, toHalf } from '../src/ops/cast.js';
import { canStoreDual } from '../src/ops/dual-store.js';
import { gelu_backward } from '../src/ops/gelu.js';
import { residual_backward } from '../src/ops/residual.js';
import { halfCopyOf } from '../src/ops/half-weights.js';
import { linearGelu } from '../src/ops/linear_gelu.js';
import { linearResidual } from '../src/ops/linear_residual.js';
import { gemm, matmul, matmulKernelFor, subgroupKernelFits, useMatmulKernel, type MatmulKernel } from '../src/ops/matmul.js';
import type { Engine } from '../src/runtime/engine.js';
import { dtypeForElement } from '../src/runtime/kernels.js';
import { Tensor } from '../src/runtime/tensor.js';
import { bits, expectClose } from './helpers/compare.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { abs, expectWithin, F32_TOL, f16Ulp, linearBounds, productBound, U } from './helpers/precision.js';
import { f32, randomArray } from './helpers/random.js';
import { matmulBackwardRef, matmulRef, type MatmulRef } from './reference/matmul.js';

async function halfEngine(): Promise<Engine | null> {
  const e = await getEngine();
  return e.choice.halfAvailable ? e : null;
}

/** An f16 tensor holding `values` rounded to f16 on the host; returns it and the values it holds. */
function halfFrom(e: Engine, shape: number[], values: ArrayLike<number>): { t: Tensor; held: Float64Array } {
  const h = Float16Array.from(values as ArrayLike<number>);
  const t = e.alloc(shape, 'f16', 'half-input');
  e.write(t, new Uint16Array(h.buffer));
  return { t, held: Float64Array.from(h) };
}

afterEach(async () => {
  const e = await getEngine();
  useMatmulKernel(e, null);
  e.choice.force('precision', null);
});

describe('cast_to_f16', () => {
  it('puts each value on one of its f16 neighbours; overflow and non-finite values become infinities', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    e.resetArena();
    const special = [0, -0, 1, -1, 65504, -65504, 65519, 70000, -70000, 1e-8, -3e-5, 6.1e-5, Infinity, -Infinity, NaN, 1 / 3];
    const values = Float32Array.from([...special, ...randomArray(997, 5, 300)]); // odd count: a padded last pair
    const x = tensorFrom(e, [values.length], values);
    const out = e.alloc([values.length], 'f16', 'out');
    cast_to_f16(e, out, x);
    const got = await e.read(out);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const g = got[i]!;
      if (!Number.isFinite(v) || Math.abs(v) > 65504) {
        expect(Math.abs(g), `element ${i} (${v})`).toBe(Infinity);
        if (!Number.isNaN(v)) expect(Math.sign(g), `sign of element ${i}`).toBe(Math.sign(v));
        continue;
      }
      expect(f16round(g), `element ${i}: ${g} is an f16 value`).toBe(g);
      const ulp = f16Ulp(v);
      expect(Math.abs(g - v), `element ${i}: ${v} -> ${g}`).toBeLessThanOrEqual(ulp);
    }
  });

  it('rejects a wrong dtype or size with a message that names it', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    e.resetArena();
    const x = e.alloc([8], 'f32', 'x');
    expect(() => cast_to_f16(e, e.alloc([8], 'f32', 'o'), x)).toThrow(/out has dtype f32, expected f16/);
    expect(() => cast_to_f16(e, e.alloc([6], 'f16', 'o'), x)).toThrow(/differ in size/);
  });
});

const KERNELS: MatmulKernel[] = ['matmul_forward', 'matmul_tiled', 'matmul_subgroup'];
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [2, 33, 31, 17],
  [1, 36, 44, 20],
  [1, 132, 68, 36],
];

for (const kernel of KERNELS) {
  describe(`${kernel}_f16`, () => {
    for (const [batch, M, N, K] of SHAPES)
      for (const transA of [false, true])
        for (const transB of [false, true])
          it(`batch=${batch} M=${M} N=${N} K=${K} transA=${transA} transB=${transB}, bias and accumulate`, async (ctx) => {
            const e = await halfEngine();
            if (!e) return ctx.skip();
            e.resetArena();
            useMatmulKernel(e, kernel);
            const d: MatmulRef = { batch, M, N, K, transA, transB };
            const a = halfFrom(e, transA ? [batch, K, M] : [batch, M, K], randomArray(batch * M * K, 11 + M, 2));
            const w = halfFrom(e, transB ? [batch, N, K] : [batch, K, N], randomArray(batch * K * N, 12 + N, 2));
            const bias = f32(randomArray(N, 13));
            const prior = f32(randomArray(batch * M * N, 14));
            const out = tensorFrom(e, [batch, M, N], prior);
            e.dispatchLog = [];
            gemm(e, out, a.t, w.t, tensorFrom(e, [N], bias), d, { transA, transB, accumulate: true });
            const ran = e.dispatchLog.map((r) => r.kernel);
            e.dispatchLog = null;
            const picked = matmulKernelFor(e, d, { transA, transB }, [a.t, w.t, out]);
            if (kernel !== 'matmul_subgroup' || subgroupKernelFits(e, d, transA, transB, [a.t, w.t, out])) expect(picked).toBe(kernel);
            expect(ran).toEqual([`${picked}_f16`]);
            const ref = matmulRef(d, a.held, w.held, bias).map((v, i) => v + prior[i]!);
            expectClose('out', await e.readFloat(out), ref, F32_TOL);
          });
  });
}

describe('dual stores: a gradient and its f16 copy from one dispatch', () => {
  // Against the unfused pair: the f32 output bit for bit, and the f16 copy bit for bit what cast_to_f16 makes of it.
  it('gelu_backward with dxOperand: dx as without it, its copy as cast_to_f16 writes it, accumulating or not', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    for (const accumulate of [false, true]) {
      e.resetArena();
      const n = 4 * 331;
      const x = tensorFrom(e, [n], f32(randomArray(n, 41, 6)).map((v, i) => (i === 7 ? 5 : v)));
      const dout = tensorFrom(e, [n], Float32Array.from(randomArray(n, 42, 3e4)).map((v, i) => (i === 7 ? 9e4 : v))); // gelu'(5) ~ 1: past f16's range
      const prior = f32(randomArray(n, 43));
      const dx = tensorFrom(e, [n], prior);
      const dxHalf = e.alloc([n], 'f16', 'dx.f16');
      const ref = tensorFrom(e, [n], prior);
      const refHalf = e.alloc([n], 'f16', 'ref.f16');
      e.dispatchLog = [];
      gelu_backward(e, dx, accumulate, x, dout, dxHalf);
      expect(e.dispatchLog.map((r) => r.kernel)).toEqual(['gelu_backward_dual_f16']);
      e.dispatchLog = null;
      gelu_backward(e, ref, accumulate, x, dout);
      cast_to_f16(e, refHalf, ref);
      expect(bits(await e.readFloat(dx))).toEqual(bits(await e.readFloat(ref)));
      expect(await e.read(dxHalf)).toEqual(await e.read(refHalf));
      expect((await e.read(dxHalf)).some((v) => v === Infinity || v === -Infinity)).toBe(true);
    }
  });

  it('residual_backward with dbranchOperand: dh and dbranch as without it, the copy as cast_to_f16 writes it', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    for (const [accumulateDh, accumulateDbranch, scale] of [[false, false, 1], [true, true, 0.75]] as const) {
      e.resetArena();
      const n = 4 * 257;
      const dout = tensorFrom(e, [n], Float32Array.from(randomArray(n, 51, 3e4)).map((v, i) => (i === 3 ? 9e4 : v)));
      const priorH = f32(randomArray(n, 52));
      const priorB = f32(randomArray(n, 53));
      const [dh, dbranch, refDh, refBranch] = [priorH, priorB, priorH, priorB].map((v) => tensorFrom(e, [n], v));
      const half = e.alloc([n], 'f16', 'dbranch.f16');
      const refHalf = e.alloc([n], 'f16', 'ref.f16');
      e.dispatchLog = [];
      residual_backward(e, dh!, accumulateDh, dbranch!, accumulateDbranch, dout, scale, half);
      expect(e.dispatchLog.map((r) => r.kernel)).toEqual(['residual_backward_dual_f16']);
      e.dispatchLog = null;
      residual_backward(e, refDh!, accumulateDh, refBranch!, accumulateDbranch, dout, scale);
      cast_to_f16(e, refHalf, refBranch!);
      expect(bits(await e.readFloat(dh!))).toEqual(bits(await e.readFloat(refDh!)));
      expect(bits(await e.readFloat(dbranch!))).toEqual(bits(await e.readFloat(refBranch!)));
      expect(await e.read(half)).toEqual(await e.read(refHalf));
      expect((await e.read(half)).some((v) => v === Infinity || v === -Infinity)).toBe(true);
    }
    expect(() => residual_backward(e, e.alloc([6], 'f32', 'a'), false, e.alloc([6], 'f32', 'b'), false, e.alloc([6], 'f32', 'd'), 1, e.alloc([6], 'f16', 'c'))).toThrow(/multiple of 4/);
    expect(canStoreDual(e, 'residual_backward', 6)).toBe(false);
  });

  it('gelu_backward refuses a dxOperand for a size that is not a multiple of 4, or of the wrong size', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    e.resetArena();
    const t = (n: number, dtype: 'f32' | 'f16' = 'f32') => e.alloc([n], dtype, 't');
    expect(() => gelu_backward(e, t(6), false, t(6), t(6), t(6, 'f16'))).toThrow(/multiple of 4/);
    expect(() => gelu_backward(e, t(8), false, t(8), t(8), t(4, 'f16'))).toThrow(/dxOperand has shape \[4\]/);
    expect(canStoreDual(e, 'gelu_backward', 6)).toBe(false);
    expect(canStoreDual(e, 'gelu_backward', 8)).toBe(true);
  });
});

describe('matmul_subgroup_f16 operands', () => {
  it('are read as packed halves, and an f32 tensor in their place is refused', async (ctx) => {
    const e = await halfEngine();
    if (!e || !e.kernels.has('matmul_subgroup_f16')) return ctx.skip();
    e.resetArena();
    const kernel = e.kernels.kernel('matmul_subgroup_f16');
    const operands = kernel.bindings.filter((b) => b.name === 'a' || b.name === 'w');
    expect(operands.map((b) => [b.name, dtypeForElement(b.elementType)])).toEqual([['a', 'f16'], ['w', 'f16']]);
    expect(operands.every((b) => b.elementType.includes('vec2<u32>'))).toBe(true);
    const half = e.alloc([4, 4], 'f16', 'half');
    const single = e.alloc([4, 4], 'f32', 'single');
    const params = { M: 4, N: 4, K: 4, stride_a: 0, stride_w: 0, stride_out: 0, has_bias: 0, accumulate: 0 };
    const args = { a: single, w: half, bias: e.alloc([4], 'f32', 'bias'), out: e.alloc([4, 4], 'f32', 'out') };
    expect(() => e.dispatch('matmul_subgroup_f16', args, params, [1, 1, 1])).toThrow(/a is .* but the kernel reads vec4<f16> packed in vec2<u32> \(dtype f16\)/);
  });

  it("and the GELU twin's f16 output is stored as packed halves, so only an f16 tensor binds there", async (ctx) => {
    const e = await halfEngine();
    if (!e || !e.kernels.has('matmul_subgroup_gelu_f16')) return ctx.skip();
    const bindings = e.kernels.kernel('matmul_subgroup_gelu_f16').bindings;
    const typed = (names: string[]) => bindings.filter((b) => names.includes(b.name)).map((b) => [b.name, b.elementType, dtypeForElement(b.elementType)]);
    expect(typed(['a', 'w', 'act'])).toEqual(['a', 'w', 'act'].map((n) => [n, 'vec4<f16> packed in vec2<u32>', 'f16']));
    expect(typed(['pre']).map(([, , dtype]) => dtype)).toEqual(['f32']);
  });
});

describe('autograd linears under f16 precision', () => {
  it('matmul: forward and gradients within the f16 bound of float64 on the unrounded inputs', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    for (const [M, N, K] of [[33, 40, 20], [64, 96, 128]] as const) {
      e.resetArena();
      e.choice.force('precision', 'f16');
      const d: MatmulRef = { batch: 1, M, N, K, transA: false, transB: false };
      const a = f32(randomArray(M * K, 21, 3));
      const w = f32(randomArray(K * N, 22, 0.5));
      const bias = f32(randomArray(N, 23));
      const dout = f32(randomArray(M * N, 24));
      const ta = paramFrom(e, [M, K], a, 'a');
      const tw = paramFrom(e, [K, N], w, 'w');
      const tb = paramFrom(e, [N], bias, 'b');
      e.dispatchLog = [];
      const out = matmul(e, ta, tw, tb);
      out.grad = tensorFrom(e, [M, N], dout, 'f32', 'dout');
      e.tape.replay();
      const kernels = e.dispatchLog.map((r) => r.kernel);
      e.dispatchLog = null;
      // Forward: cast a, cast w (its copy), the GEMM; backward: cast dout, two GEMMs, bias.
      expect(kernels.filter((k) => k === 'cast_to_f16')).toHaveLength(3);
      expect(kernels.filter((k) => k.startsWith('matmul_'))).toEqual(expect.arrayContaining([expect.stringMatching(/_f16$/)]));
      expect(kernels.filter((k) => k.startsWith('matmul_') && !k.endsWith('_f16'))).toEqual([]);
      const one = { ...d };
      expectWithin('out', await e.readFloat(out), matmulRef(one, a, w, bias), productBound(e, matmulRef(one, abs(a), abs(w), null)));
      const ref = matmulBackwardRef(one, a, w, dout);
      const refAbs = matmulBackwardRef(one, abs(a), abs(w), abs(dout));
      expectWithin('da', await e.readFloat(ta.grad!), ref.da, productBound(e, refAbs.da));
      expectWithin('dw', await e.readFloat(tw.grad!), ref.dw, productBound(e, refAbs.dw));
      expectClose('dbias', await e.readFloat(tb.grad!), ref.dbias, F32_TOL);
      e.tape.clear();
    }
  });

  it('linear + GELU and linear + residual run their f16 twins and stay within the bound of f32', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    const [M, N, K] = [36, 64, 48];
    const a = f32(randomArray(M * K, 31, 2));
    const w = f32(randomArray(K * N, 32, 0.5));
    const bias = f32(randomArray(N, 33));
    const h = f32(randomArray(M * N, 34));
    const dout = f32(randomArray(M * N, 35));
    const run = async (precision: 'f32' | 'f16', op: 'gelu' | 'residual') => {
      e.resetArena();
      e.choice.force('precision', precision);
      const ta = paramFrom(e, [M, K], a, 'a');
      const tw = paramFrom(e, [K, N], w, 'w');
      const tb = paramFrom(e, [N], bias, 'b');
      const th = paramFrom(e, [M, N], h, 'h');
      e.dispatchLog = [];
      const out = op === 'gelu' ? linearGelu(e, ta, tw, tb) : linearResidual(e, ta, tw, tb, th);
      out.grad = tensorFrom(e, [M, N], dout, 'f32', 'dout');
      e.tape.replay();
      const kernels = e.dispatchLog.map((r) => r.kernel).filter((k) => k.startsWith('matmul_'));
      e.dispatchLog = null;
      e.tape.clear();
      return { kernels, out: await e.readFloat(out), da: await e.readFloat(ta.grad!), dw: await e.readFloat(tw.grad!) };
    };
    for (const op of ['gelu', 'residual'] as const) {
      const full = await run('f32', op);
      const half = await run('f16', op);
      expect(half.kernels.every((k) => k.endsWith('_f16')), half.kernels.join()).toBe(true);
      expect(full.kernels.some((k) => k.endsWith('_f16'))).toBe(false);
      const bound = linearBounds(true, M, N, K, { a, w, dout }, op === 'gelu' ? { slope: 1.13, gelu: true } : { slope: 1, gelu: false });
      // GELU's output is stored in f16 under f16 (the next linear's input): one f16 step more at most.
      const outBound = bound.out.map((v, i) => v + (op === 'gelu' ? f16Ulp(Math.abs(full.out[i]!) + v + F32_TOL.atol) : 0));
      expectWithin(`${op} out`, half.out, full.out, outBound);
      expectWithin(`${op} da`, half.da, full.da, bound.da);
      expectWithin(`${op} dw`, half.dw, full.dw, bound.dw);
    }
  });
});

describe('an f16 activation as a linear\'s input', () => {
  it('is read as it is (no cast), its gradient is f32, and it matches the same values given in f32', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    e.resetArena();
    e.choice.force('precision', 'f16');
    const [M, N, K] = [12, 16, 20];
    const x = halfFrom(e, [M, K], randomArray(M * K, 51, 2)); // as a LayerNorm under f16 stores its output
    const w = paramFrom(e, [K, N], randomArray(K * N, 52, 0.5), 'w');
    const dout = f32(randomArray(M * N, 53));
    e.dispatchLog = [];
    const out = matmul(e, x.t, w);
    const kernels = e.dispatchLog.map((r) => r.kernel);
    e.dispatchLog = null;
    expect(kernels.filter((k) => k === 'cast_to_f16')).toHaveLength(1); // the weight's copy only
    out.grad = tensorFrom(e, [M, N], dout, 'f32', 'dout');
    e.tape.replay();
    expect(x.t.grad!.dtype).toBe('f32');
    // The same product from the values x holds, given in f32: cast to f16 they are exactly x again.
    const d: MatmulRef = { batch: 1, M, N, K, transA: false, transB: false };
    const wHeld = await e.readFloat(w);
    const ref = matmulBackwardRef(d, x.held, wHeld, dout);
    const sums = matmulBackwardRef(d, abs(x.held), abs(wHeld), abs(dout));
    expectWithin('out', await e.readFloat(out), matmulRef(d, x.held, wHeld, null), productBound(e, matmulRef(d, abs(x.held), abs(wHeld), null)));
    expectWithin('dx', await e.readFloat(x.t.grad!), ref.da, productBound(e, sums.da));
    e.tape.clear();
    // In f32 precision an f16 input is a mistake, and said so.
    e.choice.force('precision', 'f32');
    expect(() => matmul(e, x.t, w)).toThrow(/matmul: a .* is f16, but this linear reads f32 operands \(precision f32\)/);
  });
});

describe('f16 copies of weights', () => {
  it('are cast once per change of the source: not again for an unchanged weight, again after a write', async (ctx) => {
    const e = await halfEngine();
    if (!e) return ctx.skip();
    e.resetArena();
    e.choice.force('precision', 'f16');
    const w = paramFrom(e, [16, 8], randomArray(128, 41), 'w');
    const x = tensorFrom(e, [4, 16], randomArray(64, 42));
    const casts = (fn: () => void) => {
      e.dispatchLog = [];
      fn();
      const n = e.dispatchLog.filter((r) => r.kernel === 'cast_to_f16').length;
      e.dispatchLog = null;
      return n;
    };
    expect(casts(() => matmul(e, x, w))).toBe(2); // x and w
    expect(casts(() => matmul(e, x, w))).toBe(1); // x only: w's copy is current
    e.write(w, Float32Array.from(randomArray(128, 43)));
    expect(casts(() => matmul(e, x, w))).toBe(2);
    const copy = halfCopyOf(e, w);
    expectClose('copy', await e.read(copy), Float64Array.from(Float16Array.from(await e.readFloat(w))), { atol: 0, rtol: 2 * U });
    e.tape.clear();
    expect(toHalf(e, x).dtype).toBe('f16');
  });

  it("are written by AdamW's update where they sit in their block's mirror: the values as the plain update, the copies as a cast, none cast after", async (ctx) => {
    const e = await halfEngine();
    if (!e || !e.kernels.has('adamw_update_dual_f16')) return ctx.skip();
    e.resetArena();
    e.choice.force('precision', 'f16');
    const n = 1024;
    const hp = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const stepScalars = e.alloc([4], 'f32', 'stepScalars');
    writeStepScalars(e, stepScalars, [{ lr: 0.05, step: 2 }], hp.beta1, hp.beta2);
    const state = (label: string): OptimBlock => {
      const block = { params: e.persistent([n], 'f32', `${label}.p`), grads: e.persistent([n], 'f32', `${label}.g`), m: e.persistent([n], 'f32', `${label}.m`), v: e.persistent([n], 'f32', `${label}.v`), decayCount: 512 };
      e.write(block.params, Float32Array.from(randomArray(n, 61)));
      e.write(block.grads, Float32Array.from(randomArray(n, 62, 50)));
      e.write(block.m, Float32Array.from(randomArray(n, 63, 0.1)));
      e.write(block.v, Float32Array.from(randomArray(n, 64, 0.1), (x) => x * x));
      return block;
    };
    const dual = state('dual');
    const plain = state('plain');
    // Two views in the mirror (f16 offsets 0 and 256 bytes) and one whose f16 offset (128 bytes) is not aligned.
    const view = (b: OptimBlock, at: number, size: number) => new Tensor(b.params.buffer, [size], 'f32', at * 4, `w${at}`, true);
    const [w0, w128, w64] = [view(dual, 0, 64), view(dual, 128, 256), view(dual, 64, 64)];
    const casts = (fn: () => void) => {
      e.dispatchLog = [];
      fn();
      const kernels = e.dispatchLog.map((r) => r.kernel);
      e.dispatchLog = null;
      return kernels;
    };
    expect(casts(() => [w0, w128, w64].forEach((w) => halfCopyOf(e, w)))).toEqual(['cast_to_f16', 'cast_to_f16', 'cast_to_f16']);
    for (const overflow of [0, 1]) {
      const clip = tensorFrom(e, [4], [1, 0, overflow, 0], 'f32', 'clip');
      expect(casts(() => adamw_update(e, dual, stepScalars, 0, clip, hp))).toEqual(['adamw_update_dual_f16']);
      expect(casts(() => adamw_update(e, plain, stepScalars, 0, clip, hp))).toEqual(['adamw_update']);
      expect(bits(await e.readFloat(dual.params))).toEqual(bits(await e.readFloat(plain.params)));
      expect(bits(await e.readFloat(dual.m))).toEqual(bits(await e.readFloat(plain.m)));
      // The mirror's copies are current (no cast) and hold what cast_to_f16 makes of the new values (the old ones
      // when the update skipped for overflow); the unaligned view's own copy is cast again (also after a skipped
      // update: the host cannot tell it from one that wrote).
      expect(casts(() => [w0, w128].forEach((w) => halfCopyOf(e, w)))).toEqual([]);
      for (const w of [w0, w128]) expect(await e.read(halfCopyOf(e, w)), w.label).toEqual(await e.read(toHalf(e, w)));
      expect(casts(() => halfCopyOf(e, w64))).toEqual(['cast_to_f16']);
    }
  });
});
