// LayerNorm over the last dimension of x viewed as (N, C):
//   out = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps)   (biased variance, as GPT-2)
// Forward saves mean and rstd per row. Backward, with xhat = (x - mean) * rstd and g = dout * weight:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
//   dweight = sum over rows of dout * xhat,   dbias = sum over rows of dout
//
// layernorm_forward and layernorm_backward give each invocation one row (CPU adapters; GPUs get the _rows
// kernels at the end of this file, a workgroup per row): the row's statistics stay in registers and no
// workgroup memory or barriers are needed (lavapipe runs those poorly). Every loop over a row takes four
// columns per iteration (vec4 loads and four independent chains) plus a scalar tail, since C need
// not be a multiple of 4. Loads are what lavapipe pays for, so the forward reads x twice (statistics, output)
// and the backward reads x, dout and weight twice (row sums, dx).
// dweight and dbias are sums over rows, so they are a kernel of their own with its own split of the work:
// kernels/layernorm_backward_params.wgsl.
// Grids: an invocation's row is ((wid.y * num_workgroups.x + wid.x) * WG + local index), so the host can fold
// more than 65535 workgroups into y.

// One struct for the file's two kernels (the uniform must be named params): eps is read by the forward only,
// accumulate by the backward only.
struct Params {
  N: u32,          // rows
  C: u32,          // channels (the normalised dimension)
  eps: f32,
  accumulate: u32, // backward: 1 adds to dx; 0 overwrites it
}

override WG: u32 = 64;

// The output's type: f32 here; the file's f16 twin (src/runtime/kernels.ts, f16Twin) writes it in f16, the input
// of the next matmul under f16 mixed precision (src/ops/layernorm.ts), converting with to_operand (the twin's
// stores a value past f16's range as an infinity, as kernels/cast.wgsl does). Everything else stays f32.
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (N, C)
@group(0) @binding(2) var<storage, read> weight: array<f32>;    // (C)
@group(0) @binding(3) var<storage, read> bias: array<f32>;      // (C)
@group(0) @binding(4) var<storage, read> dout: array<f32>;      // (N, C)
@group(0) @binding(5) var<storage, read_write> out: array<Operand>; // (N, C)
// read_write because the forward writes them; the backward only reads them.
@group(0) @binding(6) var<storage, read_write> mean: array<f32>; // (N)
@group(0) @binding(7) var<storage, read_write> rstd: array<f32>; // (N)
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;   // (N, C)

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn x4(i: u32) -> vec4<f32> {
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

fn dout4(i: u32) -> vec4<f32> {
  return vec4<f32>(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]);
}

fn weight4(i: u32) -> vec4<f32> {
  return vec4<f32>(weight[i], weight[i + 1u], weight[i + 2u], weight[i + 3u]);
}

fn bias4(i: u32) -> vec4<f32> {
  return vec4<f32>(bias[i], bias[i + 1u], bias[i + 2u], bias[i + 3u]);
}

fn dx4(i: u32) -> vec4<f32> {
  return vec4<f32>(dx[i], dx[i + 1u], dx[i + 2u], dx[i + 3u]);
}

fn store_out4(i: u32, v: vec4<f32>) {
  out[i] = to_operand(v.x);
  out[i + 1u] = to_operand(v.y);
  out[i + 2u] = to_operand(v.z);
  out[i + 3u] = to_operand(v.w);
}

fn store_dx4(i: u32, v: vec4<f32>) {
  dx[i] = v.x;
  dx[i + 1u] = v.y;
  dx[i + 2u] = v.z;
  dx[i + 3u] = v.w;
}

