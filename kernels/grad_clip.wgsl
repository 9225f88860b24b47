// Gradient clip scale, as torch.nn.utils.clip_grad_norm_ computes it, on gradients of a loss multiplied by the
// loss scale S (1 without loss scaling; src/train/loss-scale.ts), so that the update sees the unscaled ones:
//   norm = sqrt(sum of sumsq[0, n_slots)) / S   (sumsq: one sum of squared gradients per parameter block)
//   scale = (max_norm > 0 ? min(1, max_norm / (norm + 1e-6)) : 1) / S
//   clip = [scale, norm, 0, 0]
// A sum that is not finite (an overflow, or a NaN anywhere in the gradients) gives clip = [0, sum, 1, 0]:
// clip[2] = 1 tells adamw_update to change nothing, and the trainer reads it to skip the step and back off S.
// One invocation adds the slots in slot order (there are a handful, one per block), so the norm is deterministic.
// It lives apart from grad_norm.wgsl because the engine gives every kernel of a file the one `params` struct.

struct Params {
  n_slots: u32,
  max_norm: f32,       // <= 0: no clipping (scale 1)
  inv_loss_scale: f32, // 1 / S
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sumsq: array<f32>;      // (n_slots)
@group(0) @binding(2) var<storage, read_write> clip: array<f32>; // (4): [scale, norm, overflow, 0]

@compute @workgroup_size(1)
fn grad_clip_scale() {
  var s = 0.0;
  for (var i = 0u; i < params.n_slots; i++) { s += sumsq[i]; }
  // The exponent test, not s != s: compilers may assume no NaNs and fold that away.
  if ((bitcast<u32>(s) & 0x7f800000u) == 0x7f800000u) {
    clip[0] = 0.0;
    clip[1] = s;
    clip[2] = 1.0;
    clip[3] = 0.0;
    return;
  }
  let norm = sqrt(s) * params.inv_loss_scale;
  var scale = 1.0;
  if (params.max_norm > 0.0) { scale = min(1.0, params.max_norm / (norm + 1e-6)); }
  clip[0] = scale * params.inv_loss_scale;
  clip[1] = norm;
  clip[2] = 0.0;
  clip[3] = 0.0;
}
