// Fused multi-head self-attention, forward, for CPU adapters (llvmpipe / lavapipe) with 8-wide subgroups.
// Same contract, bindings and params as attention_forward in attention.wgsl: out = softmax(q k^T * scale) v per
// (b, h) (causal or not) and lse[b, h, t] = log(sum_s exp(S[t, s])) for the backward pass, which may run either
// backward kernel pair. src/ops/attention.ts picks this entry point on a CPU adapter with subgroups of at least 8
// lanes when HS % 4 == 0 and the tensors start on 16 bytes (vec4 loads); everything else takes attention.wgsl.
//
// Why it looks like this (see also matmul_subgroup.wgsl): llvmpipe runs the 8 lanes of a subgroup as one 8-wide
// SIMD group and loads storage memory one lane and one float at a time (about 10 instructions each), while
// arithmetic and subgroupBroadcast from a constant lane are one vector instruction each. attention.wgsl has every
// lane load every key and value row it visits: 2 HS floats per lane per (query, key) pair. Here:
//   - one workgroup = one subgroup of 8 lanes owns 8 R query rows of one (b, h): lane i owns rows t0 + i + 8 r,
//     r < R, with its q rows (pre-scaled by scale * log2(e), so that exp2 gives the softmax) and output
//     accumulators in private arrays;
//   - per block of 8 keys, lane j loads key s0 + j's k and v rows (HC vec4 each) and subgroupBroadcast hands
//     every chunk to all lanes: a lane loads 2 HS / (8 R) floats per pair instead of 2 HS;
//   - each lane computes its R x 8 scores, then one online-softmax step per row for the whole block (one rescale
//     of the accumulator per 8 keys, not per key), then acc += p v with v broadcast again.
// HC (= HS / 4) and R are override constants, chosen by the host per dispatch (R * HC <= MAX_REGS, fewer rows for
// short sequences): loops over them unroll and every access to the private arrays in the key loop has a constant
// index. The one-off loads of q and stores of out loop to the run-time bound params.HS / 4 instead, which the
// compiler does not unroll: llvmpipe compiles each lane's load or store of a float into a branch, and unrolled they
// took 5-28 s to compile per kernel instead of 1.5-3 s, for 5-10% more speed.
// Variants measured (throwaway harnesses; interleaved medians of process CPU time at B=16 NH=4 HS=32, T=64 and
// 256) and dropped: R = 1 (8 rows per subgroup: 5-20% slower); R = 2 (within 10% of R = 4 either way; the host
// still takes it for T <= 16, where R = 4 would leave most rows past T); R = 8 (48 s to compile); q . k as an
// explicit fma chain (same speed; llvmpipe splits fma into a multiply and an add anyway) or as vec4 partial sums
// reduced once per block (35% slower); the per-block k / v loads as a run-time loop too (compiles 1.5-3x faster,
// 15-20% slower).
//
// Masking: keys past T (the last block) and, causal, keys after the row are excluded with select; key 0 is in
// every row's first block, so the running max is finite after it. Rows past T compute on row T - 1's data and are
// not stored.

enable subgroups;

// Under f16 mixed precision the output's one reader is a linear that takes f16 operands, so the kernel stores a
// copy of out for it (store_operand = 1): Operand values, four per Operand4, through store4, which the registry's
// f16 twin (src/runtime/kernels.ts; entry point NAME_f16) makes packed f16 with cast_to_f16's rounding. Here, in
// f32, store_operand is 0 and out_operand an unused binding.
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
  HS: u32,      // C / NH, a multiple of 4, at most 4 * MAX_REGS
  causal: u32,  // 1: query t sees keys 0..t; 0: all T keys
  scale: f32,   // 1 / sqrt(HS)
  store_operand: u32, // 1: out_operand = out too
}

override HC: u32 = 8u;  // HS / 4: vec4 chunks per head vector
override R: u32 = 4u;   // query rows per lane (8 R per workgroup); R <= MAX_R, R * HC <= MAX_REGS

const MAX_R: u32 = 4u;
const MAX_REGS: u32 = 32u;  // vec4 per private array
const NEG: f32 = -3.0e38;   // masked score (finite: exp2(NEG - m) is 0 without inf - inf)
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;        // (B, T, 3C)
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;  // (B, T, C)
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;        // (B, NH, T)
@group(0) @binding(4) var<storage, read_write> out_operand: array<Operand4>; // (B, T, C) when store_operand

// Every lane gets lane j's x in result[j].
fn bcast8(x: vec4<f32>) -> array<vec4<f32>, 8> {
  return array(
    subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
    subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u),
  );
}