fn hsum(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

@compute @workgroup_size(WG)
fn layernorm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = flat_id(wid, nwg, lid);
  if (row >= params.N) { return; }
  let C = params.C;
  let C4 = C & ~3u;
  let base = row * C;

  // One pass for both statistics. The mean is the plain sum / C, as a pass of its own would give it. The variance
  // is Welford's running update on d = x - x[row, 0] in each lane of a vec4: it squares deviations from the
  // lane's running mean, so there is no cancellation when |mean| >> std (unlike E[x^2] - mean^2). The shift keeps
  // the running mean near 0, so its rounding stays small against std (unshifted, a row near 1000 with std 1
  // loses about 100x accuracy). Shifted sums alone, E[d^2] - E[d]^2, would be one pass too, but lose about 500x
  // when x[row, 0] is a far outlier (C = 768); this stays within 2x of two passes over x in both cases.
  let shift = x[base];
  var sum = vec4<f32>(0.0);
  var mean_d = vec4<f32>(0.0); // running mean of d, per lane
  var m2 = vec4<f32>(0.0);     // running sum of squared deviations of d from mean_d, per lane
  var k = 0.0;                 // elements per lane so far (exact: C < 2^24)
  for (var c = 0u; c < C4; c += 4u) {
    let xv = x4(base + c);
    sum += xv;
    let d = xv - shift;
    k += 1.0;
    let delta = d - mean_d;
    mean_d = fma(delta, vec4<f32>(1.0 / k), mean_d);
    m2 = fma(delta, d - mean_d, m2);
  }
  // Merge the lanes pairwise (Chan et al.): with counts a and b, M2 = M2_a + M2_b + (mean_b - mean_a)^2 a b / (a + b),
  // here k k / 2k = k / 2 for lanes (x, y) and (z, w), then 2k 2k / 4k = k for the two pairs. k = 0 gives zeros.
  let dp = mean_d.yw - mean_d.xz;
  let pair_mean = fma(dp, vec2<f32>(0.5), mean_d.xz);
  let pair_m2 = (m2.xz + m2.yw) + dp * dp * (0.5 * k);
  let dq = pair_mean.y - pair_mean.x;
  var row_mean_d = fma(dq, 0.5, pair_mean.x);
  var row_m2 = (pair_m2.x + pair_m2.y) + dq * dq * k;
  var s = hsum(sum);
  var count = 4.0 * k;
  for (var c = C4; c < C; c++) {
    let xc = x[base + c];
    s += xc;
    let d = xc - shift;
    count += 1.0;
    let delta = d - row_mean_d;
    row_mean_d = fma(delta, 1.0 / count, row_mean_d);
    row_m2 = fma(delta, d - row_mean_d, row_m2);
  }
  let m = s / f32(C);
  let r = inverseSqrt(row_m2 / f32(C) + params.eps);

  for (var c = 0u; c < C4; c += 4u) {
    store_out4(base + c, fma((x4(base + c) - m) * r, weight4(c), bias4(c)));
  }
  for (var c = C4; c < C; c++) {
    out[base + c] = to_operand(fma((x[base + c] - m) * r, weight[c], bias[c]));
  }
  mean[row] = m;
  rstd[row] = r;
}

@compute @workgroup_size(WG)
fn layernorm_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = flat_id(wid, nwg, lid);
  if (row >= params.N) { return; }
  let C = params.C;
  let C4 = C & ~3u;
  let base = row * C;
  let m = mean[row];
  let r = rstd[row];

  // Row sums of g = dout * weight and g * xhat.
  var acc_g = vec4<f32>(0.0);
  var acc_gx = vec4<f32>(0.0);
  for (var c = 0u; c < C4; c += 4u) {
    let xhat = (x4(base + c) - m) * r;
    let g = dout4(base + c) * weight4(c);
    acc_g += g;
    acc_gx = fma(g, xhat, acc_gx);
  }
  var sum_g = hsum(acc_g);
  var sum_gx = hsum(acc_gx);
  for (var c = C4; c < C; c++) {
    let xhat = (x[base + c] - m) * r;
    let g = dout[base + c] * weight[c];
    sum_g += g;
    sum_gx = fma(g, xhat, sum_gx);
  }
  let mean_g = sum_g / f32(C);
  let mean_gx = sum_gx / f32(C);

  let accumulate = params.accumulate == 1u;
  for (var c = 0u; c < C4; c += 4u) {
    let i = base + c;
    let xhat = (x4(i) - m) * r;
    var d = r * (dout4(i) * weight4(c) - mean_g - xhat * mean_gx);
    if (accumulate) { d += dx4(i); }
    store_dx4(i, d);
  }
  for (var c = C4; c < C; c++) {
    let i = base + c;
    let xhat = (x[i] - m) * r;
    var d = r * (dout[i] * weight[c] - mean_g - xhat * mean_gx);
    if (accumulate) { d += dx[i]; }
    dx[i] = d;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// layernorm_forward_rows and layernorm_backward_rows: the same contract, bindings and params with a workgroup per
// row, for GPUs. RW invocations share a row: invocation t takes columns t, t + RW, t + 2 RW, ... (neighbouring
// invocations on neighbouring addresses: coalesced loads), and the row sums are tree reductions in workgroup
// memory. A GPU keeps many rows in flight this way, where a row per invocation leaves most of a (B*T, C)
// activation's rows to a few long serial loops with scattered loads. CPU adapters pay for every barrier and keep
// the kernels above (src/runtime/choice.ts). Forward: three passes over the row (sum for the mean, squared
// deviations from it for the variance: the two-pass variance, then the output); a row of a few thousand floats
// stays in cache between them. Backward: one pass for both row sums (g and g * xhat, reduced together), one for
// dx. Grid: one workgroup per row, row = wid.y * num_workgroups.x + wid.x (the host folds past 65535 into y).

const RW: u32 = 64u; // invocations per row (a power of two: the reductions halve it)

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
    out[base + c] = to_operand(fma((x[base + c] - m) * r, weight[c], bias[c]));
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
