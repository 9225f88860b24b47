/**
 * A learned position embedding added to every item of a batch (a ViT's `pos_embed`).
 *
 *   out[b, t, c] = x[b, t, c] + pos[t, c]          x (B, T, C), pos (T, C) or (1, T, C)
 * Backward:
 *   dx[b, t, c] (+)= dout[b, t, c]                 dpos[t, c] (+)= sum_b dout[b, t, c]
 * Saves: nothing (the rule needs only dout).
 *
 * dx is always its own tensor, never an alias of dout, for the reasons given in src/ops/residual.ts (later rules
 * add into dx in place; dout may be a buffer someone else still reads).
 *
 * Cost: one dispatch each way. Forward one invocation per element; backward one invocation per (t, c) that walks
 * the B items in order, writing dx and summing dpos (fixed order, no atomics: deterministic).
 *
 * Run the tests: npx vitest run --config test/vitest.config.ts test/vit_ops.test.ts
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, shapeEq, ShapeError, type Tensor } from '../runtime/tensor.js';


interface Dims {
  B: number;
  T: number;
  C: number;
}

/** x (B, T, C) f32 and pos (T, C) or (1, T, C) f32; errors name the op and the shapes. */
function posDims(op: string, x: Tensor, pos: Tensor): Dims {
  if (x.shape.length !== 3) throw new ShapeError(`${op}: x must be (B, T, C), got ${fmtShape(x.shape)}`);
  expectDType(op, 'x', x, 'f32');
  expectDType(op, 'pos', pos, 'f32');
  const [B, T, C] = x.shape as [number, number, number];
  const ok = shapeEq(pos.shape, [T, C]) || shapeEq(pos.shape, [1, T, C]);
  if (!ok) throw new ShapeError(`${op}: pos has shape ${fmtShape(pos.shape)}, expected [${T}, ${C}] or [1, ${T}, ${C}] for x ${fmtShape(x.shape)}`);
  return { B, T, C };
}

function checkLike(op: string, what: string, t: Tensor, ref: Tensor, refName: string): void {
  if (!shapeEq(t.shape, ref.shape)) throw new ShapeError(`${op}: ${what} has shape ${fmtShape(t.shape)}, but ${refName} has ${fmtShape(ref.shape)}`);
  expectDType(op, what, t, 'f32');
}

/** Kernel-level forward: out (B, T, C) (+)= x + pos broadcast over b. `out` must not share a buffer with x. */
export function posembed_forward(e: Engine, out: Tensor, x: Tensor, pos: Tensor, accumulate = false): void {
  const d = posDims('posembed_forward', x, pos);
  checkLike('posembed_forward', 'out', out, x, 'x');
  const n = d.B * d.T * d.C;
  if (n === 0) return;
  e.dispatch('posembed_forward', { x, pos, out }, { ...d, accumulate: accumulate ? 1 : 0, accumulate_pos: 0 }, e.grid('posembed_forward', n));
}

/**
 * Kernel-level backward: dx (+)= dout and dpos (+)= sum over b of dout, each by its own flag; one dispatch.
 * dx and dpos must be different buffers from each other and from dout.
 */
export function posembed_backward(e: Engine, dx: Tensor, accumulateDx: boolean, dpos: Tensor, accumulatePos: boolean, dout: Tensor): void {
  const d = posDims('posembed_backward', dout, dpos);
  checkLike('posembed_backward', 'dx', dx, dout, 'dout');
  const n = d.T * d.C;
  if (n === 0) return;
  e.dispatch(
    'posembed_backward',
    { dout, dx, dpos },
    { ...d, accumulate: accumulateDx ? 1 : 0, accumulate_pos: accumulatePos ? 1 : 0 },
    e.grid('posembed_backward', n),
  );
}

/** Autograd: returns x + pos (shaped like x) and records dx (+)= dout, dpos (+)= sum_b dout. */
export function posEmbed(e: Engine, x: Tensor, pos: Tensor): Tensor {
  posDims('posEmbed', x, pos);
  const out = e.alloc(x.shape, 'f32', 'posembed.out'); // (B, T, C)
  posembed_forward(e, out, x, pos);
  e.record('posEmbed', [out], () => {
    const dout = e.gradIn('posEmbed', out);
    const gx = e.gradOf('posEmbed', x);
    const gp = e.gradOf('posEmbed', pos);
    posembed_backward(e, gx.grad, gx.accumulate, gp.grad, gp.accumulate, dout);
  });
  return out;
}
