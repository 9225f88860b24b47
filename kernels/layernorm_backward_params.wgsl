// LayerNorm parameter gradients (the op is kernels/layernorm.wgsl), over x and dout viewed as (N, C), with
// xhat = (x - mean[n]) * rstd[n], into dweight and dbias (chunks, C):
//   dweight[c, j] (+)= sum of dout[n, j] * xhat[n, j]   over the rows n of chunk c
//   dbias[c, j]   (+)= sum of dout[n, j]                over the rows n of chunk c
// where chunk c = rows [c * rows_per_chunk, (c + 1) * rows_per_chunk). With one chunk, dweight and dbias are the
// gradients (C) (accumulate = 1 adds, the parameter rule; 0 overwrites). With several, they are scratches of
// partial sums, and the host finishes each with bias_backward's one-chunk pass over a (chunks, C) matrix
// (src/ops/layernorm.ts `layernorm_backward_params`: 1 or 3 dispatches).
//
// The design of kernels/bias_backward.wgsl, for its reasons (lavapipe runs one workgroup per thread and pays per
// load, so one invocation per column left 1-2 workgroups of scalar loads for 2 cores at C = 64..128):
// invocation i owns 4 adjacent columns (quad q = i % Q, Q = ceil(C / 4)) of one chunk (c = i / Q) and keeps both
// sums in vec4 registers; no workgroup memory, barriers or atomics. The host picks rows_per_chunk and WG by
// adapter (`biasBackwardPlan` in src/ops/matmul.ts).
// Deterministic: every sum is walked in an order fixed by (N, C, rows_per_chunk).
// Cost: one read of x and dout (N * C / 4 vec4 loads each when C % 4 == 0) plus mean and rstd once per
// invocation, by Q * chunks invocations of about rows_per_chunk / 2 loop iterations; 2 * C * chunks floats written.
//
// x4 and dout4 are x and dout bound a second time (read-only): vec4 loads when C % 4 == 0 (every row then starts
// on 16 bytes; bindings start on 256), scalar loads otherwise. The linear index is
// (wid.x + wid.y * num_workgroups.x) * WG + local index, so the host can fold more than 65535 workgroups into y.

struct Params {
  N: u32,              // rows of x and dout
  C: u32,              // channels: columns of x, dout, dweight and dbias
  rows_per_chunk: u32,
  chunks: u32,         // rows of dweight and dbias: ceil(N / rows_per_chunk), at least 1 (N = 0 writes zeros)
  accumulate: u32,     // 1: dweight, dbias += sums; 0: dweight, dbias = sums
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;              // (N, C)
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;       // the same buffer as (N, C / 4) vec4s
@group(0) @binding(3) var<storage, read> dout: array<f32>;           // (N, C)
@group(0) @binding(4) var<storage, read> dout4: array<vec4<f32>>;    // the same buffer as (N, C / 4) vec4s
@group(0) @binding(5) var<storage, read> mean: array<f32>;           // (N)
@group(0) @binding(6) var<storage, read> rstd: array<f32>;           // (N)
@group(0) @binding(7) var<storage, read_write> dweight: array<f32>;  // (chunks, C)
@group(0) @binding(8) var<storage, read_write> dbias: array<f32>;    // (chunks, C)

// One quad's sums over a range of rows.
struct Sums {
  dw: vec4<f32>,
  db: vec4<f32>,
}

// Rows [begin, end) of quad q, C % 4 == 0: two rows per iteration into two pairs of sums, which halves the
// dependency chains and keeps four vec4 accumulators, as many as bias_backward's (more would spill on lavapipe).
fn sum_rows_vec4(q: u32, begin: u32, end: u32) -> Sums {
  let stride = params.C / 4u;
  var dw0 = vec4<f32>(0.0);
  var dw1 = vec4<f32>(0.0);
  var db0 = vec4<f32>(0.0);
  var db1 = vec4<f32>(0.0);
  var n = begin;
  for (; n + 2u <= end; n += 2u) {
    let i = n * stride + q;
    let g0 = dout4[i];
    let g1 = dout4[i + stride];
    dw0 = fma(g0, (x4[i] - mean[n]) * rstd[n], dw0);
    dw1 = fma(g1, (x4[i + stride] - mean[n + 1u]) * rstd[n + 1u], dw1);
    db0 += g0;
    db1 += g1;
  }
  if (n < end) {
    let i = n * stride + q;
    let g = dout4[i];
    dw0 = fma(g, (x4[i] - mean[n]) * rstd[n], dw0);
    db0 += g;
  }
  return Sums(dw0 + dw1, db0 + db1);
}

// Rows [begin, end) of quad q, any C (the rare unaligned case: one row per iteration). Columns past C read the
// row's last column (a valid index) and are never written.
fn sum_rows_scalar(q: u32, begin: u32, end: u32) -> Sums {
  let C = params.C;
  let c = 4u * q;
  let last = C - 1u;
  let cols = vec4<u32>(c, min(c + 1u, last), min(c + 2u, last), min(c + 3u, last));
  var dw = vec4<f32>(0.0);
  var db = vec4<f32>(0.0);
  for (var n = begin; n < end; n++) {
    let row = n * C;
    let g = vec4<f32>(dout[row + cols.x], dout[row + cols.y], dout[row + cols.z], dout[row + cols.w]);
    let xv = vec4<f32>(x[row + cols.x], x[row + cols.y], x[row + cols.z], x[row + cols.w]);
    dw = fma(g, (xv - mean[n]) * rstd[n], dw);
    db += g;
  }
  return Sums(dw, db);
}

@compute @workgroup_size(WG)
fn layernorm_backward_params(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let C = params.C;
  let Q = (C + 3u) / 4u;
  if (i >= Q * params.chunks) { return; }
  let q = i % Q;
  let chunk = i / Q;
  let begin = chunk * params.rows_per_chunk;
  let end = min(params.N, begin + params.rows_per_chunk);
  var s: Sums;
  if (C % 4u == 0u) { s = sum_rows_vec4(q, begin, end); } else { s = sum_rows_scalar(q, begin, end); }
  let first = chunk * C + 4u * q;
  let cols = min(4u, C - 4u * q);
  for (var k = 0u; k < cols; k++) {
    var dw = s.dw[k];
    var db = s.db[k];
    if (params.accumulate == 1u) {
      dw += dweight[first + k];
      db += dbias[first + k];
    }
    dweight[first + k] = dw;
    dbias[first + k] = db;
  }
}
