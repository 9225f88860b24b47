/**
 * SBLD's "update keep probability list" [ours, docs/layer-dropping.md]: spread an expected number D of dropped
 * layers over the L layers by sensitivity, under a per-layer cap q_max. Pure, O(L²) at worst (L rounds of
 * water-filling), trivial next to a training step.
 *
 *   w_l = 0                          l in block list B (never dropped)
 *   w_l = s_l^(-α) · (κ if l in A else 1)   otherwise
 *   proportional: q_l = D·w_l/Σw, then water-fill: pin any q_l > q_max at q_max and share what is left among
 *                 the others in proportion to w, until none exceeds the cap.
 *   ordered:      fill the least sensitive eligible layer (w_l > 0) to q_max, then the next, until D is used.
 *   p_l = 1 - q_l
 *
 * Capacity = q_max × #{l : w_l > 0}. If D exceeds it, every eligible layer sits at the cap, fewer layers
 * than D are dropped, and the result says so (`capped`, `note`) so the caller can log it.
 */

import type { AllocMode } from './config.js';

/** Drop weights w_l: 0 on the block list, s_l^(-α)·κ on the allow list, s_l^(-α) elsewhere. s must be > 0. */
export function dropWeights(
  sensitivities: readonly number[],
  block: readonly number[],
  allow: readonly number[],
  alpha: number,
  kappa: number,
): number[] {
  const blocked = new Set(block);
  const allowed = new Set(allow);
  return sensitivities.map((s, l) => {
    if (blocked.has(l)) return 0;
    if (!(s > 0)) throw new Error(`dropWeights: sensitivity of layer ${l} must be > 0 (clamped), got ${s}`);
    return Math.pow(s, -alpha) * (allowed.has(l) ? kappa : 1);
  });
}

/**
 * Proportional water-filling: q with Σq = min(D, capacity), q_l ∝ w_l among layers below the cap, q_l ≤ qMax,
 * q_l = 0 where w_l = 0. Each round pins at least one layer, so at most L rounds.
 */
export function waterFill(weights: readonly number[], target: number, qMax: number): number[] {
  const q = weights.map(() => 0);
  let free = weights.map((w, l) => (w > 0 ? l : -1)).filter((l) => l >= 0);
  const capacity = qMax * free.length;
  if (!(target > 0) || free.length === 0) return q;
  if (target >= capacity) {
    for (const l of free) q[l] = qMax;
    return q;
  }
  let remaining = target;
  while (free.length > 0) {
    const wSum = free.reduce((acc, l) => acc + weights[l]!, 0);
    const over = free.filter((l) => (remaining * weights[l]!) / wSum > qMax);
    if (over.length === 0) {
      for (const l of free) q[l] = (remaining * weights[l]!) / wSum;
      break;
    }
    for (const l of over) q[l] = qMax;
    remaining -= qMax * over.length;
    const pinned = new Set(over);
    free = free.filter((l) => !pinned.has(l));
  }
  return q;
}

/**
 * Ordered fill: eligible layers (w_l > 0) by sensitivity ascending (ties: lower index first) each take
 * min(q_max, what is left of D). The literal "switch layers off in proper order".
 */
export function orderedFill(
  weights: readonly number[],
  sensitivities: readonly number[],
  target: number,
  qMax: number,
): number[] {
  const q = weights.map(() => 0);
  const order = weights
    .map((w, l) => (w > 0 ? l : -1))
    .filter((l) => l >= 0)
    .sort((a, b) => sensitivities[a]! - sensitivities[b]! || a - b);
  let remaining = Math.max(0, target);
  for (const l of order) {
    if (remaining <= 0) break;
    q[l] = Math.min(qMax, remaining);
    remaining -= q[l]!;
  }
  return q;
}

/** Inputs of `allocateKeep` besides D: the measured state and the allocation hyperparameters. */
export interface AllocationInput {
  /** s_l, clamped > 0. */
  sensitivities: readonly number[];
  block: readonly number[];
  allow: readonly number[];
  alpha: number;
  kappa: number;
  qMax: number;
  alloc: AllocMode;
}

/** Result of `allocateKeep`. */
export interface Allocation {
  /** p_l = 1 - q_l. */
  keep: number[];
  /** q_l. */
  drop: number[];
  /** D asked for. */
  target: number;
  /** Σq actually allocated = min(D, capacity) up to rounding. */
  dropped: number;
  /** q_max × #eligible layers. */
  capacity: number;
  /** True when D exceeded the capacity (less was dropped). */
  capped: boolean;
  note?: string;
}

/** Turns an expected drop count D = L·ρ(t) into keep probabilities p_l (see the file header). */
export function allocateKeep(target: number, inp: AllocationInput): Allocation {
  const w = dropWeights(inp.sensitivities, inp.block, inp.allow, inp.alpha, inp.kappa);
  const eligible = w.filter((x) => x > 0).length;
  const capacity = inp.qMax * eligible;
  const D = Math.max(0, target);
  const q = inp.alloc === 'ordered' ? orderedFill(w, inp.sensitivities, D, inp.qMax) : waterFill(w, D, inp.qMax);
  // Float rounding can leave a q a few ulps over the cap or under 0; clamp so p stays in [1 - q_max, 1].
  for (let l = 0; l < q.length; l++) q[l] = Math.min(inp.qMax, Math.max(0, q[l]!));
  const dropped = q.reduce((a, b) => a + b, 0);
  const capped = D > capacity * (1 + 1e-12);
  const result: Allocation = { keep: q.map((x) => 1 - x), drop: q, target: D, dropped, capacity, capped };
  if (capped) {
    result.note =
      `SBLD: target ${D.toFixed(3)} dropped layers exceeds the cap capacity ${capacity.toFixed(3)} ` +
      `(q_max ${inp.qMax} × ${eligible} droppable layers); dropping ${dropped.toFixed(3)} instead`;
  }
  return result;
}
