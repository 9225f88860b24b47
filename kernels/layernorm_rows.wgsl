// LayerNorm forward and dx backward with a workgroup per row, for GPUs: the same contract, bindings and params
// as layernorm_forward / layernorm_backward in layernorm.wgsl (see there for the formulas), which give each
// invocation a whole row. Here RW invocations share a row: invocation t takes columns t, t + RW, t + 2 RW, ...
// (neighbouring invocations on neighbouring addresses: coalesced loads), and the row sums are tree reductions in
// workgroup memory. A GPU keeps many rows in flight this way, where a row per invocation leaves most of a
// (B*T, C) activation's rows to a few long serial loops with scattered loads. CPU adapters pay for every barrier
// and keep the row-per-invocation kernels (src/runtime/choice.ts).
//
// Forward: three passes over the row (sum for the mean, squared deviations from it for the variance: the
// two-pass variance, then the output); a row of a few thousand floats stays in cache between them. Backward: one
// pass for both row sums (g and g * xhat, reduced together), one for dx.
// Grid: one workgroup per row, row = wid.y * num_workgroups.x + wid.x (the host folds past 65535 into y).

struct Params {
  N: u32,          // rows
  C: u32,          // channels (the normalised dimension)
  eps: f32,
  accumulate: u32, // backward: 1 adds to dx; 0 overwrites it
}

const RW: u32 = 64u; // invocations per row (a power of two: the reductions halve it)

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (N, C)
@group(0) @binding(2) var<storage, read> weight: array<f32>;    // (C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;      // (C)
@group(0) @binding(4) var<storage, read> dout: array<f32>;      // (N, C)
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // (N, C)
@group(0) @binding(6) var<storage, read_write> mean: array<f32>; // (N)
@group(0) @binding(7) var<storage, read_write> rstd: array<f32>; // (N)
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;   // (N, C)

var<workgroup> partial: array<vec2<f32>, RW>;

// The sum over the workgroup of each invocation's v (both components), returned to every invocation. The
// closing barrier lets the next call reuse `partial` once every invocation has read the result.
fn row_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = RW / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(RW)
fn layernorm_forward_rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x;
  // The whole workgroup leaves together (uniform control flow for the barriers).
  if (row >= params.N) { return; }
  let C = params.C;
  let base = row * C;

  var s = 0.0;
  for (var c = lid; c < C; c += RW) { s += x[base + c]; }
  let m = row_sum(vec2<f32>(s, 0.0), lid).x / f32(C);
  var q = 0.0;
  for (var c = lid; c < C; c += RW) {
    let d = x[base + c] - m;
    q = fma(d, d, q);
  }
  let r = inverseSqrt(row_sum(vec2<f32>(q, 0.0), lid).x / f32(C) + params.eps);
  for (var c = lid; c < C; c += RW) {
    out[base + c] = fma((x[base + c] - m) * r, weight[c], bias[c]);
  }
  if (lid == 0u) {
    mean[row] = m;
    rstd[row] = r;
  }
}

@compute @workgroup_size(RW)
fn layernorm_backward_rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.N) { return; }
  let C = params.C;
  let base = row * C;
  let m = mean[row];
  let r = rstd[row];

  // Row sums of g = dout * weight and g * xhat.
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < C; c += RW) {
    let g = dout[base + c] * weight[c];
    acc += vec2<f32>(g, g * ((x[base + c] - m) * r));
  }
  let sums = row_sum(acc, lid) / f32(C);
  let accumulate = params.accumulate == 1u;
  for (var c = lid; c < C; c += RW) {
    let i = base + c;
    let xhat = (x[i] - m) * r;
    var d = r * (dout[i] * weight[c] - sums.x - xhat * sums.y);
    if (accumulate) { d += dx[i]; }
    dx[i] = d;
  }
}
