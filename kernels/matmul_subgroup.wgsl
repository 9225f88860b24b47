// Batched matrix multiply for CPU adapters (llvmpipe / lavapipe): out[b] = op(a[b]) @ op(w[b]) (+ bias) (+ out[b]).
// Same contract and params as matmul_forward in matmul.wgsl; src/ops/matmul.ts picks this entry point on a CPU
// adapter with 8-wide subgroups when the operands can be read as vec4: K % 4 == 0 for a (M, K) and for w (N, K),
// M % 4 == 0 for a stored (K, M), N % 4 == 0 always. Other sizes take matmul_forward.
//
// Why it looks like this: llvmpipe runs 8 invocations as one 8-wide SIMD group, and it loads storage memory one
// lane at a time with a bounds check per component (about 10 instructions per float per lane), while arithmetic
// and subgroupBroadcast from a constant lane are one vector instruction each. So the cost is the number of floats
// each lane loads per multiply-add, and the kernel shares one operand through subgroupBroadcast instead of
// loading it in every lane:
//   - one workgroup = one subgroup of 8 lanes computes a 16 x 64 tile of out; lane l owns columns 4l..4l+3 and
//     32+4l..32+4l+3 of it;
//   - per 4 steps of k, each lane loads its own 8 columns of op(w) at those k (8 vec4, along the contiguous
//     dimension of w's layout) and 1/8 of the 16 x 4 block of op(a) (2 vec4), which subgroupBroadcast then hands
//     to every lane, and which both groups of columns use;
//   - so a lane loads 40 floats per 512 multiply-adds (a 4 x 4 register tile without sharing loads 8 per 16).
// Workgroup memory would not help here: on llvmpipe it is loaded lane by lane too, and barriers cost more.
// Variants measured while writing this (interleaved medians of process CPU time, at 1024^3 and the GPT shapes)
// and dropped:
//   - no sharing, vec4 loads, 4 x 4 or 4 x 8 per invocation: 7-9 GFLOP/s of CPU time (this kernel: 15-25);
//   - rows indexed by workgroup id only, hoping llvmpipe loads a lane-uniform address once: it does not (its
//     uniformity test only knows constants and push constants), so no gain;
//   - 8 rows per subgroup: a third more instructions per multiply-add, slower at most shapes; 32 rows: fewer
//     loads, but the 128 accumulators spill, no faster overall;
//   - 8 steps of k per loop iteration: twice the code, more spills, ~25% slower, and ~9 s of CPU to compile on
//     first use instead of ~6 s; a masked copy of the block for the last k steps: doubles the code again;
//   - one group of 4 columns per lane (a 16 x 32 tile, 24 floats per 256 multiply-adds): the kernel until the
//     second group, which took 1.00-1.24x less CPU time at the GPT `small` shapes in every layout, f16 twins
//     (docs/results/speed/README.md); 32 rows x 64 columns (four groups of 8 rows each): 0.76-0.95x, the 256
//     accumulators spill.
//
// Rows of the tile past M and columns past N read whatever lies there (WebGPU clamps out-of-bounds reads) and
// are never stored. K need not be a multiple of 4 when only a is transposed: the last K % 4 steps go one at a
// time.
//
// matmul_subgroup_gelu is its twin with GELU in the epilogue (a linear layer followed by GELU,
// src/ops/linear_gelu.ts): the same product (one function, `tile_product`), then pre = product + bias and
// act = gelu(pre) are stored (accumulate must be 0); `pre` and `act` are bindings of the twin only.

enable subgroups;

// The element type of a and w. The registry derives this file's f16 twin (entry points suffixed _f16: f16
// operands, f32 accumulation and output) by setting it to f16; see src/runtime/kernels.ts. The GELU twin's
// output `act` is an Operand too (the input of the next linear; the twin's to_operand stores a value past f16's
// range as an infinity); `out` and `pre` stay f32.
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }

