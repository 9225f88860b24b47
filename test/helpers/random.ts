/** Seeded test inputs. */
import { Rng } from '../../src/util/rng.js';

/** `n` values uniform in [-scale, scale). */
export function randomArray(n: number, seed: number, scale = 1): Float64Array {
  const rng = new Rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * scale;
  return out;
}

/** `n` seeded f32 values in [-1, 1), made as f32 directly (for large cases, where a Float64Array would double the memory). */
export function randomF32(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform() * 2 - 1;
  return out;
}

/** `n` integers in [0, max). */
export function randomInts(n: number, seed: number, max: number): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(max);
  return out;
}

/** Rounds to f32 and back, so the float64 reference sees exactly what the GPU sees. */
export function f32(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(a));
}
