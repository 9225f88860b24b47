// Learned position embedding added to every item of a batch (a ViT's pos_embed), forward and backward (math in
// src/ops/posembed.ts):
//   out[b, t, c] = x[b, t, c] + pos[t, c]                 one invocation per element (b, t, c)
//   dx[b, t, c] (+)= dout[b, t, c];  dpos[t, c] (+)= sum_b dout[b, t, c]
// The backward is one dispatch: one invocation per (t, c) walks the B items in order, writing dx and summing
// dpos (a fixed order, no atomics: deterministic). The linear index is (wid.x + wid.y * num_workgroups.x) * WG
// + local index, so the host can fold more than 65535 workgroups into y.

struct Params {
  B: u32,
  T: u32,
  C: u32,
  accumulate: u32,     // 1: out += (forward) or dx += (backward); 0: overwrite
  accumulate_pos: u32, // backward only: 1: dpos += the sum; 0: dpos = the sum
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // (B, T, C)
@group(0) @binding(2) var<storage, read> pos: array<f32>;         // (T, C)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // (B, T, C)
@group(0) @binding(4) var<storage, read> dout: array<f32>;        // (B, T, C)
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;    // (B, T, C)
@group(0) @binding(6) var<storage, read_write> dpos: array<f32>;  // (T, C)

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn posembed_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_index(wid, nwg, lid);
  let TC = params.T * params.C;
  if (i >= params.B * TC) { return; }
  var y = x[i] + pos[i % TC];
  if (params.accumulate == 1u) { y += out[i]; }
  out[i] = y;
}

@compute @workgroup_size(WG)
fn posembed_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let j = linear_index(wid, nwg, lid);
  let TC = params.T * params.C;
  if (j >= TC) { return; }
  var s = 0.0;
  for (var b = 0u; b < params.B; b++) {
    let i = b * TC + j;
    let g = dout[i];
    s += g;
    if (params.accumulate == 1u) { dx[i] += g; } else { dx[i] = g; }
  }
  if (params.accumulate_pos == 1u) { dpos[j] += s; } else { dpos[j] = s; }
}