// Four operands as a, w and act store them; load4 their values, store4 four values converted by to_operand. Here
// four f32; the f16 twin stores four f16 as two u32 and packs and unpacks them (src/runtime/kernels.ts), the same
// values: llvmpipe loads and stores each 32-bit component of a storage access on its own, so two halves per
// component halve the loads and stores where vec4<f16> takes every half alone (measured in
// docs/results/precision/README.md and docs/results/speed/README.md).
alias Operand4 = vec4<f32>;
fn load4(x: Operand4) -> vec4<f32> { return x; }
fn store4(v: vec4<f32>) -> Operand4 { return v; }

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

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<Operand4>;    // (batch, M, K) or (batch, K, M) when TRANS_A
@group(0) @binding(2) var<storage, read> w: array<Operand4>;    // (batch|1, K, N) or (batch|1, N, K) when TRANS_B
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // (N)
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>; // (batch, M, N)
@group(0) @binding(5) var<storage, read_write> pre: array<vec4<f32>>; // (batch, M, N): GELU's input (the twin only)
@group(0) @binding(6) var<storage, read_write> act: array<Operand4>;   // (batch, M, N): GELU's output (the twin only)

// 8 rows of a lane's accumulators: row i, the lane's 4 columns. (A struct, not an array, so that every access
// has a constant index and stays in registers.)
struct Rows8 {
  r0: vec4<f32>,
  r1: vec4<f32>,
  r2: vec4<f32>,
  r3: vec4<f32>,
  r4: vec4<f32>,
  r5: vec4<f32>,
  r6: vec4<f32>,
  r7: vec4<f32>,
}

// A lane's accumulators: 16 rows at its two groups of 4 columns.
struct Tile {
  lo: Rows8,
  hi: Rows8,
  lo2: Rows8,
  hi2: Rows8,
}

// op(w) at k .. k+3 (k a multiple of 4) and this lane's columns 4*col4 .. 4*col4+3: result[kk] = op(w)[k + kk][..].
fn w_rows4(base: u32, k: u32, col4: u32) -> array<vec4<f32>, 4> {
  var r: array<vec4<f32>, 4>;
  if (TRANS_B) {
    // w stored (N, K): the lane's 4 columns are 4 rows of storage; read k .. k+3 of each, transpose in registers.
    let K4 = params.K / 4u;
    let s = base + col4 * 4u * K4 + k / 4u;
    let c0 = load4(w[s]);
    let c1 = load4(w[s + K4]);
    let c2 = load4(w[s + 2u * K4]);
    let c3 = load4(w[s + 3u * K4]);
    r[0] = vec4(c0.x, c1.x, c2.x, c3.x);
    r[1] = vec4(c0.y, c1.y, c2.y, c3.y);
    r[2] = vec4(c0.z, c1.z, c2.z, c3.z);
    r[3] = vec4(c0.w, c1.w, c2.w, c3.w);
  } else {
    // w stored (K, N): one vec4 per row of k.
    let N4 = params.N / 4u;
    for (var kk = 0u; kk < 4u; kk++) {
      r[kk] = load4(w[base + (k + kk) * N4 + col4]);
    }
  }
  return r;
}

// a stored (M, K): lane i holds row i at 4 consecutive k. Every lane gets all 8 rows.
fn bcast_rows(x: vec4<f32>) -> Rows8 {
  return Rows8(
    subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
    subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u),
  );
}

// a stored (K, M): lane j0 + kk (j0 is 0 or 4, kk < 4) holds 8 rows at k0 + kk, the first 4 in y0 and the last 4
// in y1. Every lane gets those 8 rows at the 4 k's, transposed to rows in registers.
fn bcast_cols(y0: vec4<f32>, y1: vec4<f32>, j0: u32) -> Rows8 {
  var p: array<vec4<f32>, 4>;
  var q: array<vec4<f32>, 4>;
  if (j0 == 0u) {
    p = array(subgroupBroadcast(y0, 0u), subgroupBroadcast(y0, 1u), subgroupBroadcast(y0, 2u), subgroupBroadcast(y0, 3u));
    q = array(subgroupBroadcast(y1, 0u), subgroupBroadcast(y1, 1u), subgroupBroadcast(y1, 2u), subgroupBroadcast(y1, 3u));
  } else {
    p = array(subgroupBroadcast(y0, 4u), subgroupBroadcast(y0, 5u), subgroupBroadcast(y0, 6u), subgroupBroadcast(y0, 7u));
    q = array(subgroupBroadcast(y1, 4u), subgroupBroadcast(y1, 5u), subgroupBroadcast(y1, 6u), subgroupBroadcast(y1, 7u));
  }
  return Rows8(
    vec4(p[0].x, p[1].x, p[2].x, p[3].x), vec4(p[0].y, p[1].y, p[2].y, p[3].y),
    vec4(p[0].z, p[1].z, p[2].z, p[3].z), vec4(p[0].w, p[1].w, p[2].w, p[3].w),
    vec4(q[0].x, q[1].x, q[2].x, q[3].x), vec4(q[0].y, q[1].y, q[2].y, q[3].y),
    vec4(q[0].z, q[1].z, q[2].z, q[3].z), vec4(q[0].w, q[1].w, q[2].w, q[3].w),
  );
}

