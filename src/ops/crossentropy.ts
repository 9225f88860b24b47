/**
 * Fused softmax cross-entropy over a vocabulary.
 *
 *   lse[n]    = m_n + log sum_v exp(logits[n, v] - m_n),   m_n = max_v logits[n, v]   (stable for any finite logits)
 *   losses[n] = lse[n] - logits[n, targets[n]]             (= -log softmax(logits[n])[targets[n]])
 *   loss      = (1 / count) sum_n losses[n],               count = rows with a valid target
 * Backward, with softmax[n, v] = exp(logits[n, v] - lse[n]):
 *   crossEntropy:      dlogits[n, v] (+)= dloss * (softmax[n, v] - [v == targets[n]]) / count
 *   crossEntropyRows:  dlogits[n, v] (+)= dlosses[n] * (softmax[n, v] - [v == targets[n]])
 * Saves: lse (N) and, for the mean, count (1); logits and targets are inputs. dloss is read on the GPU from the
 * loss's gradient tensor, never read back.
 *
 * Ignored rows: a target outside [0, V) (e.g. -1 for padding) marks its row ignored: loss 0, left out of count,
 * gradient row 0. If every row is ignored the mean is 0, not NaN. Clamping the target instead would silently
 * train on a wrong label; crashing is not an option on the GPU.
 * Mean: a second small dispatch, one workgroup that sums strided slices and combines them in a tree
 * (deterministic; N = B*T is tens of thousands, too many for one serial invocation). No readback in the op.
 * Logits may have any leading shape (e.g. (B, T, V)); targets has that leading shape.
 *
 * Forward kernels (chosen per adapter by `crossEntropyKernelFor`; same bindings, params and outputs, so either
 * forward pairs with the one backward):
 *   crossentropy_forward_online: CPU adapters (llvmpipe / lavapipe). One row per invocation, ceil(N / 64)
 *     workgroups; a single pass over the row with a running max and a rescaled running sum (online softmax), vec4
 *     loads, one exp per logit, no workgroup memory or barriers. lavapipe pays per float loaded, per barrier and
 *     per loop iteration, and runs workgroup-memory trees slowly.
 *   crossentropy_forward: every other adapter (GPUs). One workgroup of 64 per row, reading the row twice (max,
 *     then sum of exp) with strided loads that neighbouring invocations coalesce, each pass closed by a tree
 *     over the workgroup: N * 64 invocations keep a GPU busy where N alone would not. Measured 3.6x slower than
 *     the backward on lavapipe, hence the other kernel there.
 * Backward: N workgroups on every adapter, reading each row once (no barriers; a row per invocation would load
 * no fewer floats).
 *
 * Run the tests: npx vitest run --config test/vitest.config.ts test/crossentropy.test.ts
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import type { CrossEntropyKernel } from '../runtime/choice.js';
import { expectDType, expectShape, fmtShape, ShapeError, type Tensor } from '../runtime/tensor.js';


export type { CrossEntropyKernel } from '../runtime/choice.js';

/** Makes every later cross-entropy forward on `e` use `kernel` (null: back to the adapter's choice), for tests and benchmarks. */
export function useCrossEntropyKernel(e: Engine, kernel: CrossEntropyKernel | null): void {
  e.choice.force('crossEntropy', kernel);
}

/** The forward kernel `crossentropy_forward` dispatches on `e` (src/runtime/choice.ts). */
export function crossEntropyKernelFor(e: Engine): CrossEntropyKernel {
  return e.choice.get('crossEntropy');
}

interface Dims {
  N: number;
  V: number;
  rows: number[]; // leading shape of logits (= targets' shape)
}

/** Checks logits (..., V) f32 and targets (...) i32 with the same leading shape; errors name the op and shapes. */
function crossEntropyDims(op: string, logits: Tensor, targets: Tensor): Dims {
  if (logits.shape.length < 2) throw new ShapeError(`${op}: logits must be (N, V), got ${fmtShape(logits.shape)}`);
  expectDType(op, 'logits', logits, 'f32');
  expectDType(op, 'targets', targets, 'i32');
  const rows = logits.shape.slice(0, -1);
  const V = logits.shape[logits.shape.length - 1]!;
  if (V < 1) throw new ShapeError(`${op}: logits ${fmtShape(logits.shape)} has an empty vocabulary`);
  if (targets.shape.length !== rows.length || targets.shape.some((n, i) => n !== rows[i])) {
    throw new ShapeError(`${op}: targets has shape ${fmtShape(targets.shape)}, expected ${fmtShape(rows)} for logits ${fmtShape(logits.shape)}`);
  }
  return { N: targets.size, V, rows };
}


