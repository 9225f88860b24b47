// Fused softmax cross-entropy over a vocabulary (the math is in src/ops/crossentropy.ts).
//
// A row n is ignored when targets[n] is outside [0, V): its loss is 0, it is left out of the mean's count and
// its gradient row is 0. All sums run in a fixed order with no atomics, so results are deterministic. The kernels
// share one params struct (a module has one `params`); a kernel ignores the members it does not need and the host
// passes them as 0.
//
// Two forward kernels with the same bindings and outputs (lse, losses), picked per adapter by the host:
//   crossentropy_forward_online (CPU adapters, lavapipe): one row per invocation, one pass (online softmax), vec4
//     loads, everything in registers. lavapipe pays per float loaded and per barrier, and its workgroup-memory
//     trees are slow: the workgroup kernel below loads each logit twice and waits at 2 log2(WG) + 3 barriers
//     per row (measured 3.6x slower than the backward there).
//   crossentropy_forward (GPUs): one workgroup per row, strided loads that neighbouring invocations coalesce,
//     two tree reductions (max, then sum); a GPU wants those N * WG invocations in flight, not N.
// crossentropy_backward is one workgroup per row on every adapter: it has no barriers and loads each logit once,
// as a row per invocation would.
// Grids: a kernel with one workgroup per row folds more than 65535 rows into y, the row-per-invocation kernel
// more than 65535 workgroups of WG rows; either way the index is rebuilt from num_workgroups.

struct Params {
  N: u32,          // rows
  V: u32,          // vocabulary size (row length)
  per_row: u32,    // backward: 1 scales row n by dloss[n] (per-row losses), 0 by dloss[0] / count[0] (mean)
  accumulate: u32, // backward: 1 adds into dlogits (+=), 0 writes every element (=)
}

// Tree reductions halve the active range each step, so both sizes must be powers of two. WG is also the rows
// per workgroup of crossentropy_forward_online.
override WG: u32 = 64u;
override MEAN_WG: u32 = 256u;

// The lowest finite f32: the identity of max that stays finite, so exp(LOWEST - m) is 0 and never NaN.
const LOWEST: f32 = -0x1.fffffep+127f; // -3.4028235e38

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;         // (N, V)
@group(0) @binding(2) var<storage, read> targets: array<i32>;        // (N)
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;      // (N) log-sum-exp of each row
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;   // (N) lse - logit of the target; 0 if ignored
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;     // (1) mean of losses over counted rows
@group(0) @binding(6) var<storage, read_write> count: array<f32>;    // (1) rows with a valid target (exact < 2^24)
@group(0) @binding(7) var<storage, read> dloss: array<f32>;          // (1), or (N) when per_row
@group(0) @binding(8) var<storage, read_write> dlogits: array<f32>;  // (N, V)

var<workgroup> red: array<f32, WG>;
var<workgroup> mean_sum: array<f32, MEAN_WG>;
var<workgroup> mean_count: array<u32, MEAN_WG>;