// acc[i] += sum over kk of x[i][kk] * wk[kk]: 4 steps of k for 8 rows and the lane's 4 columns.
fn fma_rows(acc: ptr<function, Rows8>, x: Rows8, wk: array<vec4<f32>, 4>) {
  (*acc).r0 = fma(vec4(x.r0.w), wk[3], fma(vec4(x.r0.z), wk[2], fma(vec4(x.r0.y), wk[1], fma(vec4(x.r0.x), wk[0], (*acc).r0))));
  (*acc).r1 = fma(vec4(x.r1.w), wk[3], fma(vec4(x.r1.z), wk[2], fma(vec4(x.r1.y), wk[1], fma(vec4(x.r1.x), wk[0], (*acc).r1))));
  (*acc).r2 = fma(vec4(x.r2.w), wk[3], fma(vec4(x.r2.z), wk[2], fma(vec4(x.r2.y), wk[1], fma(vec4(x.r2.x), wk[0], (*acc).r2))));
  (*acc).r3 = fma(vec4(x.r3.w), wk[3], fma(vec4(x.r3.z), wk[2], fma(vec4(x.r3.y), wk[1], fma(vec4(x.r3.x), wk[0], (*acc).r3))));
  (*acc).r4 = fma(vec4(x.r4.w), wk[3], fma(vec4(x.r4.z), wk[2], fma(vec4(x.r4.y), wk[1], fma(vec4(x.r4.x), wk[0], (*acc).r4))));
  (*acc).r5 = fma(vec4(x.r5.w), wk[3], fma(vec4(x.r5.z), wk[2], fma(vec4(x.r5.y), wk[1], fma(vec4(x.r5.x), wk[0], (*acc).r5))));
  (*acc).r6 = fma(vec4(x.r6.w), wk[3], fma(vec4(x.r6.z), wk[2], fma(vec4(x.r6.y), wk[1], fma(vec4(x.r6.x), wk[0], (*acc).r6))));
  (*acc).r7 = fma(vec4(x.r7.w), wk[3], fma(vec4(x.r7.z), wk[2], fma(vec4(x.r7.y), wk[1], fma(vec4(x.r7.x), wk[0], (*acc).r7))));
}

// k0 .. k0+3 (all < K) for the tile's 16 rows: lo holds rows row0 .. row0+7, hi rows row0+8 .. row0+15; lo2 and hi2
// the same rows at the lane's second group of columns (col4 + 8).
fn block4(t: ptr<function, Tile>, base_a: u32, base_w: u32, row0: u32, col4: u32, lane: u32, k0: u32) {
  let wk = w_rows4(base_w, k0, col4);
  let wk2 = w_rows4(base_w, k0, col4 + 8u);
  var x_lo: Rows8;
  var x_hi: Rows8;
  if (TRANS_A) {
    // a stored (K, M): lane j < 4 reads rows 0..7 at k0 + j, lane 4 + j rows 8..15 at k0 + j (2 vec4 each).
    let s = base_a + (k0 + (lane & 3u)) * (params.M / 4u) + row0 / 4u + (lane >> 2u) * 2u;
    let y0 = load4(a[s]);
    let y1 = load4(a[s + 1u]);
    x_lo = bcast_cols(y0, y1, 0u);
    x_hi = bcast_cols(y0, y1, 4u);
  } else {
    // a stored (M, K): lane i reads rows i and 8 + i at k0 .. k0+3.
    let K4 = params.K / 4u;
    let s = base_a + (row0 + lane) * K4 + k0 / 4u;
    x_lo = bcast_rows(load4(a[s]));
    x_hi = bcast_rows(load4(a[s + 8u * K4]));
  }
  fma_rows(&(*t).lo, x_lo, wk);
  fma_rows(&(*t).hi, x_hi, wk);
  fma_rows(&(*t).lo2, x_lo, wk2);
  fma_rows(&(*t).hi2, x_hi, wk2);
}

