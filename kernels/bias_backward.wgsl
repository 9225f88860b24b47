// Bias gradient: column sums of dout viewed as (M, N), into out (chunks, N):
//   out[c, n] (+)= sum of dout[m, n] over the rows m of chunk c = [c * rows_per_chunk, (c + 1) * rows_per_chunk)
// With one chunk, out is dbias (accumulate = 1 adds, the parameter rule; 0 overwrites). With several, out is a
// scratch of partial sums, and the host runs this kernel again over it as a (chunks, N) matrix with one chunk
// to finish (src/ops/matmul.ts `bias_backward`: 1 or 2 dispatches).
//
// Deterministic: no atomics, and every sum is walked in an order fixed by (M, N, rows_per_chunk).
// Cost: one read of dout (M * N / 4 vec4 loads when N % 4 == 0) by Q * chunks invocations of
// about rows_per_chunk / 4 loop iterations each, N * chunks floats written.
//
// Invocation i owns 4 adjacent columns (quad q = i % Q, Q = ceil(N / 4)) of one chunk (c = i / Q), so adjacent
// invocations read adjacent 16 bytes of a row (coalesced on GPUs), and it walks its rows 4 per loop iteration
// into 4 running vec4 sums, added as (s0 + s1) + (s2 + s3). Why: on lavapipe loads dominate and cost per
// float, vec4 loads are cheaper, loop iterations cost per invocation, and barriers are slow, so one invocation
// summing whole quads in registers beats a workgroup reduction; row chunks give GPUs (and, at large M, CPU
// cores) enough workgroups to run. The host picks rows_per_chunk and WG per adapter.
//
// dout and dout4 are the same buffer bound twice (read-only): vec4 loads when N % 4 == 0 (every row then
// starts on 16 bytes; bindings start on 256), scalar loads otherwise. The linear index is
// (wid.x + wid.y * num_workgroups.x) * WG + local index, so the host can fold more than 65535 workgroups into y.

struct Params {
  M: u32,              // rows of dout
  N: u32,              // columns of dout and of out
  rows_per_chunk: u32,
  chunks: u32,         // rows of out: ceil(M / rows_per_chunk), at least 1 (M = 0 writes zeros)
  accumulate: u32,     // 1: out += sums; 0: out = sums
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;        // (M, N)
@group(0) @binding(2) var<storage, read> dout4: array<vec4<f32>>; // the same buffer as (M, N / 4) vec4s
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // (chunks, N)

// Sum of rows [begin, end) of quad q, N % 4 == 0.
fn sum_rows_vec4(q: u32, begin: u32, end: u32) -> vec4<f32> {
  let stride = params.N / 4u;
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  var m = begin;
  for (; m + 4u <= end; m += 4u) {
    let i = m * stride + q;
    s0 += dout4[i];
    s1 += dout4[i + stride];
    s2 += dout4[i + 2u * stride];
    s3 += dout4[i + 3u * stride];
  }
  for (; m < end; m++) { s0 += dout4[m * stride + q]; }
  return (s0 + s1) + (s2 + s3);
}

// Sum of rows [begin, end) of quad q, any N (the rare unaligned case: one row per iteration). Columns past N
// read the row's last column (a valid index) and are never written.
fn sum_rows_scalar(q: u32, begin: u32, end: u32) -> vec4<f32> {
  let N = params.N;
  let c = 4u * q;
  let last = N - 1u;
  let cols = vec4<u32>(c, min(c + 1u, last), min(c + 2u, last), min(c + 3u, last));
  var s = vec4<f32>(0.0);
  for (var m = begin; m < end; m++) {
    let row = m * N;
    s += vec4<f32>(dout[row + cols.x], dout[row + cols.y], dout[row + cols.z], dout[row + cols.w]);
  }
  return s;
}

@compute @workgroup_size(WG)
fn bias_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let N = params.N;
  let Q = (N + 3u) / 4u;
  if (i >= Q * params.chunks) { return; }
  let q = i % Q;
  let chunk = i / Q;
  let begin = chunk * params.rows_per_chunk;
  let end = min(params.M, begin + params.rows_per_chunk);
  var s: vec4<f32>;
  if (N % 4u == 0u) { s = sum_rows_vec4(q, begin, end); } else { s = sum_rows_scalar(q, begin, end); }
  let first = chunk * N + 4u * q;
  let cols = min(4u, N - 4u * q);
  for (var k = 0u; k < cols; k++) {
    var v = s[k];
    if (params.accumulate == 1u) { v += out[first + k]; }
    out[first + k] = v;
  }
}
