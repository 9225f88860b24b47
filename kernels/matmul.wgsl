// Batched matrix multiply: out[b] = op(a[b]) @ op(w[b]) (+ bias) (+ out[b] when accumulating).
// op() transposes when TRANS_A / TRANS_B is set: a is stored (M, K), or (K, M) when transposed; w is stored
// (K, N), or (N, K) when transposed. Each invocation computes a TM x TN register tile; rows and columns past
// the edge are clamped for loads (so the inner loop has no branches) and skipped for stores.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  stride_a: u32,   // elements between batches of a
  stride_w: u32,   // 0 when one weight is shared by every batch
  stride_out: u32,
  has_bias: u32,   // 1: add bias[N]
  accumulate: u32, // 1: out += result, 0: out = result
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override WG_X: u32 = 8;
override WG_Y: u32 = 8;

const TM: u32 = 4u;
const TN: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn load_a(base: u32, row: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[base + k * params.M + row]; }
  return a[base + row * params.K + k];
}

fn load_w(base: u32, k: u32, col: u32) -> f32 {
  if (TRANS_B) { return w[base + col * params.K + k]; }
  return w[base + k * params.N + col];
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= M || col0 >= N) { return; }
  let batch = gid.z;
  let base_a = batch * params.stride_a;
  let base_w = batch * params.stride_w;

  var rows: array<u32, 4>;
  var cols: array<u32, 4>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, M - 1u); }
  for (var j = 0u; j < TN; j++) { cols[j] = min(col0 + j, N - 1u); }

  var acc: array<array<f32, 4>, 4>;
  for (var k = 0u; k < params.K; k++) {
    let a0 = load_a(base_a, rows[0], k);
    let a1 = load_a(base_a, rows[1], k);
    let a2 = load_a(base_a, rows[2], k);
    let a3 = load_a(base_a, rows[3], k);
    let wv = vec4<f32>(load_w(base_w, k, cols[0]), load_w(base_w, k, cols[1]), load_w(base_w, k, cols[2]), load_w(base_w, k, cols[3]));
    for (var j = 0u; j < TN; j++) {
      acc[0][j] = fma(a0, wv[j], acc[0][j]);
      acc[1][j] = fma(a1, wv[j], acc[1][j]);
      acc[2][j] = fma(a2, wv[j], acc[2][j]);
      acc[3][j] = fma(a3, wv[j], acc[3][j]);
    }
  }

  let base_out = batch * params.stride_out;
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (col >= N) { break; }
      var v = acc[i][j];
      if (params.has_bias == 1u) { v += bias[col]; }
      let idx = base_out + row * N + col;
      if (params.accumulate == 1u) { v += out[idx]; }
      out[idx] = v;
    }
  }
}
