/**
 * Token + position embedding: the float64 reference against finite differences, the host token index, and the
 * GPU forward and backward against the reference at edge shapes (1, 31, 32, 33, C over the workgroup size, more
 * than 65535 rows so the grid folds into y).
 * Run: npx vitest run --config test/vitest.config.ts test/embedding.test.ts   (DEBUG=1 prints max errors)
 */
import { describe, expect, it } from 'vitest';
import {
  buildTokenIndex,
  embedding,
  embedding_backward_wpe,
  embedding_backward_wte,
  uploadTokenIndex,
  uploadTokens,
} from '../src/ops/embedding.js';
import type { Engine } from '../src/runtime/engine.js';
import { compareClose, expectClose, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray, randomInts } from './helpers/random.js';
import { embeddingBackwardRef, embeddingRef, type EmbeddingRef } from './reference/embedding.js';

const FWD_TOL: Tolerance = { atol: 1e-6, rtol: 1e-6 };
const BWD_TOL: Tolerance = { atol: 1e-5, rtol: 1e-5 };

function check(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): void {
  if (process.env.DEBUG) console.log(`${what}: ${compareClose(got, ref, tol).message}`);
  expectClose(what, got, ref, tol);
}

async function freshEngine(): Promise<Engine> {
  const e = await getEngine();
  e.resetArena();
  e.tape.clear();
  return e;
}

describe('embedding reference', () => {
  it('backward matches finite differences', () => {
    const d: EmbeddingRef = { B: 2, T: 3, C: 4, V: 5, maxT: 4 };
    const tokens = Int32Array.from([0, 3, 3, 4, 3, 0]);
    const wte = randomArray(d.V * d.C, 1);
    const wpe = randomArray(d.maxT * d.C, 2);
    const dout = randomArray(d.B * d.T * d.C, 3);
    const g = embeddingBackwardRef(d, tokens, dout);
    expectGradMatchesFiniteDiff('dwte', () => embeddingRef(d, tokens, wte, wpe), wte, dout, g.dwte);
    expectGradMatchesFiniteDiff('dwpe', () => embeddingRef(d, tokens, wte, wpe), wpe, dout, g.dwpe);
  });
});

describe('token index', () => {
  it('groups positions by token id in ascending order (CSR)', () => {
    const idx = buildTokenIndex(Int32Array.from([2, 0, 2, 3, 0, 2]), 5);
    expect([...idx.offsets]).toEqual([0, 2, 2, 5, 6, 6]);
    expect([...idx.positions]).toEqual([1, 4, 0, 2, 5, 3]);
  });

  it('rejects token ids outside [0, V) naming the id and position', async () => {
    expect(() => buildTokenIndex(Int32Array.from([0, 1, 5]), 5)).toThrow(/embedding: token id 5 at position 2 is outside \[0, V=5\)/);
    expect(() => buildTokenIndex(Int32Array.from([-1]), 5)).toThrow(/token id -1 at position 0/);
    const e = await freshEngine();
    expect(() => uploadTokens(e, Int32Array.from([0, 7]), 1, 2, 4)).toThrow(/token id 7 at position 1 is outside \[0, V=4\)/);
    expect(() => uploadTokens(e, Int32Array.from([0, 1, 2]), 1, 2, 4)).toThrow(/got 3 token ids for a \(B, T\) = \[1, 2\] batch/);
  });
});

