// Fused multi-head self-attention, backward, for CPU adapters (llvmpipe / lavapipe) with 8-wide subgroups.
// Same contract, bindings and params as the kernels of attention_backward.wgsl, whose header has the math; P is
// recomputed from q, k and the forward's lse (from either forward kernel):
//   P_ts = exp(scale q_t . k_s - lse_t)   D_t = dO_t . O_t   dS_ts = P_ts (dO_t . v_s - D_t)
//   dq_t = scale sum_s dS_ts k_s          dk_s = scale sum_t dS_ts q_t          dv_s = sum_t P_ts dO_t
// attention_backward_dq_subgroup owns query rows (writes D_t to dsum and dq), then attention_backward_dkv_subgroup
// owns key rows (reads dsum, writes dk and dv); accumulate = 0 writes (=), 1 adds (+=).
// src/ops/attention.ts picks these on a CPU adapter with subgroups of at least 8 lanes when HS % 4 == 0 and the
// tensors start on 16 bytes; see attention_subgroup.wgsl for why the kernels look like this. In short: one
// workgroup = one subgroup of 8 lanes owns 8 R rows of one (b, h), lane i rows x0 + i + 8 r; the other side's
// rows come in blocks of 8, lane j loading row j of the block once and subgroupBroadcast handing it to every lane;
// HC = HS / 4 and R are override constants so the private arrays have constant indices in the block loop, and
// the one-off loads and stores loop to the run-time bound params.HS / 4 (compile time).
// Variants measured (throwaway harnesses; interleaved medians of process CPU time, B=16 NH=4 HS=32, T=64 and 256)
// and dropped: R = 2 (equal at T = 64, 20-25% slower at T = 256) and R = 1 (0-15% and 25-35% slower): more loads and
// broadcasts per pair. Fully unrolled one-off loads and stores: 5-10% faster, but 15-30 s to compile per kernel
// instead of ~1.5 s. The per-block q / dO loads as a run-time loop: compiles 2x faster, 10% slower.

enable subgroups;

// Under f16 mixed precision dqkv's one reader is the qkv linear's backward, whose GEMMs read f16, so the kernels
// store a copy of what they write to dqkv for it (store_operand = 1): Operand values, four per Operand4, through
// store4, which the registry's f16 twin (src/runtime/kernels.ts; entry points NAME_f16) makes packed f16 with
// cast_to_f16's rounding. Here, in f32, store_operand is 0 and dqkv_operand an unused binding.
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }
alias Operand4 = vec4<f32>;
fn load4(x: Operand4) -> vec4<f32> { return x; }
fn store4(v: vec4<f32>) -> Operand4 { return v; }

struct Params {
  B: u32,
  T: u32,
  C: u32,
  NH: u32,
  HS: u32,         // C / NH, a multiple of 4, at most 4 * MAX_REGS
  causal: u32,     // 1: query t sees keys 0..t; 0: all T keys
  accumulate: u32, // 1: dqkv += gradient, 0: dqkv = gradient
  scale: f32,      // 1 / sqrt(HS)
  store_operand: u32, // 1: dqkv_operand = what dqkv holds after the store, too
}

override HC: u32 = 8u;  // HS / 4: vec4 chunks per head vector
override R: u32 = 4u;   // rows per lane (8 R per workgroup); R <= MAX_R, R * HC <= MAX_REGS

const MAX_R: u32 = 4u;
const MAX_REGS: u32 = 32u;  // vec4 per private array
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;          // (B, T, 3C)
@group(0) @binding(2) var<storage, read> out: array<vec4<f32>>;          // (B, T, C)
@group(0) @binding(3) var<storage, read> dout: array<vec4<f32>>;         // (B, T, C)
@group(0) @binding(4) var<storage, read> lse: array<f32>;                // (B, NH, T)
@group(0) @binding(5) var<storage, read_write> dsum: array<f32>;         // (B, NH, T) scratch: D_t
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4<f32>>;   // (B, T, 3C)
@group(0) @binding(7) var<storage, read_write> dqkv_operand: array<Operand4>; // (B, T, 3C) when store_operand

// Every lane gets lane j's x in result[j].
fn bcast8(x: vec4<f32>) -> array<vec4<f32>, 8> {
  return array(
    subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
    subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u),
  );
}

fn bcast8s(x: f32) -> array<f32, 8> {
  return array(
    subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
    subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u),
  );
}

// dqkv[i] = v (or += v when accumulating), and its copy when store_operand.
fn store_dqkv(i: u32, v: vec4<f32>) {
  var x = v;
  if (params.accumulate == 1u) { x += dqkv[i]; }
  dqkv[i] = x;
  if (params.store_operand == 1u) { dqkv_operand[i] = store4(x); }
}