/**
 * Kernel-level forward: lse (N) and losses (N) of logits (N, V) against targets (N). Outputs first. One dispatch
 * of the kernel `crossEntropyKernelFor` picks.
 */
export function crossentropy_forward(e: Engine, lse: Tensor, losses: Tensor, logits: Tensor, targets: Tensor): void {
  const { N, V } = crossEntropyDims('crossEntropy', logits, targets);
  expectShape('crossEntropy', 'lse', lse, [N]);
  expectShape('crossEntropy', 'losses', losses, targets.shape);
  const kernel = crossEntropyKernelFor(e);
  const grid = kernel === 'crossentropy_forward_online' ? e.grid('crossentropy_forward_online', N) : foldGrid(N);
  e.dispatch(kernel, { logits, targets, lse, losses }, { N, V, per_row: 0, accumulate: 0 }, grid);
}

/** Kernel-level mean: loss (1) = sum(losses) / count and count (1) = rows whose target is in [0, V). */
export function crossentropy_mean(e: Engine, loss: Tensor, count: Tensor, losses: Tensor, targets: Tensor, V: number): void {
  expectShape('crossEntropy', 'loss', loss, [1]);
  expectShape('crossEntropy', 'count', count, [1]);
  if (losses.size !== targets.size) {
    throw new ShapeError(`crossEntropy: losses ${fmtShape(losses.shape)} and targets ${fmtShape(targets.shape)} differ in size`);
  }
  e.dispatch('crossentropy_mean', { losses, targets, loss, count }, { N: targets.size, V, per_row: 0, accumulate: 0 }, [1]);
}

/**
 * Kernel-level backward: dlogits (N, V) (+)= scale_n * (softmax - onehot(target)). `count` given: the mean's
 * rule, dloss is (1) and scale = dloss / count. `count` null: the per-row rule, dloss is (N) and scale = dloss[n].
 */
export function crossentropy_backward(
  e: Engine,
  dlogits: Tensor,
  logits: Tensor,
  targets: Tensor,
  lse: Tensor,
  dloss: Tensor,
  count: Tensor | null,
  accumulate: boolean,
): void {
  const { N, V } = crossEntropyDims('crossEntropy', logits, targets);
  expectShape('crossEntropy', 'dlogits', dlogits, logits.shape);
  expectShape('crossEntropy', 'lse', lse, [N]);
  if (count) expectShape('crossEntropy', 'dloss', dloss, [1]);
  else expectShape('crossEntropyRows', 'dloss', dloss, targets.shape);
  e.dispatch(
    'crossentropy_backward',
    { logits, targets, lse, dloss, count: count ?? e.unused, dlogits },
    { N, V, per_row: count ? 0 : 1, accumulate: accumulate ? 1 : 0 },
    foldGrid(N),
  );
}

/**
 * Autograd cross-entropy: returns the mean over rows (with a valid target) of -log softmax(logits)[target], a
 * (1) tensor on the GPU, and records the backward rule. Two dispatches forward, one backward.
 */
export function crossEntropy(e: Engine, logits: Tensor, targets: Tensor): Tensor {
  const { N, V } = crossEntropyDims('crossEntropy', logits, targets);
  const lse = e.alloc([N], 'f32', 'crossentropy.lse');
  const losses = e.alloc(targets.shape, 'f32', 'crossentropy.losses');
  const loss = e.alloc([1], 'f32', 'crossentropy.loss');
  const count = e.alloc([1], 'f32', 'crossentropy.count');
  crossentropy_forward(e, lse, losses, logits, targets);
  crossentropy_mean(e, loss, count, losses, targets, V);
  e.record('crossEntropy', [loss], () => {
    const dloss = e.gradIn('crossEntropy', loss);
    const g = e.gradOf('crossEntropy', logits);
    crossentropy_backward(e, g.grad, logits, targets, lse, dloss, count, g.accumulate);
  });
  return loss;
}

/**
 * Per-row cross-entropy without the mean (evaluation): returns losses with targets' shape, 0 for ignored rows.
 * Records a backward rule too (dlogits scaled by each row's incoming gradient). One dispatch forward, one backward.
 */
export function crossEntropyRows(e: Engine, logits: Tensor, targets: Tensor): Tensor {
  const { N } = crossEntropyDims('crossEntropyRows', logits, targets);
  const lse = e.alloc([N], 'f32', 'crossentropy.lse');
  const losses = e.alloc(targets.shape, 'f32', 'crossentropy.losses');
  crossentropy_forward(e, lse, losses, logits, targets);
  e.record('crossEntropyRows', [losses], () => {
    const dlosses = e.gradIn('crossEntropyRows', losses);
    const g = e.gradOf('crossEntropyRows', logits);
    crossentropy_backward(e, g.grad, logits, targets, lse, dlosses, null, g.accumulate);
  });
  return losses;
}
