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

// adamw_update_dual also stores the new p as Operand values (p_operand, four per Operand4, through store4): the f16
// copy of the weights that f16 mixed precision's matmuls read (src/ops/half-weights.ts). The registry's f16 twin
// (src/runtime/kernels.ts) makes them packed f16 with cast_to_f16's rounding, so a weight's copy is current after
// the update without a cast in the next forward. When clip[2] != 0 it writes nothing either.
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }
alias Operand4 = vec4<f32>;
fn load4(x: Operand4) -> vec4<f32> { return x; }
fn store4(v: vec4<f32>) -> Operand4 { return v; }

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
@group(0) @binding(7) var<storage, read_write> p_operand: array<Operand4>; // (n): adamw_update_dual only

// The step's factors, the same for every element of the block.
struct Step {
  step_size: f32, // lr / bc1
  bc2_sqrt: f32,
  decay: f32,     // 1 - lr * wd
  scale: f32,     // clip[0]
}

fn step_factors() -> Step {
  let s = step_scalars[params.block];
  let lr = s.x;
  return Step(lr / s.y, sqrt(s.z), 1.0 - lr * params.weight_decay, clip[0]);
}

// Updates m[i] and v[i] in place and returns the new p[i], for the caller to store.
fn update4(i: u32, f: Step) -> vec4<f32> {
  let g = grads[i] * f.scale;
  let mi = m[i] + params.one_minus_beta1 * (g - m[i]);
  let vi = params.beta2 * v[i] + params.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let elem = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
  let pd = select(p[i], p[i] * f.decay, elem < vec4<u32>(params.decay_count));
  return pd - f.step_size * (mi / (sqrt(vi) / f.bc2_sqrt + params.eps));
}

@compute @workgroup_size(WG)
fn adamw_update(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  if (clip[2] != 0.0) { return; }
  let f = step_factors();
  let base = (wid.x + wid.y * params.wg_x) * WG * ITEMS + lid.x;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= params.n4) { return; }
    p[i] = update4(i, f);
  }
}

@compute @workgroup_size(WG)
fn adamw_update_dual(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  if (clip[2] != 0.0) { return; }
  let f = step_factors();
  let base = (wid.x + wid.y * params.wg_x) * WG * ITEMS + lid.x;
  for (var k = 0u; k < ITEMS; k++) {
    let i = base + k * WG;
    if (i >= params.n4) { return; }
    let np = update4(i, f);
    p[i] = np;
    p_operand[i] = store4(np);
  }
}
