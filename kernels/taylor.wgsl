// SBLD's online ("taylor") sensitivity of one layer: out[slot] (+)= sum over rows r of |<g_r, h_out_r - h_in_r>|,
// where g = dLoss/dh_out and h_out - h_in is the layer's residual contribution f_l(h_in). Each row is one token
// (C channels). One workgroup of 256 walks the rows with a fixed stride and reduces in a fixed tree order, so the
// result is deterministic (no atomics). Cost: three reads of (rows, C); a few microseconds at training sizes.

const WG: u32 = 256u;

struct Params {
  rows: u32,
  C: u32,
  slot: u32,
  accumulate: u32, // 1: add to out[slot] (micro-batches of one step), 0: overwrite
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;  // (rows, C) dLoss/dh_out
@group(0) @binding(2) var<storage, read> h_out: array<f32>; // (rows, C)
@group(0) @binding(3) var<storage, read> h_in: array<f32>;  // (rows, C)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn taylor_sensitivity(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var r = lid.x; r < params.rows; r += WG) {
    let base = r * params.C;
    var d = 0.0;
    for (var c = 0u; c < params.C; c++) {
      d = fma(grad[base + c], h_out[base + c] - h_in[base + c], d);
    }
    s += abs(d);
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k >> 1u) {
    if (lid.x < k) { partial[lid.x] += partial[lid.x + k]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    if (params.accumulate == 1u) { out[params.slot] += partial[0]; } else { out[params.slot] = partial[0]; }
  }
}