fn folded_row(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn is_valid(tgt: i32) -> bool {
  return tgt >= 0 && u32(tgt) < params.V;
}

fn logits4(i: u32) -> vec4<f32> {
  return vec4<f32>(logits[i], logits[i + 1u], logits[i + 2u], logits[i + 3u]);
}

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// Per row, in one pass: a running max m and a running sum s of exp(logit - m). One exp per logit l: with
// e = exp(min(m, l) - max(m, l)), a new maximum rescales the sum, s = s * exp(m - l) + 1 = s * e + 1, else
// s = s + exp(l - m) = s + e. Four lanes of a vec4 (four columns per iteration) run side by side and merge as
// sum_j s_j exp(m_j - max_j m_j), then the scalar tail continues (V need not be a multiple of 4).
// lse = m + log s and the loss as crossentropy_forward writes them.
@compute @workgroup_size(WG)
fn crossentropy_forward_online(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = folded_row(wid, nwg) * WG + lid;
  if (n >= params.N) { return; }
  let V = params.V;
  let V4 = V & ~3u;
  let base = n * V;

  var m = vec4<f32>(LOWEST);
  var s = vec4<f32>(0.0);
  for (var v = 0u; v < V4; v += 4u) {
    let l = logits4(base + v);
    let hi = max(m, l);
    let e = exp(min(m, l) - hi);
    s = select(s + e, fma(s, e, vec4<f32>(1.0)), l > m);
    m = hi;
  }
  var row_max = max(max(m.x, m.y), max(m.z, m.w));
  var sum = hsum(s * exp(m - row_max)); // lanes never reached (V < 4) hold s = 0
  for (var v = V4; v < V; v++) {
    let l = logits[base + v];
    let hi = max(row_max, l);
    let e = exp(min(row_max, l) - hi);
    sum = select(sum + e, fma(sum, e, 1.0), l > row_max);
    row_max = hi;
  }

  let l = row_max + log(sum);
  lse[n] = l;
  let tgt = targets[n];
  losses[n] = select(0.0, l - logits[base + u32(max(tgt, 0))], is_valid(tgt));
}

// Per row: m = max_v logits, lse = m + log sum_v exp(logits - m) (max-subtracted, so no overflow for any
// finite logits), loss = lse - logits[target]. One workgroup per row; two passes over the row (max, then sum),
// each a strided per-invocation partial followed by a tree over the workgroup.
@compute @workgroup_size(WG)
fn crossentropy_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = folded_row(wid, nwg);
  if (n >= params.N) { return; } // uniform across the workgroup, so the barriers below stay uniform
  let V = params.V;
  let base = n * V;

  var m = LOWEST;
  for (var v = lid; v < V; v += WG) { m = max(m, logits[base + v]); }
  red[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let row_max = red[0];
  workgroupBarrier(); // every invocation has read red[0] before red is reused

  var sum = 0.0;
  for (var v = lid; v < V; v += WG) { sum += exp(logits[base + v] - row_max); }
  red[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }

  if (lid == 0u) {
    let l = row_max + log(red[0]);
    lse[n] = l;
    let tgt = targets[n];
    losses[n] = select(0.0, l - logits[base + u32(max(tgt, 0))], is_valid(tgt));
  }
}

// loss = sum of losses / count over rows with a valid target (0 when there are none). One workgroup: each
// invocation sums a strided slice, then a tree combines the partials. Chosen over a serial loop because
// N = B * T reaches tens of thousands and one invocation would walk them alone; over atomics for determinism.
@compute @workgroup_size(MEAN_WG)
fn crossentropy_mean(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var c = 0u;
  for (var n = lid; n < params.N; n += MEAN_WG) {
    s += losses[n];
    c += select(0u, 1u, is_valid(targets[n]));
  }
  mean_sum[lid] = s;
  mean_count[lid] = c;
  workgroupBarrier();
  for (var k = MEAN_WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      mean_sum[lid] += mean_sum[lid + k];
      mean_count[lid] += mean_count[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let total = mean_count[0];
    count[0] = f32(total);
    loss[0] = select(0.0, mean_sum[0] / f32(total), total > 0u);
  }
}

// dlogits[n, v] (+)= scale_n * (exp(logits[n, v] - lse[n]) - [v == target_n]), scale_n = dloss[n] (per_row) or
// dloss[0] / count[0]; 0 for an ignored row (so its gradient row is 0). No barriers: each invocation owns the
// columns it strides over.
@compute @workgroup_size(WG)
fn crossentropy_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = folded_row(wid, nwg);
  if (n >= params.N) { return; }
  let V = params.V;
  let base = n * V;
  let tgt = targets[n];
  var scale = 0.0;
  if (is_valid(tgt)) {
    // count[0] >= 1 here: this row itself was counted.
    if (params.per_row == 1u) { scale = dloss[n]; } else { scale = dloss[0] / count[0]; }
  }
  let l = lse[n];
  for (var v = lid; v < V; v += WG) {
    let p = exp(logits[base + v] - l); // <= 1: lse >= every logit of the row
    let g = scale * (p - select(0.0, 1.0, i32(v) == tgt));
    if (params.accumulate == 1u) { dlogits[base + v] += g; } else { dlogits[base + v] = g; }
  }
}