// One step of k without sharing, for the last K % 4 steps. Only a stored (K, M) with w stored (K, N) has them:
// every other layout reads along k, so the host only sends K % 4 == 0.
fn step1(t: ptr<function, Tile>, base_a: u32, base_w: u32, row0: u32, col4: u32, k: u32) {
  let wk = load4(w[base_w + k * (params.N / 4u) + col4]);
  let wk2 = load4(w[base_w + k * (params.N / 4u) + col4 + 8u]);
  let s = base_a + k * (params.M / 4u) + row0 / 4u;
  let y0 = load4(a[s]);
  let y1 = load4(a[s + 1u]);
  let y2 = load4(a[s + 2u]);
  let y3 = load4(a[s + 3u]);
  let x_lo = Rows8(vec4(y0.x), vec4(y0.y), vec4(y0.z), vec4(y0.w), vec4(y1.x), vec4(y1.y), vec4(y1.z), vec4(y1.w));
  let x_hi = Rows8(vec4(y2.x), vec4(y2.y), vec4(y2.z), vec4(y2.w), vec4(y3.x), vec4(y3.y), vec4(y3.z), vec4(y3.w));
  fma_rows1(&(*t).lo, x_lo, wk);
  fma_rows1(&(*t).hi, x_hi, wk);
  fma_rows1(&(*t).lo2, x_lo, wk2);
  fma_rows1(&(*t).hi2, x_hi, wk2);
}

// acc[i] += x[i] * wk: one step of k (x holds each row's value in all 4 components).
fn fma_rows1(acc: ptr<function, Rows8>, x: Rows8, wk: vec4<f32>) {
  (*acc).r0 = fma(x.r0, wk, (*acc).r0);
  (*acc).r1 = fma(x.r1, wk, (*acc).r1);
  (*acc).r2 = fma(x.r2, wk, (*acc).r2);
  (*acc).r3 = fma(x.r3, wk, (*acc).r3);
  (*acc).r4 = fma(x.r4, wk, (*acc).r4);
  (*acc).r5 = fma(x.r5, wk, (*acc).r5);
  (*acc).r6 = fma(x.r6, wk, (*acc).r6);
  (*acc).r7 = fma(x.r7, wk, (*acc).r7);
}

// The bias of this lane's 4 columns, loaded once per tile: loaded in each row's store, it was loaded again for
// every row, since the compiler cannot tell that the stores between them leave bias alone.
fn lane_bias(col4: u32) -> vec4<f32> {
  if (params.has_bias != 1u) { return vec4<f32>(0.0); }
  let c = col4 * 4u;
  return vec4(bias[c], bias[c + 1u], bias[c + 2u], bias[c + 3u]);
}

fn store_row(v: vec4<f32>, b: vec4<f32>, base: u32, row: u32, col4: u32) {
  let N4 = params.N / 4u;
  if (row >= params.M || col4 >= N4) { return; }
  var r = v;
  if (params.has_bias == 1u) { r += b; }
  let idx = base + row * N4 + col4;
  if (params.accumulate == 1u) { r += out[idx]; }
  out[idx] = r;
}

fn store_rows(t: Rows8, b: vec4<f32>, base: u32, row0: u32, col4: u32) {
  store_row(t.r0, b, base, row0, col4);
  store_row(t.r1, b, base, row0 + 1u, col4);
  store_row(t.r2, b, base, row0 + 2u, col4);
  store_row(t.r3, b, base, row0 + 3u, col4);
  store_row(t.r4, b, base, row0 + 4u, col4);
  store_row(t.r5, b, base, row0 + 5u, col4);
  store_row(t.r6, b, base, row0 + 6u, col4);
  store_row(t.r7, b, base, row0 + 7u, col4);
}

