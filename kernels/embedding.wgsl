// Token + position embedding, forward and backward (the math is in src/ops/embedding.ts).
//
// Every kernel runs one workgroup per output row (a position, a token id, or a position id); its WG invocations
// stride over the C channels, so neighbouring invocations touch neighbouring floats. The row index is rebuilt
// from num_workgroups because more than 65535 rows (B * T, or V = 50257+ token ids) are folded into y.
// The backward kernels sum in a fixed order and write each element from one invocation: no atomics, so the
// gradients are deterministic. The three kernels share one params struct (a module has one `params`); a
// kernel ignores the members it does not need and the host passes them as 0.

struct Params {
  B: u32,
  T: u32,
  C: u32,
  V: u32,
  maxT: u32,
  accumulate: u32, // backward: 1 adds into the gradient (+=), 0 writes every element (=)
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tokens: array<i32>;      // (B, T)
@group(0) @binding(2) var<storage, read> wte: array<f32>;         // (V, C)
@group(0) @binding(3) var<storage, read> wpe: array<f32>;         // (maxT, C)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;   // (B, T, C)
@group(0) @binding(5) var<storage, read> dout: array<f32>;        // (B, T, C)
@group(0) @binding(6) var<storage, read> offsets: array<i32>;     // (V + 1) CSR row starts of the token index
@group(0) @binding(7) var<storage, read> positions: array<i32>;   // (B * T) positions grouped by token id
@group(0) @binding(8) var<storage, read_write> dwte: array<f32>;  // (V, C)
@group(0) @binding(9) var<storage, read_write> dwpe: array<f32>;  // (maxT, C)

fn folded_row(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]; one workgroup per position b * T + t.
@compute @workgroup_size(WG)
fn embedding_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = folded_row(wid, nwg);
  if (row >= params.B * params.T) { return; }
  let C = params.C;
  let t = row % params.T;
  let tok = tokens[row];
  // Ids are validated when uploaded; an id outside [0, V) anyway adds a zero row instead of reading out of bounds.
  let valid = tok >= 0 && u32(tok) < params.V;
  let wte_base = select(0u, u32(tok) * C, valid);
  let wpe_base = t * C;
  let out_base = row * C;
  for (var c = lid; c < C; c += WG) {
    var v = wpe[wpe_base + c];
    if (valid) { v += wte[wte_base + c]; }
    out[out_base + c] = v;
  }
}

// dwte[v, :] (+)= sum over the positions p listed for token v (ascending) of dout[p, :]; one workgroup per token
// id. A token that does not occur adds nothing, or writes zeros when not accumulating.
@compute @workgroup_size(WG)
fn embedding_backward_wte(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let v = folded_row(wid, nwg);
  if (v >= params.V) { return; }
  let C = params.C;
  let first = u32(offsets[v]);
  let last = u32(offsets[v + 1u]);
  if (first == last && params.accumulate == 1u) { return; }
  let base = v * C;
  for (var c = lid; c < C; c += WG) {
    var s = 0.0;
    for (var i = first; i < last; i++) {
      s += dout[u32(positions[i]) * C + c];
    }
    if (params.accumulate == 1u) { dwte[base + c] += s; } else { dwte[base + c] = s; }
  }
}

// dwpe[t, :] (+)= sum over b of dout[b, t, :]; one workgroup per row of wpe. Rows t >= T get no gradient
// (zeros when not accumulating).
@compute @workgroup_size(WG)
fn embedding_backward_wpe(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = folded_row(wid, nwg);
  if (t >= params.maxT) { return; }
  if (t >= params.T && params.accumulate == 1u) { return; }
  let C = params.C;
  let T = params.T;
  let B = select(0u, params.B, t < T);
  let base = t * C;
  for (var c = lid; c < C; c += WG) {
    var s = 0.0;
    for (var b = 0u; b < B; b++) {
      s += dout[(b * T + t) * C + c];
    }
    if (params.accumulate == 1u) { dwpe[base + c] += s; } else { dwpe[base + c] = s; }
  }
}
