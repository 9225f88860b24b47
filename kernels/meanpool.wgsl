// Mean over the token axis (a ViT's global average pool), forward and backward (math in src/ops/meanpool.ts):
//   out[b, c] = (1 / T) sum_t x[b, t, c]                  one invocation per output element (b, c)
//   dx[b, t, c] (+)= dout[b, c] / T                       one invocation per input element (b, t, c)
// The forward sums over t in a fixed order (deterministic); consecutive invocations read consecutive c, so
// loads coalesce. The linear index is (wid.x + wid.y * num_workgroups.x) * WG + local index, so the host can
// fold more than 65535 workgroups into y.

struct Params {
  B: u32,
  T: u32,
  C: u32,
  accumulate: u32, // 1: out += (forward) or dx += (backward); 0: overwrite
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (B, T, C)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // (B, C)
@group(0) @binding(3) var<storage, read> dout: array<f32>;       // (B, C)
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;   // (B, T, C)

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn meanpool_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_index(wid, nwg, lid);
  let C = params.C;
  let T = params.T;
  if (i >= params.B * C) { return; }
  let b = i / C;
  let c = i % C;
  var s = 0.0;
  for (var t = 0u; t < T; t++) {
    s += x[(b * T + t) * C + c];
  }
  var y = s / f32(T);
  if (params.accumulate == 1u) { y += out[i]; }
  out[i] = y;
}

@compute @workgroup_size(WG)
fn meanpool_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_index(wid, nwg, lid);
  let C = params.C;
  let T = params.T;
  if (i >= params.B * T * C) { return; }
  let b = i / (T * C);
  let c = i % C;
  var g = dout[b * C + c] / f32(T);
  if (params.accumulate == 1u) { g += dx[i]; }
  dx[i] = g;
}
