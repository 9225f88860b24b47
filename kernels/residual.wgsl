// Residual add with a scale on the branch:  out = h + scale * branch  (scale = 1/p rescales a kept layer's
// branch when layers are dropped with keep probability p).
// Backward:  dh (+)= dout,  dbranch (+)= scale * dout  (one dispatch writes both).
//
// Each invocation handles 4 consecutive elements in a plain loop: both kernels are memory-bound, and a vec4
// fast path (as in gelu.wgsl) measured no faster on lavapipe. An invocation's first element is
// 4 * ((wid.y * num_workgroups.x + wid.x) * WG + local index), so the host can fold more than 65535
// workgroups into y.

// residual_backward_dual also stores dbranch as the input of the next matmul under f16 mixed precision
// (src/ops/linear_residual.ts): Operand values, four per Operand4, through store4. The registry's f16 twin
// (src/runtime/kernels.ts) makes them packed f16, so the dual kernel replaces residual_backward and a cast_to_f16
// of its dbranch, with the same values. It needs n % 4 == 0 (an Operand4 holds four elements; the host checks).
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }
alias Operand4 = vec4<f32>;
fn load4(x: Operand4) -> vec4<f32> { return x; }
fn store4(v: vec4<f32>) -> Operand4 { return v; }

// One struct for all kernels (the uniform must be named params).
struct Params {
  n: u32,                 // elements
  scale: f32,
  accumulate: u32,        // 1: out += (residual_forward) or dh += (residual_backward); 0: overwrite
  accumulate_branch: u32, // residual_backward only: 1: dbranch += scale * dout; 0: overwrite
}

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;               // (n)
@group(0) @binding(2) var<storage, read> branch: array<f32>;          // (n)
@group(0) @binding(3) var<storage, read> dout: array<f32>;            // (n)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;       // (n)
@group(0) @binding(5) var<storage, read_write> dh: array<f32>;        // (n)
@group(0) @binding(6) var<storage, read_write> dbranch: array<f32>;   // (n)
@group(0) @binding(7) var<storage, read_write> dbranch_operand: array<Operand4>; // (n / 4): residual_backward_dual only

fn first_element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return ((wid.y * nwg.x + wid.x) * WG + lid) * 4u;
}

@compute @workgroup_size(WG)
fn residual_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = first_element(wid, nwg, lid);
  let n = params.n;
  if (i >= n) { return; }
  let end = min(i + 4u, n);
  for (var k = i; k < end; k++) {
    var y = fma(params.scale, branch[k], h[k]);
    if (params.accumulate == 1u) { y += out[k]; }
    out[k] = y;
  }
}

@compute @workgroup_size(WG)
fn residual_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = first_element(wid, nwg, lid);
  let n = params.n;
  if (i >= n) { return; }
  let end = min(i + 4u, n);
  for (var k = i; k < end; k++) {
    dbranch[k] = backward1(k);
  }
}

// dh[k] (+)= dout[k], stored; returns dbranch[k] (+)= scale * dout[k], for the caller to store.
fn backward1(k: u32) -> f32 {
  let g = dout[k];
  var a = g;
  var b = params.scale * g;
  if (params.accumulate == 1u) { a += dh[k]; }
  if (params.accumulate_branch == 1u) { b += dbranch[k]; }
  dh[k] = a;
  return b;
}

// residual_backward that also stores dbranch as Operand values (see the header); n % 4 == 0.
@compute @workgroup_size(WG)
fn residual_backward_dual(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = first_element(wid, nwg, lid);
  if (i >= params.n) { return; }
  let b = vec4(backward1(i), backward1(i + 1u), backward1(i + 2u), backward1(i + 3u));
  dbranch[i] = b.x;
  dbranch[i + 1u] = b.y;
  dbranch[i + 2u] = b.z;
  dbranch[i + 3u] = b.w;
  dbranch_operand[i / 4u] = store4(b);
}
