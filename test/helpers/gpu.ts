/**
 * One engine for the whole suite (vitest runs one worker without isolation): opening Dawn on lavapipe and
 * compiling every kernel takes a second, and parallel devices thrash 2 cores.
 */
import { Engine } from '../../src/runtime/engine.js';
import type { Tensor } from '../../src/runtime/tensor.js';

let shared: Promise<Engine> | null = null;

export function getEngine(): Promise<Engine> {
  shared ??= Engine.create();
  return shared;
}

/** A tensor filled from `data` (f32 unless `dtype` says otherwise), from the arena. */
export function tensorFrom(e: Engine, shape: number[], data: ArrayLike<number>, dtype: 'f32' | 'i32' | 'u32' = 'f32', label = 'input'): Tensor {
  const t = e.alloc(shape, dtype, label);
  const arr = dtype === 'f32' ? Float32Array.from(data) : dtype === 'i32' ? Int32Array.from(data) : Uint32Array.from(data);
  e.write(t, arr);
  return t;
}

/** A standalone parameter holding `data`, with a zeroed gradient. */
export function paramFrom(e: Engine, shape: number[], data: ArrayLike<number>, label = 'param'): Tensor {
  const p = e.parameter(shape, label);
  e.write(p, Float32Array.from(data));
  return p;
}
