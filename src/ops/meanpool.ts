/**
 * Mean over the token axis (a ViT's global average pool over its patch tokens).
 *
 *   out[b, c] = (1 / T) sum_t x[b, t, c]          x (B, T, C) -> out (B, C)
 * Backward:
 *   dx[b, t, c] (+)= dout[b, c] / T                (every token gets the same share)
 * Saves: nothing (T comes from the shape).
 *
 * Cost: one dispatch each way; forward B*C invocations each summing T values in a fixed order (no atomics,
 * deterministic), backward one invocation per element of x.
 *
 * Run the tests: npx vitest run --config test/vitest.config.ts test/vit_ops.test.ts
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, expectShape, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';


function poolDims(op: string, x: Tensor): { B: number; T: number; C: number } {
  if (x.shape.length !== 3) throw new ShapeError(`${op}: x must be (B, T, C), got ${fmtShape(x.shape)}`);
  expectDType(op, 'x', x, 'f32');
  const [B, T, C] = x.shape as [number, number, number];
  if (T === 0) throw new ShapeError(`${op}: x ${fmtShape(x.shape)} has no tokens to average`);
  return { B, T, C };
}

/** Kernel-level forward: out (B, C) (+)= mean over t of x (B, T, C). Output first. */
export function meanpool_forward(e: Engine, out: Tensor, x: Tensor, accumulate = false): void {
  const d = poolDims('meanpool_forward', x);
  expectShape('meanpool_forward', 'out', out, [d.B, d.C]);
  expectDType('meanpool_forward', 'out', out, 'f32');
  const n = d.B * d.C;
  if (n === 0) return;
  e.dispatch('meanpool_forward', { x, out }, { ...d, accumulate: accumulate ? 1 : 0 }, e.grid('meanpool_forward', n));
}

/** Kernel-level backward: dx (B, T, C) (+)= dout (B, C) / T broadcast over t. */
export function meanpool_backward(e: Engine, dx: Tensor, accumulate: boolean, dout: Tensor): void {
  const d = poolDims('meanpool_backward', dx);
  expectShape('meanpool_backward', 'dout', dout, [d.B, d.C]);
  expectDType('meanpool_backward', 'dout', dout, 'f32');
  const n = d.B * d.T * d.C;
  if (n === 0) return;
  e.dispatch('meanpool_backward', { dout, dx }, { ...d, accumulate: accumulate ? 1 : 0 }, e.grid('meanpool_backward', n));
}

/** Autograd mean over tokens: returns out (B, C) for x (B, T, C) and records dx (+)= dout / T. */
export function meanPool(e: Engine, x: Tensor): Tensor {
  const { B, C } = poolDims('meanPool', x);
  const out = e.alloc([B, C], 'f32', 'meanpool.out'); // (B, C)
  meanpool_forward(e, out, x);
  e.record('meanPool', [out], () => {
    const dout = e.gradIn('meanPool', out);
    const gx = e.gradOf('meanPool', x);
    meanpool_backward(e, gx.grad, gx.accumulate, dout);
  });
  return out;
}
