import { describe, expect, it } from 'vitest';
import { taylor_sensitivity } from '../src/ops/taylor.js';
import { expectClose } from './helpers/compare.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray } from './helpers/random.js';

/** float64 reference: sum over rows of |<g_r, out_r - in_r>|. */
function taylorRef(g: ArrayLike<number>, hOut: ArrayLike<number>, hIn: ArrayLike<number>, rows: number, C: number): number {
  let s = 0;
  for (let r = 0; r < rows; r++) {
    let d = 0;
    for (let c = 0; c < C; c++) d += g[r * C + c]! * (hOut[r * C + c]! - hIn[r * C + c]!);
    s += Math.abs(d);
  }
  return s;
}

describe('taylor sensitivity kernel', () => {
  for (const [rows, C] of [[1, 1], [31, 33], [257, 16], [600, 7]] as const) {
    it(`rows=${rows} C=${C}: writes, then accumulates, into its slot only`, async () => {
      const e = await getEngine();
      e.resetArena();
      const n = rows * C;
      const g = f32(randomArray(n, 1 + rows));
      const hOut = f32(randomArray(n, 2 + rows));
      const hIn = f32(randomArray(n, 3 + rows));
      const out = tensorFrom(e, [4], [7, 7, 7, 7]);
      const args = [tensorFrom(e, [rows, C], g), tensorFrom(e, [rows, C], hOut), tensorFrom(e, [rows, C], hIn)] as const;
      taylor_sensitivity(e, out, 2, ...args, false);
      const ref = taylorRef(g, hOut, hIn, rows, C);
      expectClose('taylor', await e.readFloat(out), [7, 7, ref, 7], { atol: 1e-5, rtol: 1e-5 });
      taylor_sensitivity(e, out, 2, ...args, true);
      expectClose('taylor accumulated', await e.readFloat(out), [7, 7, 2 * ref, 7], { atol: 1e-5, rtol: 1e-5 });
    });
  }

  it('refuses mismatched shapes and a slot out of range', async () => {
    const e = await getEngine();
    e.resetArena();
    const a = e.alloc([4, 8]);
    expect(() => taylor_sensitivity(e, e.alloc([2]), 0, a, a, e.alloc([4, 7]), false)).toThrow(/taylor: h_in has shape \[4, 7\], expected \[4, 8\]/);
    expect(() => taylor_sensitivity(e, e.alloc([2]), 2, a, e.alloc([4, 8]), e.alloc([4, 8]), false)).toThrow(/slot 2 outside/);
  });
});
