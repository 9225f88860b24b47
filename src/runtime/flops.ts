/**
 * Floating-point operations of one dispatch, from the kernel's name, its `params` uniform and its grid: what the
 * engine adds to `counters.flops` for every dispatch it records. The count follows the work the kernel does
 * for those shapes, so a skipped layer (no dispatch), a causal mask (half the score pairs) or a split bias
 * reduction (a second dispatch) show up as they run.
 *
 * Convention: a multiply-add is 2; an exp, log, sqrt, division or tanh is 1; comparisons and index arithmetic
 * are 0. The elementwise kernels' per-element figures are read off their WGSL bodies (kernels/*.wgsl); the
 * matmuls and attention dominate every step (the elementwise kernels are a few percent of a layer's count).
 * A kernel missing from this table throws, so a new kernel cannot silently count as free (test/flops.test.ts
 * checks the table against every entry point in kernels/).
 */

type Params = Record<string, number> | null;
type Grid = readonly [number, number?, number?];

const p = (params: Params, key: string): number => {
  const v = params?.[key];
  if (v === undefined) throw new Error(`flops: params.${key} missing`);
  return v;
};

/** Score pairs (query, key) per head and sequence: T² or, causal, T(T+1)/2. */
function pairs(params: Params): number {
  const T = p(params, 'T');
  return p(params, 'causal') ? (T * (T + 1)) / 2 : T * T;
}

function attentionRows(params: Params): number {
  return p(params, 'B') * p(params, 'NH');
}

function matmul(params: Params, grid: Grid): number {
  const M = p(params, 'M');
  const N = p(params, 'N');
  const K = p(params, 'K');
  const batch = grid[2] ?? 1;
  return batch * M * N * (2 * K + p(params, 'has_bias') + p(params, 'accumulate'));
}

/** Per kernel: flops of one dispatch. */
export const KERNEL_FLOPS: Record<string, (params: Params, grid: Grid) => number> = {
  matmul_forward: matmul,
  matmul_tiled: matmul,
  matmul_subgroup: matmul,
  // The GELU-epilogue twins: the product and bias, then GELU per output element as gelu_forward counts it.
  matmul_forward_gelu: (q, g) => matmul(q, g) + p(q, 'M') * p(q, 'N') * (g[2] ?? 1) * 9,
  matmul_tiled_gelu: (q, g) => matmul(q, g) + p(q, 'M') * p(q, 'N') * (g[2] ?? 1) * 9,
  matmul_subgroup_gelu: (q, g) => matmul(q, g) + p(q, 'M') * p(q, 'N') * (g[2] ?? 1) * 9,
  // Forward: s = q·k (2·HS), online softmax (max, exp, rescale: ~5), o += p·v (2·HS), per pair.
  attention_forward: (q) => attentionRows(q) * pairs(q) * (4 * p(q, 'HS') + 5),
  attention_forward_subgroup: (q) => attentionRows(q) * pairs(q) * (4 * p(q, 'HS') + 5),
  // dq: recompute s (2·HS), p = exp (2), dp = do·v (2·HS), ds (2), dq += ds·k (2·HS); plus D_t = do·o per row.
  attention_backward_dq: (q) => attentionRows(q) * (pairs(q) * (6 * p(q, 'HS') + 4) + p(q, 'T') * 2 * p(q, 'HS')),
  attention_backward_dq_subgroup: (q) => attentionRows(q) * (pairs(q) * (6 * p(q, 'HS') + 4) + p(q, 'T') * 2 * p(q, 'HS')),
  // dk, dv: recompute s (2·HS), p (2), dv += p·do (2·HS), dp = do·v (2·HS), ds (2), dk += ds·q (2·HS).
  attention_backward_dkv: (q) => attentionRows(q) * pairs(q) * (8 * p(q, 'HS') + 4),
  attention_backward_dkv_subgroup: (q) => attentionRows(q) * pairs(q) * (8 * p(q, 'HS') + 4),
  // One add per element of dout, plus the partials' sums when the rows are split.
  bias_backward: (q) => p(q, 'M') * p(q, 'N'),
  // Per element: mean, variance (3), normalise (2), affine (2).
  layernorm_forward: (q) => p(q, 'N') * p(q, 'C') * 7,
  // Per element: dnorm = dout·w (1), two row sums (4), dx (5).
  layernorm_backward: (q) => p(q, 'N') * p(q, 'C') * 10,
  // The workgroup-per-row kernels do the same arithmetic (the reductions' adds are the row sums').
  layernorm_forward_rows: (q) => p(q, 'N') * p(q, 'C') * 7,
  layernorm_backward_rows: (q) => p(q, 'N') * p(q, 'C') * 10,
  // Per element: recompute the normalised x (2), dweight += dout·x̂ (2), dbias += dout (1).
  layernorm_backward_params: (q) => p(q, 'N') * p(q, 'C') * 5,
  // tanh form: x³, the polynomial, tanh, the product: ~9; backward adds sech² and the chain: ~16.
  gelu_forward: (q) => p(q, 'n') * 9,
  gelu_backward: (q) => p(q, 'n') * 16,
  gelu_backward_dual: (q) => p(q, 'n') * 16,
  // out = x + scale·branch; backward dh = dout, dbranch = scale·dout.
  residual_forward: (q) => p(q, 'n') * 2,
  residual_backward: (q) => p(q, 'n') * 1,
  residual_backward_dual: (q) => p(q, 'n') * 1,
  embedding_forward: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  embedding_backward_wte: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  embedding_backward_wpe: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  posembed_forward: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  posembed_backward: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  meanpool_forward: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  meanpool_backward: (q) => p(q, 'B') * p(q, 'T') * p(q, 'C'),
  // Per logit: max, exp, sum (3); then a log per row.
  crossentropy_forward: (q) => p(q, 'N') * (3 * p(q, 'V') + 1),
  crossentropy_forward_online: (q) => p(q, 'N') * (3 * p(q, 'V') + 1),
  crossentropy_mean: (q) => p(q, 'N'),
  // Per logit: exp(logit - lse), minus the one-hot, times the scale (3).
  crossentropy_backward: (q) => p(q, 'N') * p(q, 'V') * 3,
  // Per element: g·g added (2).
  grad_sumsq: (q) => p(q, 'n') * 2,
  grad_sum: (q) => p(q, 'n'),
  grad_clip_scale: (q) => p(q, 'n_slots') + 3,
  // Per parameter: clip scale, m, v, bias corrections, sqrt, division, decay, update: ~14.
  adamw_update: (q) => p(q, 'n4') * 4 * 14,
  adamw_update_dual: (q) => p(q, 'n4') * 4 * 14,
  // A conversion per element, no arithmetic.
  cast_to_f16: () => 0,
  // Per element: (h_out - h_in)·grad summed (3).
  taylor_sensitivity: (q) => p(q, 'rows') * p(q, 'C') * 3,
};

/** Flops of one dispatch of `kernel` with these params and grid; throws for a kernel not in KERNEL_FLOPS. */
export function dispatchFlops(kernel: string, params: Params, grid: Grid): number {
  // An f16 twin (kernels.ts: f16Twin) does its original's arithmetic on f16 operands.
  const f = KERNEL_FLOPS[kernel] ?? (kernel.endsWith('_f16') ? KERNEL_FLOPS[kernel.slice(0, -4)] : undefined);
  if (!f) throw new Error(`flops: no FLOP count for kernel '${kernel}' (add it to src/runtime/flops.ts)`);
  return f(params, grid);
}
