/**
 * Fused attention against the float64 plain-loop reference (test/reference/attention.ts): both kernel sets (forced
 * with useAttentionKernels) at awkward shapes (T = 1, 5, 9, 12, 16, 17, 31, 32, 33, 40, 70; HS = 1, 2, 4, 7, 8, 12,
 * 16, 32, 64, 128; B and NH > 1), causal and not, forward (out, lse) and backward (dqkv, driven by a random
 * cotangent), large logits, accumulation, and a forward of one set with the backward of the other. The dispatch log
 * checks that the set under test is the one that ran (the subgroup set falls back to the portable one where
 * HS % 4 != 0 or the device has no subgroups). Also: which set the adapter rule picks, and shape errors.
 * Run: npx vitest run --config test/vitest.config.ts test/attention.test.ts
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  attention,
  attention_backward,
  attention_forward,
  attentionKernelsFor,
  useAttentionKernels,
  type AttentionKernels,
} from '../src/ops/attention.js';
import { toHalf } from '../src/ops/cast.js';
import type { Engine } from '../src/runtime/engine.js';
import { expectClose } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { halfMatmuls } from './helpers/precision.js';
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

const KERNELS: AttentionKernels[] = ['portable', 'subgroup'];

/** Whether the subgroup kernels can run on this device at all (forced, HS = 4 takes them). Clears any forcing. */
async function subgroupAvailable(): Promise<boolean> {
  const e = await getEngine();
  useAttentionKernels(e, 'subgroup');
  try {
    return attentionKernelsFor(e, 4, []) === 'subgroup';
  } finally {
    useAttentionKernels(e, null);
  }
}

/** The attention kernels `kernels` dispatches for head size HS: its own where they fit, else the portable ones. */
function expectedKernels(kernels: AttentionKernels, HS: number, subgroup: boolean): { fwd: string[]; bwd: string[] } {
  if (kernels === 'subgroup' && subgroup && HS % 4 === 0) {
    return { fwd: ['attention_forward_subgroup'], bwd: ['attention_backward_dq_subgroup', 'attention_backward_dkv_subgroup'] };
  }
  return { fwd: ['attention_forward'], bwd: ['attention_backward_dq', 'attention_backward_dkv'] };
}

/** Runs `fn` with the dispatch log on; returns the attention kernels it dispatched. */
function attentionKernelsIn(e: Engine, fn: () => void): string[] {
  const prev = e.dispatchLog;
  e.dispatchLog = [];
  try {
    fn();
    return e.dispatchLog.map((r) => r.kernel).filter((k) => k.startsWith('attention_'));
  } finally {
    e.dispatchLog = prev;
  }
}

afterEach(async () => {
  useAttentionKernels(await getEngine(), null);
});

// [B, T, C, NH]: T = 1; T = 31/32/33; HS = 1, 2, 7 (not multiples of 4: the subgroup set falls back); HS = 4, 8,
// 12, 16, 32, 64, 128 (the maximum). Subgroup rows per lane R (8 R rows per workgroup): 4 from T = 17 with
// HS <= 32, 2 with HS = 64 or T = 9..16 (ViT's T = 16), 1 with HS = 128 or T <= 8. T = 40 and 70 span several
// subgroup tiles and several 64-wide portable workgroups (B * NH * T = 70 and 198 rows).
const SHAPES: [number, number, number, number][] = [
  [1, 1, 4, 1],
  [2, 31, 8, 2],
  [1, 32, 14, 2],
  [2, 33, 6, 3],
  [2, 5, 3, 3],
  [1, 9, 256, 2],
  [1, 70, 12, 1],
  [1, 32, 64, 2],
  [2, 33, 96, 3],
  [1, 40, 128, 2],
  [3, 17, 48, 3],
  [4, 16, 64, 4],
  [2, 12, 32, 1],
];

