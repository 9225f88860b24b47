// Fused multi-head self-attention, forward (flash-attention style: the T x T matrix never exists).
// For each (b, h) with HS = C / NH and q, k, v the head's columns of qkv (B, T, 3C):
//   S = q k^T * scale   (causal: key s > query t excluded)   P = softmax(S) rowwise   out = P v
// and lse[b, h, t] = log(sum_s exp(S[t, s])) is saved for the backward pass (attention_backward.wgsl).
// One invocation owns one query row and all HS of its outputs: it walks the visible keys once with an online
// softmax (running max m, running sum l, output accumulator rescaled by exp(m_old - m_new)), so no
// workgroup memory and no barriers. Head vectors are kept as vec4 chunks in private arrays sized for
// HS <= MAX_HS (the host checks); a head size that is not a multiple of 4 zero-pads its last chunk.

struct Params {
  B: u32,
  T: u32,
  C: u32,
  NH: u32,
  HS: u32,      // C / NH, at most MAX_HS
  causal: u32,  // 1: query t sees keys 0..t; 0: all T keys
  scale: f32,   // 1 / sqrt(HS)
}

override WG: u32 = 64u;

const MAX_HS: u32 = 128u;
const MAX_CHUNKS: u32 = 32u; // MAX_HS / 4

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;        // (B, T, 3C)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // (B, T, C)
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;  // (B, NH, T)

// Four consecutive elements qkv[i..i+4), of which the first n (>= 1) are in the head; the rest read as 0.
fn load_qkv4(i: u32, n: u32) -> vec4<f32> {
  if (n >= 4u) { return vec4<f32>(qkv[i], qkv[i + 1u], qkv[i + 2u], qkv[i + 3u]); }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < n; j++) { v[j] = qkv[i + j]; }
  return v;
}

// Unscaled score q . k for the key row starting at qkv[k_at]. The backward kernels compute it the same way.
fn score(q: ptr<function, array<vec4<f32>, MAX_CHUNKS>>, k_at: u32) -> f32 {
  let HS = params.HS;
  var s = 0.0;
  for (var c = 0u; c * 4u < HS; c++) { s += dot((*q)[c], load_qkv4(k_at + c * 4u, HS - c * 4u)); }
  return s;
}

@compute @workgroup_size(WG)
fn attention_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let T = params.T;
  let C = params.C;
  let HS = params.HS;
  // Rows are (b, h, t) flattened with t fastest, so neighbours share their keys; a grid of more than 65535
  // workgroups is folded into y by the host.
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= params.B * params.NH * T) { return; }
  let t = row % T;
  let h = (row / T) % params.NH;
  let b = row / (T * params.NH);
  let C3 = 3u * C;
  let head = b * T * C3 + h * HS; // q columns of head h at (b, t = 0); k is + C, v is + 2C

  var q: array<vec4<f32>, MAX_CHUNKS>;
  var acc: array<vec4<f32>, MAX_CHUNKS>;
  let q_at = head + t * C3;
  for (var c = 0u; c * 4u < HS; c++) { q[c] = load_qkv4(q_at + c * 4u, HS - c * 4u); }

  // Key 0 is visible to every row in both modes (causal row t sees keys 0..t), so it seeds the running max:
  // no -inf sentinel, and l >= 1 afterwards.
  var m = score(&q, head + C) * params.scale;
  var l = 1.0;
  for (var c = 0u; c * 4u < HS; c++) { acc[c] = load_qkv4(head + 2u * C + c * 4u, HS - c * 4u); }

  let end = select(T, t + 1u, params.causal == 1u);
  for (var s = 1u; s < end; s++) {
    let k_at = head + s * C3 + C;
    let sc = score(&q, k_at) * params.scale;
    // Online softmax, branch-free: rescale what came before to the new max.
    let m_new = max(m, sc);
    let corr = exp(m - m_new);
    let p = exp(sc - m_new);
    l = l * corr + p;
    let v_at = k_at + C;
    for (var c = 0u; c * 4u < HS; c++) { acc[c] = acc[c] * corr + p * load_qkv4(v_at + c * 4u, HS - c * 4u); }
    m = m_new;
  }

  lse[row] = m + log(l);
  let inv = 1.0 / l;
  let o_at = (b * T + t) * C + h * HS;
  for (var c = 0u; c * 4u < HS; c++) {
    let v = acc[c] * inv;
    let n = min(4u, HS - c * 4u);
    for (var j = 0u; j < n; j++) { out[o_at + c * 4u + j] = v[j]; }
  }
}
