/**
 * Residual add with an optional scale on the branch (elementwise, any shape):
 *
 *   out = h + scale * branch          (scale = 1/p rescales a kept layer's branch under layer dropping)
 * Backward:
 *   dh (+)= dout        dbranch (+)= scale * dout        (one dispatch writes both)
 * Saves: nothing (the rule needs only dout and the scale).
 *
 * Why dh does not alias dout. When h has no gradient yet, `h.grad = dout` would skip writing dh. Inside the
 * tape that is safe: every consumer of `out` has run its backward before this rule runs, and this rule reads
 * dout (for dbranch) before anything can add into h.grad. It is not safe outside the tape: later rules add
 * into h.grad in place, so dout would be overwritten with h's gradient, and dout is not always a private arena
 * tensor: `backward()` seeds a scalar loss with a shared persistent buffer (a loss built with residualAdd, say
 * loss = ce + lambda * aux, would corrupt the seed of every later step), a caller may hold the cotangent it
 * set, and after backward `out.grad` would hold h's gradient instead of out's, which breaks anything reading
 * residual-stream gradients after the fact (the Taylor sensitivity |<dL/dh_out, f(h_in)>|). It would not
 * even save a dispatch: dbranch needs one, and writing dh in it costs only bandwidth. So dh is always its
 * own tensor.
 *
 * Cost: one dispatch each way; forward reads 2 and writes 1 value per element, backward reads 1 (+2 when
 * accumulating) and writes 2.
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';
import { dualStoreKernel } from './dual-store.js';

/** Elements per invocation. */
const PER_INVOCATION = 4;

function expectLike(op: string, what: string, t: Tensor, ref: Tensor, refName: string): void {
  if (t.size !== ref.size) {
    throw new ShapeError(`${op}: ${what} has shape ${fmtShape(t.shape)}, but ${refName} has ${fmtShape(ref.shape)}`);
  }
  expectDType(op, what, t, 'f32');
}

function checkScale(op: string, scale: number): void {
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale must be finite, got ${scale}`);
}

/** Both kernels' arguments: `ref` f32, each of `like` sized and typed as it, a finite scale. Returns ref's size. */
function checkArgs(op: string, [refName, ref]: [string, Tensor], like: Record<string, Tensor>, scale: number): number {
  expectDType(op, refName, ref, 'f32');
  for (const [name, t] of Object.entries(like)) expectLike(op, name, t, ref, refName);
  checkScale(op, scale);
  return ref.size;
}

/** Kernel-level forward: out (+)= h + scale * branch, elementwise. `out` must not share a buffer with h or branch. */
export function residual_forward(e: Engine, out: Tensor, h: Tensor, branch: Tensor, scale = 1, accumulate = false): void {
  const op = 'residual_forward';
  const n = checkArgs(op, ['h', h], { branch, out }, scale);
  if (n === 0) return;
  // accumulate_branch: backward only
  e.dispatch(op, { h, branch, out }, { n, scale, accumulate: accumulate ? 1 : 0, accumulate_branch: 0 }, e.grid(op, n, PER_INVOCATION));
}

/**
 * Kernel-level backward: dh (+)= dout and dbranch (+)= scale * dout, each by its own flag. dh and dbranch
 * must be different buffers from each other and from dout. With `dbranchOperand` (f16 mixed precision: the
 * branch's linear reads an f16 copy of its dout) the same dispatch also stores dbranchOperand = f16(dbranch), the
 * values cast_to_f16 of dbranch gives (residual_backward_dual_f16; with an f32 dbranchOperand, the f32 kernel and
 * a plain copy); that needs a size that is a multiple of 4 (`canStoreDual`, src/ops/dual-store.ts).
 */
export function residual_backward(
  e: Engine,
  dh: Tensor,
  accumulateDh: boolean,
  dbranch: Tensor,
  accumulateDbranch: boolean,
  dout: Tensor,
  scale = 1,
  dbranchOperand: Tensor | null = null,
): void {
  const op = 'residual_backward';
  const n = checkArgs(op, ['dout', dout], { dh, dbranch }, scale);
  const kernel = dualStoreKernel(e, op, 'dbranchOperand', dbranchOperand, 'dout', dout);
  if (n === 0) return;
  const flags = { accumulate: accumulateDh ? 1 : 0, accumulate_branch: accumulateDbranch ? 1 : 0 };
  const args: Record<string, Tensor> = { dout, dh, dbranch };
  if (dbranchOperand) args.dbranch_operand = dbranchOperand;
  e.dispatch(kernel, args, { n, scale, ...flags }, e.grid(kernel, n, PER_INVOCATION));
}

/**
 * Autograd residual add: returns h + scale * branch (shaped like h) and records dh (+)= dout,
 * dbranch (+)= scale * dout. One dispatch each way.
 */
export function residualAdd(e: Engine, h: Tensor, branch: Tensor, scale = 1): Tensor {
  const op = 'residualAdd';
  expectDType(op, 'h', h, 'f32');
  expectDType(op, 'branch', branch, 'f32');
  if (h.shape.length !== branch.shape.length || h.shape.some((d, i) => d !== branch.shape[i])) {
    throw new ShapeError(`${op}: h has shape ${fmtShape(h.shape)} but branch has ${fmtShape(branch.shape)}`);
  }
  checkScale(op, scale);
  const out = e.alloc(h.shape, 'f32', 'residual.out');
  residual_forward(e, out, h, branch, scale);
  e.record(op, [out], () => {
    const dout = e.gradIn(op, out);
    const gh = e.gradOf(op, h);
    if (branch === h) {
      // out = (1 + scale) h: one gradient, dh (+)= dout + scale * dout, which is the forward kernel's formula.
      residual_forward(e, gh.grad, dout, dout, scale, gh.accumulate);
      return;
    }
    const gb = e.gradOf(op, branch);
    residual_backward(e, gh.grad, gh.accumulate, gb.grad, gb.accumulate, dout, scale);
  });
  return out;
}

/**
 * Autograd identity for the gradient only: `out` was computed from `h` with the tape off (a layer whose
 * backward is skipped: `drop.scope` 'backward'), and the loss's gradient should reach `h` through the residual
 * stream alone, as if the layer's branches were detached: dh (+)= dout. Records one entry; its backward is one
 * residual_forward dispatch, dh (+)= dout + 0·dout (exact for finite dout). Nothing is dispatched forward.
 */
export function gradientBypass(e: Engine, h: Tensor, out: Tensor): void {
  const op = 'gradientBypass';
  expectLike(op, 'out', out, h, 'h');
  e.record(op, [out], () => {
    const dout = e.gradIn(op, out);
    const gh = e.gradOf(op, h);
    residual_forward(e, gh.grad, dout, dout, 0, gh.accumulate);
  });
}
