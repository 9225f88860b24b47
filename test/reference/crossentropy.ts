/** Plain-loop float64 reference for softmax cross-entropy; a target outside [0, V) marks its row ignored. */

function valid(target: number, V: number): boolean {
  return target >= 0 && target < V;
}

/** Per-row log-sum-exp (max-subtracted) and losses lse - logits[target] (0 for ignored rows). */
export function crossEntropyRowsRef(N: number, V: number, logits: ArrayLike<number>, targets: ArrayLike<number>) {
  const lse = new Float64Array(N);
  const losses = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v]!);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v]! - m);
    lse[n] = m + Math.log(s);
    const t = targets[n]!;
    losses[n] = valid(t, V) ? lse[n]! - logits[n * V + t]! : 0;
  }
  return { lse, losses };
}

/** Mean of the losses over rows with a valid target (0 when there are none), and that count. */
export function crossEntropyRef(N: number, V: number, logits: ArrayLike<number>, targets: ArrayLike<number>) {
  const { losses } = crossEntropyRowsRef(N, V, logits, targets);
  let sum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    sum += losses[n]!;
    if (valid(targets[n]!, V)) count++;
  }
  return { loss: count > 0 ? sum / count : 0, count };
}

/**
 * dlogits for the per-row losses driven by a cotangent `dlosses` (N): dlosses[n] * (softmax - onehot(target)).
 * The mean's gradient is this with dlosses[n] = dloss / count.
 */
export function crossEntropyRowsBackwardRef(N: number, V: number, logits: ArrayLike<number>, targets: ArrayLike<number>, dlosses: ArrayLike<number>): Float64Array {
  const { lse } = crossEntropyRowsRef(N, V, logits, targets);
  const dlogits = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const t = targets[n]!;
    if (!valid(t, V)) continue;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[n * V + v]! - lse[n]!);
      dlogits[n * V + v] = dlosses[n]! * (p - (v === t ? 1 : 0));
    }
  }
  return dlogits;
}

/** dlogits of the mean loss for an incoming gradient `dloss`. */
export function crossEntropyBackwardRef(N: number, V: number, logits: ArrayLike<number>, targets: ArrayLike<number>, dloss: number): Float64Array {
  const { count } = crossEntropyRef(N, V, logits, targets);
  return crossEntropyRowsBackwardRef(N, V, logits, targets, new Float64Array(N).fill(count > 0 ? dloss / count : 0));
}