// The workgroup's (b, h) and first row: grid B * NH * ceil(T / (8 R)), (b, h) outer, folded into y by the host.
struct Tile {
  valid: bool,
  bh: u32,
  b: u32,
  h: u32,
  x0: u32,
}

fn tile_of(wid: vec3<u32>, nwg: vec3<u32>) -> Tile {
  let tiles = (params.T + 8u * R - 1u) / (8u * R);
  let g = wid.y * nwg.x + wid.x;
  let bh = g / tiles;
  return Tile(g < params.B * params.NH * tiles, bh, bh / params.NH, bh % params.NH, (g % tiles) * 8u * R);
}

@compute @workgroup_size(8)
fn attention_backward_dq_subgroup(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let tl = tile_of(wid, nwg);
  if (!tl.valid) { return; }
  let T = params.T;
  let C4 = params.C / 4u;
  let C34 = 3u * C4;
  let t0 = tl.x0; // query rows t0 + lane + 8 r
  let head = tl.b * T * C34 + tl.h * HC;
  let hc = params.HS / 4u; // = HC, as a bound the compiler does not unroll
  let sl2 = params.scale * LOG2E;

  var q: array<vec4<f32>, MAX_REGS>;   // [r * HC + c]: q_t * scale * log2(e)
  var g: array<vec4<f32>, MAX_REGS>;   // dO_t
  var dq: array<vec4<f32>, MAX_REGS>;  // sum_s dS_ts k_s
  var lse2: array<f32, MAX_R>;         // lse_t * log2(e)
  var D: array<f32, MAX_R>;
  for (var r = 0u; r < R; r++) {
    let t = min(t0 + lane + 8u * r, T - 1u);
    let q_at = head + t * C34;
    let o_at = (tl.b * T + t) * C4 + tl.h * HC;
    var d = 0.0;
    for (var c = 0u; c < hc; c++) {
      q[r * HC + c] = qkv[q_at + c] * sl2;
      g[r * HC + c] = dout[o_at + c];
      d += dot(g[r * HC + c], out[o_at + c]);
    }
    for (var c = 0u; c < HC; c++) { dq[r * HC + c] = vec4<f32>(0.0); }
    D[r] = d;
    lse2[r] = lse[tl.bh * T + t] * LOG2E;
    if (t0 + lane + 8u * r < T) { dsum[tl.bh * T + t] = d; }
  }

  let end = select(T, min(T, t0 + 8u * R), params.causal == 1u);
  for (var s0 = 0u; s0 < end; s0 += 8u) {
    let k_at = head + min(s0 + lane, T - 1u) * C34 + C4;
    var kr: array<vec4<f32>, MAX_REGS>;  // key s0 + lane
    var vr: array<vec4<f32>, MAX_REGS>;
    for (var c = 0u; c < HC; c++) {
      kr[c] = qkv[k_at + c];
      vr[c] = qkv[k_at + C4 + c];
    }
    // [r * 8 + j]: row r with key s0 + j. sc: scaled score, then dS; dp: dO_t . v_s.
    var sc: array<f32, 32>; // 8 * MAX_R
    var dp: array<f32, 32>;
    for (var i = 0u; i < 8u * R; i++) {
      sc[i] = 0.0;
      dp[i] = 0.0;
    }
    for (var c = 0u; c < HC; c++) {
      let kb = bcast8(kr[c]);
      let vb = bcast8(vr[c]);
      for (var r = 0u; r < R; r++) {
        let qc = q[r * HC + c];
        let gc = g[r * HC + c];
        for (var j = 0u; j < 8u; j++) {
          sc[r * 8u + j] += dot(qc, kb[j]);
          dp[r * 8u + j] += dot(gc, vb[j]);
        }
      }
    }
    for (var r = 0u; r < R; r++) {
      let last = select(T - 1u, t0 + lane + 8u * r, params.causal == 1u); // last key the row sees
      for (var j = 0u; j < 8u; j++) {
        let p = select(0.0, exp2(sc[r * 8u + j] - lse2[r]), s0 + j <= last && s0 + j < T);
        sc[r * 8u + j] = p * (dp[r * 8u + j] - D[r]);
      }
    }
    for (var c = 0u; c < HC; c++) {
      let kb = bcast8(kr[c]);
      for (var r = 0u; r < R; r++) {
        var a = dq[r * HC + c];
        for (var j = 0u; j < 8u; j++) { a = fma(vec4<f32>(sc[r * 8u + j]), kb[j], a); }
        dq[r * HC + c] = a;
      }
    }
  }

  for (var r = 0u; r < R; r++) {
    let t = t0 + lane + 8u * r;
    if (t < T) {
      let q_at = head + t * C34;
      for (var c = 0u; c < hc; c++) { store_dqkv(q_at + c, dq[r * HC + c] * params.scale); }
    }
  }
}

