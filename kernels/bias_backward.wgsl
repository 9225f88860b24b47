// Bias gradient: dbias[n] += sum over rows m of dout[m, n]. One invocation per column walks all rows, so the
// sum is deterministic (no atomics). accumulate = 1 adds to dbias (the parameter rule), 0 overwrites it.

struct Params {
  M: u32,
  N: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;

@compute @workgroup_size(64)
fn bias_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= params.N) { return; }
  var s0 = 0.0;
  var s1 = 0.0;
  var m = 0u;
  // Two partial sums halve the dependency chain.
  for (; m + 1u < params.M; m += 2u) {
    s0 += dout[m * params.N + n];
    s1 += dout[(m + 1u) * params.N + n];
  }
  if (m < params.M) { s0 += dout[m * params.N + n]; }
  if (params.accumulate == 1u) { dbias[n] += s0 + s1; } else { dbias[n] = s0 + s1; }
}
