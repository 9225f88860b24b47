// Global gradient norm for clipping, deterministically: no atomics, and a reduction order fixed by n alone.
//
//   grad_sumsq  out[out_offset + w] = sum of inp[i]^2 over the elements workgroup w visits. G workgroups of 256
//               stride over the n / 4 vec4s of inp with grid stride G * 256; invocation 0..2 of workgroup 0 also
//               take the n % 4 tail elements. With G = 1 the one partial is the block's final value and the op
//               writes it straight into sumsq[slot]; with G > 1 the partials go to a scratch buffer and grad_sum
//               adds them.
//   grad_sum    the same walk without squaring; run as one workgroup over the G partials, it writes sumsq[slot].
// inp and inp4 are the same buffer, bound twice (read-only): vec4 loads for the body, scalar loads for the tail,
// so any n works. Each invocation keeps a vec4 of running sums, then a tree reduction in workgroup memory adds
// the workgroup's, so the result depends only on n (which fixes G), never on timing. The clip scale is in
// grad_clip.wgsl.

const WG: u32 = 256u;

struct Params {
  n: u32,          // elements of inp
  stride: u32,     // grid stride in vec4s: (workgroups dispatched) * WG
  out_offset: u32, // workgroup w writes out[out_offset + w]
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;        // (n), read for the tail [4 (n / 4), n)
@group(0) @binding(2) var<storage, read> inp4: array<vec4<f32>>; // the same buffer as (n / 4) vec4s
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> shared_sum: array<f32, 256>;

// Sum (of squares when `square`) of this invocation's elements, then of the workgroup in a fixed tree order;
// workgroup w's invocation 0 stores the total. Every invocation must call it (barriers).
fn reduce(lid: u32, wg: u32, square: bool) {
  let n4 = params.n / 4u;
  var s = vec4<f32>(0.0);
  for (var i = wg * WG + lid; i < n4; i += params.stride) {
    var a = inp4[i];
    if (square) { a = a * a; }
    s += a;
  }
  var total = (s.x + s.y) + (s.z + s.w);
  let tail = 4u * n4 + lid;
  if (wg == 0u && lid < 3u && tail < params.n) {
    var a = inp[tail];
    if (square) { a = a * a; }
    total += a;
  }
  shared_sum[lid] = total;
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