// GELU, tanh approximation, exactly as kernels/gelu.wgsl evaluates it (see there): x s with
// s = 1 / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3) clamped to +-40.
fn gelu4(x: vec4<f32>) -> vec4<f32> {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * clamp(u, vec4<f32>(-40.0), vec4<f32>(40.0))));
}

fn store_row_gelu(v: vec4<f32>, b: vec4<f32>, base: u32, row: u32, col4: u32) {
  let N4 = params.N / 4u;
  if (row >= params.M || col4 >= N4) { return; }
  var r = v;
  if (params.has_bias == 1u) { r += b; }
  let idx = base + row * N4 + col4;
  pre[idx] = r;
  let g = gelu4(r);
  act[idx] = store4(g);
}

fn store_rows_gelu(t: Rows8, b: vec4<f32>, base: u32, row0: u32, col4: u32) {
  store_row_gelu(t.r0, b, base, row0, col4);
  store_row_gelu(t.r1, b, base, row0 + 1u, col4);
  store_row_gelu(t.r2, b, base, row0 + 2u, col4);
  store_row_gelu(t.r3, b, base, row0 + 3u, col4);
  store_row_gelu(t.r4, b, base, row0 + 4u, col4);
  store_row_gelu(t.r5, b, base, row0 + 5u, col4);
  store_row_gelu(t.r6, b, base, row0 + 6u, col4);
  store_row_gelu(t.r7, b, base, row0 + 7u, col4);
}

// The workgroup's 16 x 64 tile of op(a) @ op(w): this lane's columns 4 col4 .. 4 col4 + 3 in lo (rows row0 ..
// row0+7) and hi (the next 8), and its columns 32 further on in lo2 and hi2.
fn tile_product(wg: vec3<u32>, lane: u32, t: ptr<function, Tile>) {
  let row0 = wg.y * 16u;
  let col4 = wg.x * 16u + lane;
  let batch = wg.z;
  let base_a = batch * (params.stride_a / 4u);
  let base_w = batch * (params.stride_w / 4u);
  let K4 = params.K & ~3u;
  for (var k0 = 0u; k0 < K4; k0 += 4u) {
    block4(t, base_a, base_w, row0, col4, lane, k0);
  }
  if (TRANS_A && !TRANS_B) {
    for (var k = K4; k < params.K; k++) {
      step1(t, base_a, base_w, row0, col4, k);
    }
  }
}

// Grid: (ceil(N / 64), ceil(M / 16), batch). Needs subgroups of at least 8 lanes (the host checks).
@compute @workgroup_size(8, 1, 1)
fn matmul_subgroup(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  var t: Tile;
  tile_product(wg, lane, &t);
  let row0 = wg.y * 16u;
  let col4 = wg.x * 16u + lane;
  let base_out = wg.z * (params.stride_out / 4u);
  let b = lane_bias(col4);
  store_rows(t.lo, b, base_out, row0, col4);
  store_rows(t.hi, b, base_out, row0 + 8u, col4);
  let b2 = lane_bias(col4 + 8u);
  store_rows(t.lo2, b2, base_out, row0, col4 + 8u);
  store_rows(t.hi2, b2, base_out, row0 + 8u, col4 + 8u);
}

// Same grid and product; the GELU epilogue (see the header).
@compute @workgroup_size(8, 1, 1)
fn matmul_subgroup_gelu(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  var t: Tile;
  tile_product(wg, lane, &t);
  let row0 = wg.y * 16u;
  let col4 = wg.x * 16u + lane;
  let base_out = wg.z * (params.stride_out / 4u);
  let b = lane_bias(col4);
  store_rows_gelu(t.lo, b, base_out, row0, col4);
  store_rows_gelu(t.hi, b, base_out, row0 + 8u, col4);
  let b2 = lane_bias(col4 + 8u);
  store_rows_gelu(t.lo2, b2, base_out, row0, col4 + 8u);
  store_rows_gelu(t.hi2, b2, base_out, row0 + 8u, col4 + 8u);
}