for (const kernels of KERNELS) {
  describe(`attention kernels ${kernels}`, () => {
    for (const [B, T, C, NH] of SHAPES)
      for (const causal of [true, false]) {
        it(`forward and backward B=${B} T=${T} C=${C} NH=${NH} causal=${causal}`, async () => {
          const e = await getEngine();
          const subgroup = await subgroupAvailable();
          e.resetArena();
          useAttentionKernels(e, kernels);
          const want = expectedKernels(kernels, C / NH, subgroup);
          const r: AttentionRef = { B, T, C, NH, causal };
          const x = f32(randomArray(B * T * 3 * C, 10 + T + C));
          const dout = f32(randomArray(B * T * C, 20 + T + C));
          const ref = attentionRef(r, x);

          // Kernel level: out and the saved lse.
          const qkv = tensorFrom(e, [B, T, 3 * C], x, 'f32', 'qkv');
          const out0 = e.alloc([B, T, C]);
          const lse = e.alloc([B, NH, T]);
          expect(attentionKernelsIn(e, () => attention_forward(e, out0, lse, qkv, B, T, C, NH, causal))).toEqual(want.fwd);
          expectClose('out', await e.readFloat(out0), ref.out, TOL);
          expectClose('lse', await e.readFloat(lse), ref.lse, TOL);

          // Autograd: one dispatch forward, two backward, and dqkv in qkv's layout. Under f16 precision the subgroup
          // kernels' f16 twins run, storing the f16 copies the linears around attention read (out's and dqkv's).
          const halfCopies = halfMatmuls(e) && want.fwd[0]!.endsWith('_subgroup');
          const twins = (names: string[]) => (halfCopies ? names.map((k) => `${k}_f16`) : names);
          const d0 = e.counters.dispatches;
          let out = out0;
          expect(attentionKernelsIn(e, () => (out = attention(e, qkv, NH, { causal })))).toEqual(twins(want.fwd));
          expect(e.counters.dispatches - d0).toBe(1);
          expect(out.shape).toEqual([B, T, C]);
          expectClose('out (autograd)', await e.readFloat(out), ref.out, TOL);
          out.grad = tensorFrom(e, [B, T, C], dout, 'f32', 'dout');
          const d1 = e.counters.dispatches;
          expect(attentionKernelsIn(e, () => e.tape.replay())).toEqual(twins(want.bwd));
          expect(e.counters.dispatches - d1).toBe(2);
          expect(qkv.grad!.shape).toEqual([B, T, 3 * C]);
          expectClose('dqkv', await e.readFloat(qkv.grad!), attentionBackwardRef(r, x, dout), TOL);
          // The copies: bit for bit what cast_to_f16 makes of out and dqkv.
          for (const t of [out, qkv.grad!]) {
            if (!halfCopies) expect(t.halfCopy).toBeNull();
            else expect(await e.read(t.halfCopy!), `${t.label}'s f16 copy`).toEqual(await e.read(toHalf(e, t)));
          }
        });
      }

    it('is causal by default: out[t] does not depend on later tokens', async () => {
      const e = await getEngine();
      e.resetArena();
      useAttentionKernels(e, kernels);
      for (const [B, T, C, NH] of [
        [1, 6, 4, 2],
        [2, 40, 64, 2],
      ] as const) {
        const x = f32(randomArray(B * T * 3 * C, 5));
        const y = Float64Array.from(x);
        const cut = T - 2; // change the last two tokens of every sequence
        for (let b = 0; b < B; b++)
          for (let i = (b * T + cut) * 3 * C; i < (b + 1) * T * 3 * C; i++) y[i] = -y[i]! * 2;
        const a = await e.readFloat(attention(e, tensorFrom(e, [B, T, 3 * C], x), NH));
        const c = await e.readFloat(attention(e, tensorFrom(e, [B, T, 3 * C], y), NH));
        e.tape.clear();
        for (let b = 0; b < B; b++) {
          const early = (t0: number, t1: number, v: Float32Array) => Array.from(v.subarray((b * T + t0) * C, (b * T + t1) * C));
          expect(early(0, cut, a)).toEqual(early(0, cut, c));
          expect(early(cut, T, a)).not.toEqual(early(cut, T, c));
        }
      }
    });

    for (const causal of [true, false]) {
      it(`large logits (inputs x30) stay finite and accurate causal=${causal}`, async () => {
        const e = await getEngine();
        e.resetArena();
        useAttentionKernels(e, kernels);
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
      useAttentionKernels(e, kernels);
      for (const [B, T, C, NH] of [
        [2, 17, 10, 2],
        [2, 17, 16, 2],
      ] as const) {
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
      }
    });
  });
}

describe('attention kernel choice', () => {
  it('a forward of one set and the backward of the other agree (same lse)', async () => {
    const e = await getEngine();
    const [B, T, C, NH] = [2, 33, 64, 2];
    for (const causal of [true, false])
      for (const [fwd, bwd] of [
        ['subgroup', 'portable'],
        ['portable', 'subgroup'],
      ] as const) {
        e.resetArena();
        const r: AttentionRef = { B, T, C, NH, causal };
        const x = f32(randomArray(B * T * 3 * C, 41));
        const dout = f32(randomArray(B * T * C, 42));
        const qkv = tensorFrom(e, [B, T, 3 * C], x);
        const out = e.alloc([B, T, C]);
        const lse = e.alloc([B, NH, T]);
        useAttentionKernels(e, fwd);
        attention_forward(e, out, lse, qkv, B, T, C, NH, causal);
        useAttentionKernels(e, bwd);
        const dqkv = e.alloc([B, T, 3 * C]);
        attention_backward(e, dqkv, false, qkv, out, tensorFrom(e, [B, T, C], dout), lse, B, T, C, NH, causal);
        expectClose(`dqkv (${fwd} forward, ${bwd} backward)`, await e.readFloat(dqkv), attentionBackwardRef(r, x, dout), TOL);
      }
  });

  it('the adapter rule: subgroup kernels wherever subgroups run them (CPU adapters and GPUs) when HS % 4 == 0, else portable', async () => {
    const e = await getEngine();
    const subgroup = await subgroupAvailable();
    expect(attentionKernelsFor(e, 32, [])).toBe(subgroup ? 'subgroup' : 'portable');
    expect(attentionKernelsFor(e, 7, [])).toBe('portable');
    useAttentionKernels(e, 'portable');
    expect(attentionKernelsFor(e, 32, [])).toBe('portable');
  });

  it('a device without subgroups skips the subgroup kernels and attention takes the portable ones', async () => {
    const { Engine } = await import('../src/runtime/engine.js');
    const e = await Engine.create({ disableFeatures: ['subgroups'] });
    try {
      expect(e.kernels.skipped.map((s) => s.file)).toEqual(expect.arrayContaining(['attention_subgroup.wgsl', 'attention_backward_subgroup.wgsl']));
      useAttentionKernels(e, 'subgroup');
      const [B, T, C, NH] = [1, 9, 8, 2];
      const x = f32(randomArray(B * T * 3 * C, 51));
      const qkv = tensorFrom(e, [B, T, 3 * C], x);
      let out = qkv;
      expect(attentionKernelsIn(e, () => (out = attention(e, qkv, NH)))).toEqual(['attention_forward']);
      expectClose('out', await e.readFloat(out), attentionRef({ B, T, C, NH, causal: true }, x).out, TOL);
    } finally {
      e.destroy();
    }
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
