/**
 * One engine for the whole suite (vitest runs one worker without isolation): opening Dawn on lavapipe and
 * compiling every kernel takes a second, and parallel devices thrash 2 cores.
 */
import { Engine } from '../../src/runtime/engine.js';
import type { Tensor } from '../../src/runtime/tensor.js';

let shared: Promise<Engine> | null = null;

export function getEngine(): Promise<Engine> {
  shared ??= Engine.create().then((e) => {
    // SBLD_TEST_PRECISION=f16 (or f32) runs the whole suite as if this adapter's rule picked f16 (f32): wherever a
    // test or a run leaves the precision to the adapter ('auto'), the matmuls take those operands.
    const p = process.env.SBLD_TEST_PRECISION;
    if (p === 'f16' && !e.choice.halfAvailable) {
      console.warn(`SBLD_TEST_PRECISION=f16: ${e.gpu.adapterName} has no shader-f16, so these tests run at its own precision again`);
    } else if (p === 'f16' || p === 'f32') {
      e.choice.assumeDefault('precision', p);
    }
    return e;
  });
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
