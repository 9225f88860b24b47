// AdamW update of one parameter block (PyTorch torch.optim.AdamW semantics, single-tensor path), in place:
//   nothing at all when clip[2] != 0                      (the gradients overflowed: grad_clip.wgsl)
//   g = grads * clip[0]                                   (global-norm clip scale, and 1 / loss scale)
//   p = p * (1 - lr * wd)        for elements i < decay_count, with the OLD p, BEFORE the Adam step (as PyTorch)
//   m = m + (1 - b1) * (g - m)                            (torch: exp_avg.lerp_(grad, 1 - beta1))
//   v = b2 * v + (1 - b2) * g * g
//   p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)  (torch: denom = exp_avg_sq.sqrt() / sqrt(bc2) + eps)
// where [lr, bc1, bc2] = step_scalars[block].xyz, bc1 = 1 - b1^t, bc2 = 1 - b2^t, t the block's own step count.
// lr and the bias corrections change every step, so they come from a storage buffer the trainer writes once per
// step, not from the (cached) params uniform. The block holds n = 4 * n4 elements (the op asserts n % 4 == 0;
// the trainer pads blocks to multiples of 64); each invocation updates ITEMS vec4s, WG apart, so a warp's loads
// are contiguous. Grids over 65535 workgroups wrap into y: workgroup index = wid.x + wid.y * wg_x.

struct Params {
  n4: u32,              // vec4s in the block
  decay_count: u32,     // elements [0, decay_count) get decoupled weight decay
  block: u32,           // this block's entry in step_scalars
  wg_x: u32,            // workgroups along x
  one_minus_beta1: f32, // 1 - b1, computed on the host in float64 as PyTorch does
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32,
}

override WG: u32 = 256u;
override ITEMS: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<vec4<f32>>;   // (n)
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;     // (n)
@group(0) @binding(3) var<storage, read_write> m: array<vec4<f32>>;   // (n)
@group(0) @binding(4) var<storage, read_write> v: array<vec4<f32>>;   // (n)
@group(0) @binding(5) var<storage, read> step_scalars: array<vec4<f32>>; // (nBlocks * 4): [lr, bc1, bc2, 0]
@group(0) @binding(6) var<storage, read> clip: array<f32>;            // (4): [scale, norm, overflow, 0]

@compute @workgroup_size(WG)
fn adamw_update(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  if (clip[2] != 0.0) { return; }
  let s = step_scalars[params.block];
  let lr = s.x;
  let step_size = lr / s.y;
  let bc2_sqrt = sqrt(s.z);
  let decay = 1.0 - lr * params.weight_decay;
  let scale = clip[0];
  let base = (wid.x + wid.y * params.wg_x) * WG * ITEMS + lid.x;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= params.n4) { return; }
    let g = grads[i] * scale;
    let mi = m[i] + params.one_minus_beta1 * (g - m[i]);
    let vi = params.beta2 * v[i] + params.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    let elem = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
    let pd = select(p[i], p[i] * decay, elem < vec4<u32>(params.decay_count));
    p[i] = pd - step_size * (mi / (sqrt(vi) / bc2_sqrt + params.eps));
  }
}
