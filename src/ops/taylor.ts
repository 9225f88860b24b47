/**
 * SBLD's free online sensitivity ("taylor"): for a layer that ran, the first-order estimate of how much the loss
 * would change without it, s_l = sum over tokens of |<dLoss/dh_out, h_out - h_in>|, where h_out - h_in is the
 * layer's residual contribution. It uses only tensors the training step already has.
 *
 * `taylorProbe` records a tape entry right after the layer, so when the tape replays it every consumer of
 * h_out has already added its gradient: h_out.grad is complete. The entry produces no gradient itself; it writes
 * (or adds, across micro-batches) the layer's value into `out[slot]`.
 */
import type { Engine } from '../runtime/engine.js';
import { expectShape, ShapeError, type Tensor } from '../runtime/tensor.js';

/** Kernel-level: out[slot] (+)= sum over rows of |<grad_r, hOut_r - hIn_r>|. */
export function taylor_sensitivity(e: Engine, out: Tensor, slot: number, grad: Tensor, hOut: Tensor, hIn: Tensor, accumulate: boolean): void {
  expectShape('taylor', 'h_in', hIn, hOut.shape);
  expectShape('taylor', 'grad', grad, hOut.shape);
  if (!Number.isInteger(slot) || slot < 0 || slot >= out.size) throw new ShapeError(`taylor: slot ${slot} outside [0, ${out.size})`);
  const C = hOut.shape[hOut.shape.length - 1]!;
  e.dispatch('taylor_sensitivity', { grad, h_out: hOut, h_in: hIn, out }, { rows: hOut.size / C, C, slot, accumulate: accumulate ? 1 : 0 }, [1]);
}

/** Records the probe for one layer: during backward, out[slot] += its taylor sensitivity for this micro-batch. */
export function taylorProbe(e: Engine, hIn: Tensor, hOut: Tensor, out: Tensor, slot: number): void {
  e.record('taylor_probe', [hOut], () => {
    taylor_sensitivity(e, out, slot, e.gradIn('taylor_probe', hOut), hOut, hIn, true);
  });
}
