import { describe, expect, it } from 'vitest';
import { attention, attention_backward, attention_forward } from '../src/ops/attention.js';
import { expectClose } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';
import { attentionBackwardRef, attentionRef, type AttentionRef } from './reference/attention.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };

function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

describe('attention reference', () => {
  for (const causal of [true, false])
    for (const [B, T, C, NH] of [
      [2, 3, 4, 2],
      [1, 4, 3, 3],
    ] as const) {
      it(`backward matches finite differences B=${B} T=${T} C=${C} NH=${NH} causal=${causal}`, () => {
        const r: AttentionRef = { B, T, C, NH, causal };
        const qkv = randomArray(B * T * 3 * C, 1 + T);
        const dout = randomArray(B * T * C, 2 + T);
        const dqkv = attentionBackwardRef(r, qkv, dout);
        expectGradMatchesFiniteDiff('dqkv', () => attentionRef(r, qkv).out, qkv, dout, dqkv);
      });
    }

  it('lse is the log of the softmax denominator', () => {
    const r: AttentionRef = { B: 1, T: 3, C: 2, NH: 1, causal: true };
    const qkv = randomArray(3 * 6, 7);
    const { lse } = attentionRef(r, qkv);
    const s = (t: number, u: number) => (qkv[t * 6]! * qkv[u * 6 + 2]! + qkv[t * 6 + 1]! * qkv[u * 6 + 3]!) / Math.sqrt(2);
    expect(lse[0]).toBeCloseTo(s(0, 0), 12);
    expect(lse[2]).toBeCloseTo(Math.log(Math.exp(s(2, 0)) + Math.exp(s(2, 1)) + Math.exp(s(2, 2))), 12);
  });
});

