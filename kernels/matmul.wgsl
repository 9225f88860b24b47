// Batched matrix multiply: out[b] = op(a[b]) @ op(w[b]) (+ bias) (+ out[b] when accumulating).
// op() transposes when TRANS_A / TRANS_B is set: a is stored (M, K), or (K, M) when transposed; w is stored
// (K, N), or (N, K) when transposed. Two entry points, any size and layout; src/ops/matmul.ts picks one per
// dispatch (and matmul_subgroup.wgsl, the fast path on CPU adapters):
//   matmul_forward: register tiles, no workgroup memory. Each invocation computes a TM x TN tile; rows and
//     columns past the edge are clamped for loads (so the inner loop has no branches) and skipped for stores.
//     The general path on CPU adapters (llvmpipe), where workgroup memory and barriers only add cost.
//   matmul_tiled: workgroup-memory tiles for GPUs. A 16 x 16 workgroup computes a 64 x 64 tile of out; per
//     16 steps of k it stages op(a) and op(w) in workgroup memory (bounds-checked, zero-filled loads that
//     follow each layout's contiguous dimension), so every global value is read once per workgroup. The usual
//     GPU recipe; correct everywhere (tests run it on llvmpipe, where it is slow), not yet timed on a GPU.
// Each has a twin with GELU in its epilogue, matmul_forward_gelu and matmul_tiled_gelu (a linear layer followed
// by GELU, src/ops/linear_gelu.ts): same product, then pre = product + bias and act = gelu(pre) are stored
// (accumulate must be 0). The product is one function per kernel family, called by both entry points, so the
// twins cannot drift apart; `pre` and `act` are bindings of the twins only.

// The element type of a and w. The registry derives this file's f16 twin (entry points suffixed _f16: f16
// operands, f32 accumulation and output) by setting it to f16; see src/runtime/kernels.ts. The GELU twins'
// output `act` is an Operand too (the input of the next linear; the twin's to_operand stores a value past f16's
// range as an infinity); `out` and `pre` stay f32.
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }

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
@group(0) @binding(1) var<storage, read> a: array<Operand>;
@group(0) @binding(2) var<storage, read> w: array<Operand>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> pre: array<f32>;  // the _gelu twins: GELU's input, for its backward
@group(0) @binding(6) var<storage, read_write> act: array<Operand>; // the _gelu twins: GELU's output

// GELU, tanh approximation, exactly as kernels/gelu.wgsl evaluates it (see there): x s with
// s = 1 / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3) clamped to +-40.
fn gelu1(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * clamp(u, -40.0, 40.0)));
}

// The _gelu twins' store: pre = v (the product plus bias), act = gelu(v).
fn store_gelu(idx: u32, v: f32) {
  pre[idx] = v;
  act[idx] = to_operand(gelu1(v));
}

fn load_a(base: u32, row: u32, k: u32) -> f32 {
  if (TRANS_A) { return f32(a[base + k * params.M + row]); }
  return f32(a[base + row * params.K + k]);
}

fn load_w(base: u32, k: u32, col: u32) -> f32 {
  if (TRANS_B) { return f32(w[base + col * params.K + k]); }
  return f32(w[base + k * params.N + col]);
}

// op(a) @ op(w) for rows row0 .. row0+3 and columns col0 .. col0+3 of one batch (row0 < M, col0 < N).
fn register_tile(row0: u32, col0: u32, batch: u32) -> array<array<f32, 4>, 4> {
  let M = params.M;
  let N = params.N;
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
  return acc;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= M || col0 >= N) { return; }
  let acc = register_tile(row0, col0, gid.z);

  let base_out = gid.z * params.stride_out;
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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_forward_gelu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= M || col0 >= N) { return; }
  let acc = register_tile(row0, col0, gid.z);

  let base_out = gid.z * params.stride_out;
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (col >= N) { break; }
      var v = acc[i][j];
      if (params.has_bias == 1u) { v += bias[col]; }
      store_gelu(base_out + row * N + col, v);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// matmul_tiled: grid (ceil(N / 64), ceil(M / 64), batch).