describe('embedding kernel', () => {
  // [B, T, C, V, maxT]
  const shapes: [number, number, number, number, number][] = [
    [1, 1, 1, 1, 1],
    [2, 31, 32, 33, 40],
    [3, 33, 31, 5, 33], // many repeats of each token
    [1, 65, 70, 129, 65], // C over the 64-wide workgroup
    [2, 7, 65, 3, 9],
    [2, 33000, 2, 70000, 33000], // B*T and V over 65535 workgroups: grids fold into y
  ];
  for (const [B, T, C, V, maxT] of shapes) {
    it(`forward and backward B=${B} T=${T} C=${C} V=${V} maxT=${maxT}`, async () => {
      const e = await freshEngine();
      const d: EmbeddingRef = { B, T, C, V, maxT };
      const tokensHost = randomInts(B * T, 7 + T, V);
      const wteHost = f32(randomArray(V * C, 11 + V));
      const wpeHost = f32(randomArray(maxT * C, 13 + C));
      const dout = f32(randomArray(B * T * C, 17));
      // Parameter gradients start non-zero: they must be added to, and rows of absent tokens left as they were.
      const prevWte = f32(randomArray(V * C, 19));
      const prevWpe = f32(randomArray(maxT * C, 23));
      const wte = paramFrom(e, [V, C], wteHost, 'wte');
      const wpe = paramFrom(e, [maxT, C], wpeHost, 'wpe');
      e.write(wte.grad!, Float32Array.from(prevWte));
      e.write(wpe.grad!, Float32Array.from(prevWpe));
      const { tokens, index } = uploadTokens(e, tokensHost, B, T, V);

      const before = { ...e.counters };
      const out = embedding(e, tokens, index, wte, wpe);
      expect(e.counters.dispatches - before.dispatches).toBe(1);
      expect(out.shape).toEqual([B, T, C]);
      check('out', await e.readFloat(out), embeddingRef(d, tokensHost, wteHost, wpeHost), FWD_TOL);

      out.grad = tensorFrom(e, [B, T, C], dout, 'f32', 'dout');
      const mid = e.counters.dispatches;
      e.tape.replay();
      expect(e.counters.dispatches - mid).toBe(2);
      const ref = embeddingBackwardRef(d, tokensHost, dout);
      check('dwte', await e.readFloat(wte.grad!), ref.dwte.map((g, i) => g + prevWte[i]!), BWD_TOL);
      check('dwpe', await e.readFloat(wpe.grad!), ref.dwpe.map((g, i) => g + prevWpe[i]!), BWD_TOL);
    });
  }

  it('without accumulate writes every element: absent tokens and rows t >= T get zeros', async () => {
    const e = await freshEngine();
    const d: EmbeddingRef = { B: 2, T: 5, C: 67, V: 9, maxT: 8 };
    const tokensHost = Int32Array.from([1, 1, 4, 8, 1, 4, 4, 0, 1, 8]); // 2, 3, 5, 6, 7 absent
    const dout = f32(randomArray(d.B * d.T * d.C, 5));
    const index = uploadTokenIndex(e, tokensHost, d.V);
    const doutT = tensorFrom(e, [d.B, d.T, d.C], dout);
    const dwte = tensorFrom(e, [d.V, d.C], randomArray(d.V * d.C, 6, 100)); // garbage to be overwritten
    const dwpe = tensorFrom(e, [d.maxT, d.C], randomArray(d.maxT * d.C, 8, 100));
    embedding_backward_wte(e, dwte, doutT, index, false);
    embedding_backward_wpe(e, dwpe, doutT, false);
    const ref = embeddingBackwardRef(d, tokensHost, dout);
    check('dwte', await e.readFloat(dwte), ref.dwte, BWD_TOL);
    check('dwpe', await e.readFloat(dwpe), ref.dwpe, BWD_TOL);
  });

  it('is deterministic: the same batch gives bitwise identical gradients', async () => {
    const e = await freshEngine();
    const [B, T, C, V] = [4, 33, 40, 3];
    const tokensHost = randomInts(B * T, 1, V);
    const dout = tensorFrom(e, [B, T, C], randomArray(B * T * C, 2));
    const index = uploadTokenIndex(e, tokensHost, V);
    const runs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const dwte = e.alloc([V, C]);
      embedding_backward_wte(e, dwte, dout, index, false);
      runs.push(await e.readFloat(dwte));
    }
    expect(Buffer.from(runs[0]!.buffer).equals(Buffer.from(runs[1]!.buffer))).toBe(true);
  });

  it('runs without an index while gradients are disabled, and records nothing', async () => {
    const e = await freshEngine();
    const tokensHost = Int32Array.from([2, 0, 1]);
    const wteHost = f32(randomArray(3 * 4, 1));
    const wpeHost = f32(randomArray(5 * 4, 2));
    const tokens = tensorFrom(e, [1, 3], tokensHost, 'i32');
    const wte = tensorFrom(e, [3, 4], wteHost);
    const wpe = tensorFrom(e, [5, 4], wpeHost);
    const tape = e.tape.length;
    const out = e.noGrad(() => embedding(e, tokens, null, wte, wpe));
    expect(e.tape.length).toBe(tape);
    check('out', await e.readFloat(out), embeddingRef({ B: 1, T: 3, C: 4, V: 3, maxT: 5 }, tokensHost, wteHost, wpeHost), FWD_TOL);
    expect(() => embedding(e, tokens, null, wte, wpe)).toThrow(/embedding: a TokenIndex is needed while gradients are enabled/);
  });

  it('refuses bad shapes and dtypes naming the op and shapes', async () => {
    const e = await freshEngine();
    const wte = e.alloc([10, 8]);
    const wpe = e.alloc([4, 8]);
    const tokens = e.alloc([2, 4], 'i32');
    const index = uploadTokenIndex(e, new Int32Array(8), 10);
    expect(() => embedding(e, e.alloc([2, 4], 'f32'), index, wte, wpe)).toThrow(/embedding: tokens has dtype f32, expected i32/);
    expect(() => embedding(e, e.alloc([8], 'i32'), index, wte, wpe)).toThrow(/embedding: tokens must be \(B, T\), got \[8\]/);
    expect(() => embedding(e, e.alloc([1, 5], 'i32'), index, wte, wpe)).toThrow(/T=5 > maxT=4 of wpe \[4, 8\]/);
    expect(() => embedding(e, tokens, index, wte, e.alloc([4, 6]))).toThrow(/wte \[10, 8\] and wpe \[4, 6\] differ in C/);
    expect(() => embedding(e, tokens, index, e.alloc([10, 8], 'i32'), wpe)).toThrow(/embedding: wte has dtype i32, expected f32/);
    const index9 = uploadTokenIndex(e, new Int32Array(8), 9);
    expect(() => embedding(e, tokens, index9, wte, wpe)).toThrow(/embedding: index.offsets has shape \[10\], expected \[11\]/);
    const index3 = uploadTokenIndex(e, new Int32Array(3), 10);
    expect(() => embedding(e, tokens, index3, wte, wpe)).toThrow(/embedding: index.positions has shape \[3\], expected \[8\]/);
  });
});