describe('attention kernel', () => {
  // [B, T, C, NH]: T = 1; T = 31/32/33; HS = 1; HS = 7 (partial vec4 chunk); HS = 128 (the maximum);
  // B * NH * T = 198 and 70 rows (more than one 64-wide workgroup).
  const shapes: [number, number, number, number][] = [
    [1, 1, 4, 1],
    [2, 31, 8, 2],
    [1, 32, 14, 2],
    [2, 33, 6, 3],
    [2, 5, 3, 3],
    [1, 9, 256, 2],
    [1, 70, 12, 1],
  ];
  for (const [B, T, C, NH] of shapes)
    for (const causal of [true, false]) {
      it(`forward and backward B=${B} T=${T} C=${C} NH=${NH} causal=${causal}`, async () => {
        const e = await getEngine();
        e.resetArena();
        const r: AttentionRef = { B, T, C, NH, causal };
        const x = f32(randomArray(B * T * 3 * C, 10 + T + C));
        const dout = f32(randomArray(B * T * C, 20 + T + C));
        const ref = attentionRef(r, x);

        // Kernel level: out and the saved lse.
        const qkv = tensorFrom(e, [B, T, 3 * C], x, 'f32', 'qkv');
        const out0 = e.alloc([B, T, C]);
        const lse = e.alloc([B, NH, T]);
        attention_forward(e, out0, lse, qkv, B, T, C, NH, causal);
        expectClose('out', await e.readFloat(out0), ref.out, TOL);
        expectClose('lse', await e.readFloat(lse), ref.lse, TOL);

        // Autograd: one dispatch forward, two backward, and dqkv in qkv's layout.
        const d0 = e.counters.dispatches;
        const out = attention(e, qkv, NH, { causal });
        expect(e.counters.dispatches - d0).toBe(1);
        expect(out.shape).toEqual([B, T, C]);
        expectClose('out (autograd)', await e.readFloat(out), ref.out, TOL);
        out.grad = tensorFrom(e, [B, T, C], dout, 'f32', 'dout');
        const d1 = e.counters.dispatches;
        e.tape.replay();
        expect(e.counters.dispatches - d1).toBe(2);
        expect(qkv.grad!.shape).toEqual([B, T, 3 * C]);
        expectClose('dqkv', await e.readFloat(qkv.grad!), attentionBackwardRef(r, x, dout), TOL);
      });
    }

  it('is causal by default: out[t] does not depend on later tokens', async () => {
    const e = await getEngine();
    e.resetArena();
    const [B, T, C, NH] = [1, 6, 4, 2];
    const x = f32(randomArray(B * T * 3 * C, 5));
    const y = Float64Array.from(x);
    for (let i = 4 * 3 * C; i < y.length; i++) y[i] = -y[i]! * 2; // change tokens 4 and 5
    const a = await e.readFloat(attention(e, tensorFrom(e, [B, T, 3 * C], x), NH));
    const b = await e.readFloat(attention(e, tensorFrom(e, [B, T, 3 * C], y), NH));
    e.tape.clear();
    expect(Array.from(a.subarray(0, 4 * C))).toEqual(Array.from(b.subarray(0, 4 * C)));
    expect(Array.from(a.subarray(4 * C))).not.toEqual(Array.from(b.subarray(4 * C)));
  });

  for (const causal of [true, false]) {
    it(`large logits (inputs x30) stay finite and accurate causal=${causal}`, async () => {
      const e = await getEngine();
      e.resetArena();
      const [B, T, C, NH] = [2, 33, 16, 2];
      const r: AttentionRef = { B, T, C, NH, causal };
      const x = f32(randomArray(B * T * 3 * C, 77, 30)); // scores up to ~2500: exp overflows without the max shift
      const dout = f32(randomArray(B * T * C, 78));
      const ref = attentionRef(r, x);
      const qkv = tensorFrom(e, [B, T, 3 * C], x, 'f32', 'qkv');
      const out = attention(e, qkv, NH, { causal });
      const got = await e.readFloat(out);
      expect(allFinite(got)).toBe(true);
      // f32 rounding of a score of size ~2500 is ~1e-4 absolute, which moves p relatively by as much.
      expectClose('out', got, ref.out, { atol: 1e-4, rtol: 1e-4 });
      out.grad = tensorFrom(e, [B, T, C], dout, 'f32', 'dout');
      e.tape.replay();
      const dqkv = await e.readFloat(qkv.grad!);
      expect(allFinite(dqkv)).toBe(true);
      expectClose('dqkv', dqkv, attentionBackwardRef(r, x, dout), { atol: 5e-3, rtol: 1e-3 });
    });
  }

  it('backward accumulates (+=) when asked and is deterministic', async () => {
    const e = await getEngine();
    e.resetArena();
    const [B, T, C, NH] = [2, 17, 10, 2];
    const r: AttentionRef = { B, T, C, NH, causal: true };
    const x = f32(randomArray(B * T * 3 * C, 31));
    const dout = f32(randomArray(B * T * C, 32));
    const prev = f32(randomArray(B * T * 3 * C, 33));
    const qkv = tensorFrom(e, [B, T, 3 * C], x);
    const out = e.alloc([B, T, C]);
    const lse = e.alloc([B, NH, T]);
    attention_forward(e, out, lse, qkv, B, T, C, NH, true);
    const g = tensorFrom(e, [B, T, C], dout);
    const dqkv = tensorFrom(e, [B, T, 3 * C], prev);
    attention_backward(e, dqkv, true, qkv, out, g, lse, B, T, C, NH, true);
    const ref = attentionBackwardRef(r, x, dout).map((v, i) => v + prev[i]!);
    expectClose('dqkv (accumulated)', await e.readFloat(dqkv), ref, TOL);

    const once = e.alloc([B, T, 3 * C]);
    const twice = e.alloc([B, T, 3 * C]);
    attention_backward(e, once, false, qkv, out, g, lse, B, T, C, NH, true);
    attention_backward(e, twice, false, qkv, out, g, lse, B, T, C, NH, true);
    expect(Array.from(await e.readFloat(once))).toEqual(Array.from(await e.readFloat(twice)));
  });

  it('refuses bad shapes naming the op and shapes', async () => {
    const e = await getEngine();
    e.resetArena();
    expect(() => attention(e, e.alloc([1, 4, 3 * 258]), 1)).toThrow(/attention: head size HS = C \/ NH = 258 \/ 1 = 258 exceeds the kernels' maximum 128/);
    expect(() => attention(e, e.alloc([1, 4, 3 * 12]), 5)).toThrow(/attention: C = 12 is not divisible by the number of heads NH = 5/);
    expect(() => attention(e, e.alloc([1, 4, 13]), 1)).toThrow(/attention: qkv must be \(B, T, 3C\), got \[1, 4, 13\]/);
    expect(() => attention(e, e.alloc([4, 12]), 1)).toThrow(/attention: qkv must be \(B, T, 3C\), got \[4, 12\]/);
    expect(() => attention(e, e.alloc([1, 4, 12], 'i32'), 1)).toThrow(/attention: qkv has dtype i32, expected f32/);
    const d0 = e.counters.dispatches;
    expect(() => attention_forward(e, e.alloc([1, 4, 4]), e.alloc([1, 2, 4]), e.alloc([1, 4, 12]), 1, 4, 4, 1, true)).toThrow(
      /attention: lse has shape \[1, 2, 4\], expected \[1, 1, 4\]/,
    );
    expect(e.counters.dispatches).toBe(d0);
    expect(e.tape.length).toBe(0);
  });
});
