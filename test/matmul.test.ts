import { describe, expect, it } from 'vitest';
import { matmul, matmul_forward } from '../src/ops/matmul.js';
import { expectClose } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { matmulBackwardRef, matmulRef, type MatmulRef } from './reference/matmul.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };

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

describe('matmul kernel', () => {
  const shapes: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [1, 31, 33, 32],
    [2, 33, 31, 17],
    [1, 65, 70, 129],
    [3, 5, 7, 1],
  ];
  for (const [batch, M, N, K] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true]) {
        it(`forward and backward batch=${batch} M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
          const e = await getEngine();
          e.resetArena();
          const d: MatmulRef = { batch, M, N, K, transA, transB };
          const a = f32(randomArray(batch * M * K, 10 + M));
          const w = f32(randomArray(batch * K * N, 20 + N));
          const bias = f32(randomArray(N, 30));
          const dout = f32(randomArray(batch * M * N, 40));
          const aShape = transA ? [batch, K, M] : [batch, M, K];
          const wShape = transB ? [batch, N, K] : [batch, K, N];
          const ta = tensorFrom(e, aShape, a);
          const tw = tensorFrom(e, wShape, w);
          const tb = paramFrom(e, [N], bias);
          const out = matmul(e, ta, tw, tb, { transA, transB });
          expect(out.shape).toEqual([batch, M, N]);
          expectClose('out', await e.readFloat(out), matmulRef(d, a, w, bias), TOL);
          out.grad = tensorFrom(e, [batch, M, N], dout, 'f32', 'dout');
          e.tape.replay();
          const ref = matmulBackwardRef(d, a, w, dout);
          expectClose('da', await e.readFloat(ta.grad!), ref.da, TOL);
          expectClose('dw', await e.readFloat(tw.grad!), ref.dw, TOL);
          expectClose('dbias', await e.readFloat(tb.grad!), ref.dbias, TOL);
        });
      }

  it('accumulate adds to out', async () => {
    const e = await getEngine();
    e.resetArena();
    const d: MatmulRef = { batch: 1, M: 9, N: 6, K: 3, transA: false, transB: false };
    const a = f32(randomArray(27, 1));
    const w = f32(randomArray(18, 2));
    const prev = f32(randomArray(54, 3));
    const out = tensorFrom(e, [9, 6], prev);
    matmul_forward(e, out, tensorFrom(e, [9, 3], a), tensorFrom(e, [3, 6], w), null, { accumulate: true });
    const ref = matmulRef(d, a, w, null).map((v, i) => v + prev[i]!);
    expectClose('out', await e.readFloat(out), ref, TOL);
  });

  it('linear layer: 3-D input against a shared 2-D weight, forward and backward', async () => {
    const e = await getEngine();
    e.resetArena();
    const [B, T, K, N] = [2, 3, 5, 7];
    const d: MatmulRef = { batch: 1, M: B * T, N, K, transA: false, transB: false };
    const a = f32(randomArray(B * T * K, 5));
    const w = f32(randomArray(K * N, 6));
    const dout = f32(randomArray(B * T * N, 7));
    const ta = tensorFrom(e, [B, T, K], a);
    const tw = paramFrom(e, [K, N], w);
    const out = matmul(e, ta, tw);
    expect(out.shape).toEqual([B, T, N]);
    expectClose('out', await e.readFloat(out), matmulRef(d, a, w, null), TOL);
    out.grad = tensorFrom(e, [B, T, N], dout, 'f32', 'dout');
    e.tape.replay();
    const ref = matmulBackwardRef(d, a, w, dout);
    expectClose('da', await e.readFloat(ta.grad!), ref.da, TOL);
    expectClose('dw', await e.readFloat(tw.grad!), ref.dw, TOL);
  });

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