const TILE: u32 = 64u; // rows and columns of out per workgroup
const BK: u32 = 16u;   // steps of k staged at a time
const TPI: u32 = 4u;   // rows (and columns) per invocation: rows ty + 16 i, columns tx + 16 j

// [k][row] of op(a) and [k][col] of op(w); rows padded to 65 so that staging 16 k's of one row (a not transposed,
// w transposed) spreads over the memory banks instead of hitting one.
var<workgroup> tile_a: array<array<f32, 65>, 16>;
var<workgroup> tile_w: array<array<f32, 65>, 16>;

// op(a)[row][k] and op(w)[k][col], zero outside the matrix.
fn load_a_or_zero(base: u32, row: u32, k: u32) -> f32 {
  if (row >= params.M || k >= params.K) { return 0.0; }
  return load_a(base, row, k);
}

fn load_w_or_zero(base: u32, k: u32, col: u32) -> f32 {
  if (k >= params.K || col >= params.N) { return 0.0; }
  return load_w(base, k, col);
}

// op(a) @ op(w) for this invocation's rows row0 + lid.y + 16 i and columns col0 + lid.x + 16 j of the workgroup's
// 64 x 64 tile (zero past the edges). Called by every invocation of the workgroup (it has barriers).
fn tiled_product(wg: vec3<u32>, lid: vec3<u32>, li: u32) -> array<array<f32, 4>, 4> {
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  let batch = wg.z;
  let base_a = batch * params.stride_a;
  let base_w = batch * params.stride_w;

  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += BK) {
    // Stage 64 x 16 values of each operand: 4 per invocation, neighbouring invocations on neighbouring
    // addresses of the stored layout.
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      if (TRANS_A) {
        tile_a[e / TILE][e % TILE] = load_a_or_zero(base_a, row0 + e % TILE, k0 + e / TILE);
      } else {
        tile_a[e % BK][e / BK] = load_a_or_zero(base_a, row0 + e / BK, k0 + e % BK);
      }
      if (TRANS_B) {
        tile_w[e % BK][e / BK] = load_w_or_zero(base_w, k0 + e % BK, col0 + e / BK);
      } else {
        tile_w[e / TILE][e % TILE] = load_w_or_zero(base_w, k0 + e / TILE, col0 + e % TILE);
      }
    }
    workgroupBarrier();
    // A bound the compiler cannot unroll by: unrolling all 16 steps makes llvmpipe (which runs this in tests)
    // compile for 10+ s; GPUs lose little. It also skips the zero padding of the last tile.
    let steps = min(BK, params.K - k0);
    for (var kk = 0u; kk < steps; kk++) {
      var av: array<f32, 4>;
      var wv: array<f32, 4>;
      for (var i = 0u; i < TPI; i++) { av[i] = tile_a[kk][lid.y + 16u * i]; }
      for (var j = 0u; j < TPI; j++) { wv[j] = tile_w[kk][lid.x + 16u * j]; }
      for (var i = 0u; i < TPI; i++) {
        for (var j = 0u; j < TPI; j++) { acc[i][j] = fma(av[i], wv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  return acc;
}

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let acc = tiled_product(wg, lid, li);
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  let base_out = wg.z * params.stride_out;
  for (var i = 0u; i < TPI; i++) {
    let row = row0 + lid.y + 16u * i;
    if (row >= params.M) { break; }
    for (var j = 0u; j < TPI; j++) {
      let col = col0 + lid.x + 16u * j;
      if (col >= params.N) { break; }
      var v = acc[i][j];
      if (params.has_bias == 1u) { v += bias[col]; }
      let idx = base_out + row * params.N + col;
      if (params.accumulate == 1u) { v += out[idx]; }
      out[idx] = v;
    }
  }
}

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled_gelu(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let acc = tiled_product(wg, lid, li);
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  let base_out = wg.z * params.stride_out;
  for (var i = 0u; i < TPI; i++) {
    let row = row0 + lid.y + 16u * i;
    if (row >= params.M) { break; }
    for (var j = 0u; j < TPI; j++) {
      let col = col0 + lid.x + 16u * j;
      if (col >= params.N) { break; }
      var v = acc[i][j];
      if (params.has_bias == 1u) { v += bias[col]; }
      store_gelu(base_out + row * params.N + col, v);
    }
  }
}
