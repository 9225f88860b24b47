// Fused multi-head self-attention, backward. P is recomputed from q, k and the forward's lse, never stored:
//   P_ts = exp(scale * q_t . k_s - lse_t)        D_t = dO_t . O_t  (= sum_s P_ts dP_ts)
//   dP_ts = dO_t . v_s      dS_ts = P_ts (dP_ts - D_t)
//   dq_t = scale * sum_s dS_ts k_s      dk_s = scale * sum_t dS_ts q_t      dv_s = sum_t P_ts dO_t
// Two kernels, no atomics: attention_backward_dq owns one query row (writes D_t to dsum and the row's dq),
// attention_backward_dkv then owns one key row (reads dsum, writes the row's dk and dv). Each writes
// different columns of dqkv (B, T, 3C), so together they cover every element: accumulate = 0 writes (=),
// 1 adds (+=). Head vectors are vec4 chunks in private arrays sized for HS <= MAX_HS, as in the forward.

struct Params {
  B: u32,
  T: u32,
  C: u32,
  NH: u32,
  HS: u32,
  causal: u32,
  accumulate: u32,
  scale: f32,
}

override WG: u32 = 64u;

const MAX_HS: u32 = 128u;
const MAX_CHUNKS: u32 = 32u; // MAX_HS / 4

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;         // (B, T, 3C)
@group(0) @binding(2) var<storage, read> out: array<f32>;         // (B, T, C)
@group(0) @binding(3) var<storage, read> dout: array<f32>;        // (B, T, C)
@group(0) @binding(4) var<storage, read> lse: array<f32>;         // (B, NH, T)
@group(0) @binding(5) var<storage, read_write> dsum: array<f32>;  // (B, NH, T) scratch: D_t
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;  // (B, T, 3C)

// Four consecutive elements from i, of which the first n (>= 1) are in the head; the rest read as 0.
fn load_qkv4(i: u32, n: u32) -> vec4<f32> {
  if (n >= 4u) { return vec4<f32>(qkv[i], qkv[i + 1u], qkv[i + 2u], qkv[i + 3u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < n; j++) { v[j] = qkv[i + j]; }
  return v;
}

fn load_out4(i: u32, n: u32) -> vec4<f32> {
  if (n >= 4u) { return vec4<f32>(out[i], out[i + 1u], out[i + 2u], out[i + 3u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < n; j++) { v[j] = out[i + j]; }
  return v;
}

fn load_dout4(i: u32, n: u32) -> vec4<f32> {
  if (n >= 4u) { return vec4<f32>(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < n; j++) { v[j] = dout[i + j]; }
  return v;
}

// dqkv[i..i+n) = v (or += v when accumulating).
fn store_dqkv4(i: u32, n: u32, v: vec4<f32>) {
  for (var j = 0u; j < min(n, 4u); j++) {
    var x = v[j];
    if (params.accumulate == 1u) { x += dqkv[i + j]; }
    dqkv[i + j] = x;
  }
}

// (b, h, t) of a flattened row index, t fastest; the host folds grids over 65535 workgroups into y.
fn row_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn attention_backward_dq(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let T = params.T;
  let C = params.C;
  let HS = params.HS;
  let row = row_index(wid, nwg, lid);
  if (row >= params.B * params.NH * T) { return; }
  let t = row % T;
  let h = (row / T) % params.NH;
  let b = row / (T * params.NH);
  let C3 = 3u * C;
  let head = b * T * C3 + h * HS; // q columns of head h at (b, t = 0); k is + C, v is + 2C

  var q: array<vec4<f32>, MAX_CHUNKS>;
  var g: array<vec4<f32>, MAX_CHUNKS>;   // dO_t
  var dq: array<vec4<f32>, MAX_CHUNKS>;
  let o_at = (b * T + t) * C + h * HS;
  let q_at = head + t * C3;
  var D = 0.0;
  for (var c = 0u; c * 4u < HS; c++) {
    let n = HS - c * 4u;
    g[c] = load_dout4(o_at + c * 4u, n);
    D += dot(g[c], load_out4(o_at + c * 4u, n));
    q[c] = load_qkv4(q_at + c * 4u, n);
    dq[c] = vec4<f32>(0.0);
  }
  dsum[row] = D;
  let lse_t = lse[row];

  let end = select(T, t + 1u, params.causal == 1u);
  for (var s = 0u; s < end; s++) {
    let k_at = head + s * C3 + C;
    let v_at = k_at + C;
    var sc = 0.0;  // same order of operations as the forward's score()
    var dp = 0.0;
    for (var c = 0u; c * 4u < HS; c++) {
      let n = HS - c * 4u;
      sc += dot(q[c], load_qkv4(k_at + c * 4u, n));
      dp += dot(g[c], load_qkv4(v_at + c * 4u, n));
    }
    let p = exp(sc * params.scale - lse_t);
    let ds = p * (dp - D);
    for (var c = 0u; c * 4u < HS; c++) { dq[c] += ds * load_qkv4(k_at + c * 4u, HS - c * 4u); }
  }

  for (var c = 0u; c * 4u < HS; c++) { store_dqkv4(q_at + c * 4u, HS - c * 4u, dq[c] * params.scale); }
}

@compute @workgroup_size(WG)
fn attention_backward_dkv(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let T = params.T;
  let C = params.C;
  let HS = params.HS;
  let row = row_index(wid, nwg, lid); // key row (b, h, s)
  if (row >= params.B * params.NH * T) { return; }
  let s = row % T;
  let bh = row / T;
  let h = bh % params.NH;
  let b = bh / params.NH;
  let C3 = 3u * C;
  let head = b * T * C3 + h * HS;

  var k: array<vec4<f32>, MAX_CHUNKS>;
  var v: array<vec4<f32>, MAX_CHUNKS>;
  var dk: array<vec4<f32>, MAX_CHUNKS>;
  var dv: array<vec4<f32>, MAX_CHUNKS>;
  let k_at = head + s * C3 + C;
  for (var c = 0u; c * 4u < HS; c++) {
    let n = HS - c * 4u;
    k[c] = load_qkv4(k_at + c * 4u, n);
    v[c] = load_qkv4(k_at + C + c * 4u, n);
    dk[c] = vec4<f32>(0.0);
    dv[c] = vec4<f32>(0.0);
  }

  // Causal: key s is seen by queries s..T-1.
  let start = select(0u, s, params.causal == 1u);
  for (var t = start; t < T; t++) {
    let q_at = head + t * C3;
    let o_at = (b * T + t) * C + h * HS;
    var sc = 0.0;  // q_t . k_s, same order of operations as the forward
    var dp = 0.0;  // dO_t . v_s
    for (var c = 0u; c * 4u < HS; c++) {
      let n = HS - c * 4u;
      sc += dot(load_qkv4(q_at + c * 4u, n), k[c]);
      dp += dot(load_dout4(o_at + c * 4u, n), v[c]);
    }
    let r = bh * T + t;
    let p = exp(sc * params.scale - lse[r]);
    let ds = p * (dp - dsum[r]);
    for (var c = 0u; c * 4u < HS; c++) {
      let n = HS - c * 4u;
      dv[c] += p * load_dout4(o_at + c * 4u, n);
      dk[c] += ds * load_qkv4(q_at + c * 4u, n);
    }
  }

  for (var c = 0u; c * 4u < HS; c++) {
    let n = HS - c * 4u;
    store_dqkv4(k_at + c * 4u, n, dk[c] * params.scale);
    store_dqkv4(k_at + C + c * 4u, n, dv[c]);
  }
}