@compute @workgroup_size(8)
fn attention_backward_dkv_subgroup(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let tl = tile_of(wid, nwg);
  if (!tl.valid) { return; }
  let T = params.T;
  let C4 = params.C / 4u;
  let C34 = 3u * C4;
  let s0 = tl.x0; // key rows s0 + lane + 8 r
  let head = tl.b * T * C34 + tl.h * HC;
  let hc = params.HS / 4u;
  let sl2 = params.scale * LOG2E;

  var k: array<vec4<f32>, MAX_REGS>;   // [r * HC + c]: k_s * scale * log2(e)
  var v: array<vec4<f32>, MAX_REGS>;
  var dk: array<vec4<f32>, MAX_REGS>;  // sum_t dS_ts q_t
  var dv: array<vec4<f32>, MAX_REGS>;  // sum_t P_ts dO_t
  for (var r = 0u; r < R; r++) {
    let k_at = head + min(s0 + lane + 8u * r, T - 1u) * C34 + C4;
    for (var c = 0u; c < hc; c++) {
      k[r * HC + c] = qkv[k_at + c] * sl2;
      v[r * HC + c] = qkv[k_at + C4 + c];
    }
    for (var c = 0u; c < HC; c++) {
      dk[r * HC + c] = vec4<f32>(0.0);
      dv[r * HC + c] = vec4<f32>(0.0);
    }
  }

  // Causal: key s is seen by queries s..T-1, so the tile's queries start at its first key s0.
  let start = select(0u, s0, params.causal == 1u);
  for (var t0 = start; t0 < T; t0 += 8u) {
    let t = min(t0 + lane, T - 1u);
    let q_at = head + t * C34;
    let o_at = (tl.b * T + t) * C4 + tl.h * HC;
    var qr: array<vec4<f32>, MAX_REGS>;  // query t0 + lane
    var gr: array<vec4<f32>, MAX_REGS>;  // its dO
    for (var c = 0u; c < HC; c++) {
      qr[c] = qkv[q_at + c];
      gr[c] = dout[o_at + c];
    }
    let lse2 = bcast8s(lse[tl.bh * T + t] * LOG2E);
    let D = bcast8s(dsum[tl.bh * T + t]);
    // [r * 8 + j]: key row r with query t0 + j. sc: scaled score, then P; dp: dO_t . v_s, then dS.
    var sc: array<f32, 32>; // 8 * MAX_R
    var dp: array<f32, 32>;
    for (var i = 0u; i < 8u * R; i++) {
      sc[i] = 0.0;
      dp[i] = 0.0;
    }
    for (var c = 0u; c < HC; c++) {
      let qb = bcast8(qr[c]);
      let gb = bcast8(gr[c]);
      for (var r = 0u; r < R; r++) {
        let kc = k[r * HC + c];
        let vc = v[r * HC + c];
        for (var j = 0u; j < 8u; j++) {
          sc[r * 8u + j] += dot(kc, qb[j]);
          dp[r * 8u + j] += dot(vc, gb[j]);
        }
      }
    }
    for (var r = 0u; r < R; r++) {
      let s = s0 + lane + 8u * r;
      for (var j = 0u; j < 8u; j++) {
        let seen = t0 + j < T && (params.causal == 0u || t0 + j >= s);
        let p = select(0.0, exp2(sc[r * 8u + j] - lse2[j]), seen);
        sc[r * 8u + j] = p;
        dp[r * 8u + j] = p * (dp[r * 8u + j] - D[j]);
      }
    }
    for (var c = 0u; c < HC; c++) {
      let qb = bcast8(qr[c]);
      let gb = bcast8(gr[c]);
      for (var r = 0u; r < R; r++) {
        var a = dv[r * HC + c];
        var bb = dk[r * HC + c];
        for (var j = 0u; j < 8u; j++) {
          a = fma(vec4<f32>(sc[r * 8u + j]), gb[j], a);
          bb = fma(vec4<f32>(dp[r * 8u + j]), qb[j], bb);
        }
        dv[r * HC + c] = a;
        dk[r * HC + c] = bb;
      }
    }
  }

  for (var r = 0u; r < R; r++) {
    let s = s0 + lane + 8u * r;
    if (s < T) {
      let k_at = head + s * C34 + C4;
      for (var c = 0u; c < hc; c++) {
        store_dqkv(k_at + c, dk[r * HC + c] * params.scale);
        store_dqkv(k_at + C4 + c, dv[r * HC + c]);
      }
    }
  }
}