// Grid: B * NH * ceil(T / (8 R)) workgroups of one subgroup, (b, h) outer, folded into y past 65535 by the host.
@compute @workgroup_size(8)
fn attention_forward_subgroup(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let T = params.T;
  let tiles = (T + 8u * R - 1u) / (8u * R);
  let g = wid.y * nwg.x + wid.x;
  if (g >= params.B * params.NH * tiles) { return; }
  let bh = g / tiles;
  let b = bh / params.NH;
  let h = bh % params.NH;
  let t0 = (g % tiles) * 8u * R;
  let C4 = params.C / 4u;
  let C34 = 3u * C4;
  let head = b * T * C34 + h * HC; // q chunks of head h at (b, t = 0); k is + C4, v is + 2 C4
  let hc = params.HS / 4u;         // = HC, as a bound the compiler does not unroll (see the header)
  let sl2 = params.scale * LOG2E;

  var q: array<vec4<f32>, MAX_REGS>;    // [r * HC + c]: row r's q, times scale * log2(e)
  var acc: array<vec4<f32>, MAX_REGS>;  // [r * HC + c]: row r's sum of p v
  var m: array<f32, MAX_R>;             // running max of row r's scores (log2 units)
  var l: array<f32, MAX_R>;             // running sum of exp2(score - m)
  for (var r = 0u; r < R; r++) {
    let q_at = head + min(t0 + lane + 8u * r, T - 1u) * C34;
    for (var c = 0u; c < hc; c++) { q[r * HC + c] = qkv[q_at + c] * sl2; }
    for (var c = 0u; c < HC; c++) { acc[r * HC + c] = vec4<f32>(0.0); }
    m[r] = NEG;
    l[r] = 0.0;
  }

  let end = select(T, min(T, t0 + 8u * R), params.causal == 1u); // keys past the tile's last row are unseen
  for (var s0 = 0u; s0 < end; s0 += 8u) {
    let k_at = head + min(s0 + lane, T - 1u) * C34 + C4;
    var kr: array<vec4<f32>, MAX_REGS>;  // key s0 + lane
    var vr: array<vec4<f32>, MAX_REGS>;
    for (var c = 0u; c < HC; c++) {
      kr[c] = qkv[k_at + c];
      vr[c] = qkv[k_at + C4 + c];
    }
    // sc[r * 8 + j] = score of row r with key s0 + j, then its p.
    var sc: array<f32, 32>; // 8 * MAX_R
    for (var i = 0u; i < 8u * R; i++) { sc[i] = 0.0; }
    for (var c = 0u; c < HC; c++) {
      let kb = bcast8(kr[c]);
      for (var r = 0u; r < R; r++) {
        let qc = q[r * HC + c];
        for (var j = 0u; j < 8u; j++) { sc[r * 8u + j] += dot(qc, kb[j]); }
      }
    }
    // Online softmax over the block: m_new = max(m, scores), rescale what came before by exp2(m - m_new).
    var corr: array<f32, MAX_R>;
    for (var r = 0u; r < R; r++) {
      let last = select(T - 1u, t0 + lane + 8u * r, params.causal == 1u); // last key the row sees
      var mx = m[r];
      for (var j = 0u; j < 8u; j++) {
        let x = select(NEG, sc[r * 8u + j], s0 + j <= last && s0 + j < T);
        sc[r * 8u + j] = x;
        mx = max(mx, x);
      }
      corr[r] = exp2(m[r] - mx);
      var sum = 0.0;
      for (var j = 0u; j < 8u; j++) {
        let p = select(0.0, exp2(sc[r * 8u + j] - mx), sc[r * 8u + j] > NEG);
        sc[r * 8u + j] = p;
        sum += p;
      }
      l[r] = l[r] * corr[r] + sum;
      m[r] = mx;
    }
    for (var c = 0u; c < HC; c++) {
      let vb = bcast8(vr[c]);
      for (var r = 0u; r < R; r++) {
        var a = acc[r * HC + c] * corr[r];
        for (var j = 0u; j < 8u; j++) { a = fma(vec4<f32>(sc[r * 8u + j]), vb[j], a); }
        acc[r * HC + c] = a;
      }
    }
  }

  for (var r = 0u; r < R; r++) {
    let t = t0 + lane + 8u * r;
    if (t < T) {
      lse[bh * T + t] = (m[r] + log2(l[r])) / LOG2E;
      let inv = 1.0 / l[r];
      let o_at = (b * T + t) * C4 + h * HC;
      for (var c = 0u; c < hc; c++) {
        let o = acc[r * HC + c] * inv;
        out[o_at + c] = o;
        if (params.store_operand == 1u) { out_operand[o_at + c] = store4(o); }
      }
    }
  }
}
