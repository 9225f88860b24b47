// f32 -> f16 for the matmuls of f16 mixed precision (src/ops/cast.ts): out = f16(x), x outside f16's finite range
// (|x| > 65504) or not finite -> +-inf, so that an overflow is never hidden by a clamp: the loss scaler finds it
// as a non-finite gradient norm and skips the step (src/train/loss-scale.ts).
// Rounding to f16 is the implementation's (WGSL allows either neighbour of an inexact value).
//
// Each invocation converts 4 consecutive elements and stores them as two vec2<f16>: a 4-byte store per pair,
// so that no two invocations write halves of one 32-bit word. When n is odd the last pair's second half is
// written as 0; it is padding (tensors start on 256-byte boundaries, so it belongs to nobody else). An
// invocation's first element is 4 * ((wid.y * num_workgroups.x + wid.x) * WG + local index), so the host can
// fold more than 65535 workgroups into y.

enable f16;

struct Params {
  n: u32, // elements
}

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;                 // (n)
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f16>>;   // (ceil(n / 2))

const F16_MAX: f32 = 65504.0;

// The f16 bits of element i in the low 16 bits (0 past n). Infinities are assembled as bits: WGSL has no f16
// infinity literal, and a constant bitcast to one is a compile error.
fn half_bits(i: u32) -> u32 {
  if (i >= params.n) { return 0u; }
  let v = x[i];
  // The exponent test, not v != v: compilers may assume no NaNs and fold that away.
  let nonfinite = (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
  if (nonfinite || abs(v) > F16_MAX) { return select(0x7c00u, 0xfc00u, v < 0.0); }
  return bitcast<u32>(vec2<f16>(f16(v), 0.0h)) & 0xffffu;
}

fn pair(i: u32) -> vec2<f16> {
  return bitcast<vec2<f16>>(half_bits(i) | (half_bits(i + 1u) << 16u));
}

@compute @workgroup_size(WG)
fn cast_to_f16(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = ((wid.y * nwg.x + wid.x) * WG + lid) * 4u;
  if (i >= params.n) { return; }
  out[i / 2u] = pair(i);
  if (i + 2u < params.n) { out[i / 2u + 1u] = pair(i + 2u); }
}
