// Global gradient norm for clipping, deterministically: no atomics, and a reduction order fixed by n alone.
//
//   grad_sumsq  out[out_offset + w] = sum of inp[i]^2 over the elements workgroup w visits. G workgroups of 256
//               stride over inp[0, n) with grid stride G * 256. With G = 1 the one partial is the block's final
//               value and the op writes it straight into sumsq[slot]; with G > 1 the partials go to a scratch
//               buffer and grad_sum adds them.
//   grad_sum    the same walk without squaring; run as one workgroup over the G partials, it writes sumsq[slot].
// Each invocation keeps two running sums, then a tree reduction in workgroup memory adds the workgroup's sums,
// so the result depends only on n (which fixes G), never on timing. The clip scale is in grad_clip.wgsl.

const WG: u32 = 256u;

struct Params {
  n: u32,          // elements of inp
  stride: u32,     // (workgroups dispatched) * WG: the grid stride
  out_offset: u32, // workgroup w writes out[out_offset + w]
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;    // (n)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> shared_sum: array<f32, 256>;

// Sum (of squares when `square`) of this invocation's elements, then of the workgroup in a fixed tree order;
// workgroup w's invocation 0 stores the total. Every invocation must call it (barriers).
fn reduce(lid: u32, wg: u32, square: bool) {
  let n = params.n;
  let stride = params.stride;
  var s0 = 0.0;
  var s1 = 0.0;
  var i = wg * WG + lid;
  // Two independent sums halve the dependency chain. i + stride cannot overflow: n * 4 bytes fits a binding.
  for (; i + stride < n; i += 2u * stride) {
    var a = inp[i];
    var b = inp[i + stride];
    if (square) {
      a = a * a;
      b = b * b;
    }
    s0 += a;
    s1 += b;
  }
  if (i < n) {
    var a = inp[i];
    if (square) { a = a * a; }
    s0 += a;
  }
  shared_sum[lid] = s0 + s1;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k >> 1u) {
    if (lid < k) { shared_sum[lid] += shared_sum[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[params.out_offset + wg] = shared_sum[0]; }
}

@compute @workgroup_size(256)
fn grad_sumsq(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  reduce(lid.x, wid.x, true);
}

@compute @workgroup_size(256)
fn grad_sum(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  reduce(lid.x, wid.x, false);
}
