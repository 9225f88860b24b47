// Gradient clip scale, as torch.nn.utils.clip_grad_norm_ computes it:
//   norm = sqrt(sum of sumsq[0, n_slots))      (sumsq: one sum of squared gradients per parameter block)
//   scale = max_norm > 0 ? min(1, max_norm / (norm + 1e-6)) : 1
//   clip = [scale, norm]
// One invocation adds the slots in slot order (there are a handful, one per block), so the norm is deterministic.
// It lives apart from grad_norm.wgsl because the engine gives every kernel of a file the one `params` struct.

struct Params {
  n_slots: u32,
  max_norm: f32, // <= 0: no clipping (scale 1)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sumsq: array<f32>;      // (n_slots)
@group(0) @binding(2) var<storage, read_write> clip: array<f32>; // (2): [scale, norm]

@compute @workgroup_size(1)
fn grad_clip_scale() {
  var s = 0.0;
  for (var i = 0u; i < params.n_slots; i++) { s += sumsq[i]; }
  let norm = sqrt(s);
  var scale = 1.0;
  if (params.max_norm > 0.0) { scale = min(1.0, params.max_norm / (norm + 1e-6)); }
  clip[0] = scale;
  clip[1] = norm;
}
