// GELU, tanh approximation (GPT-2):  gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3).
// Evaluated as the same function written with a sigmoid, 0.5 (1 + tanh(u)) = s = 1 / (1 + exp(-2u)):
// 1 + tanh(u) cancels to nothing for negative x (tanh(u) ~ -1), and tanh itself returns NaN for large
// arguments on some implementations. u is clamped to +-40 so exp(-2u) stays finite (exp(80) ~ 5.5e34; WGSL
// leaves an overflowing exp indeterminate): past that s is 1 to f32 precision, or below 2e-35, so
// gelu(x) = x s is still ~0 for any realistic negative x.
// Backward: dx (+)= dout * (s + 2 x s (1 - s) du/dx),  du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// (from d tanh(u) = 1 - tanh(u)^2 = 4 s (1 - s)); 1 - s = exp(-2u) s, without cancellation either.
//
// Each invocation handles 4 consecutive elements as one vec4 (the math vectorises; the loads are scalar
// because n need not be a multiple of 4, and a vec4 binding could not reach the tail). An invocation's
// first element is 4 * ((wid.y * num_workgroups.x + wid.x) * WG + local index), so the host can fold more
// than 65535 workgroups into y.

// gelu_backward_dual also stores dx as the input of the next matmul under f16 mixed precision (src/ops/linear_gelu.ts):
// Operand values, four per Operand4, through store4. The registry's f16 twin (src/runtime/kernels.ts) makes them
// packed f16, so the dual kernel replaces gelu_backward and a cast_to_f16 of its output, with the same values.
// It needs n % 4 == 0 (an Operand4 holds four elements; the host checks).
alias Operand = f32;
fn to_operand(v: f32) -> Operand { return Operand(v); }
alias Operand4 = vec4<f32>;
fn load4(x: Operand4) -> vec4<f32> { return x; }
fn store4(v: vec4<f32>) -> Operand4 { return v; }

struct Params {
  n: u32,          // elements
  accumulate: u32, // 1: out += result (gelu_forward) or dx += result (gelu_backward); 0: overwrite
}

override WG: u32 = 64;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_COEF: f32 = 0.044715;
const U_MAX: f32 = 40.0;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (n)
@group(0) @binding(2) var<storage, read> dout: array<f32>;       // (n)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (n)
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;   // (n)
@group(0) @binding(5) var<storage, read_write> dx_operand: array<Operand4>; // (n / 4): gelu_backward_dual only

fn first_element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return ((wid.y * nwg.x + wid.x) * WG + lid) * 4u;
}

// exp(-2u) with u clamped; s = 1 / (1 + exp(-2u)).
fn exp_neg_2u(v: vec4<f32>) -> vec4<f32> {
  let u = SQRT_2_OVER_PI * (v + GELU_COEF * v * v * v);
  return exp(-2.0 * clamp(u, vec4<f32>(-U_MAX), vec4<f32>(U_MAX)));
}

fn gelu4(v: vec4<f32>) -> vec4<f32> {
  return v / (1.0 + exp_neg_2u(v));
}

fn gelu_grad4(v: vec4<f32>) -> vec4<f32> {
  let t = exp_neg_2u(v);
  let s = 1.0 / (1.0 + t);
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_COEF * v * v);
  return s + 2.0 * v * s * (t * s) * du;
}

@compute @workgroup_size(WG)
fn gelu_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = first_element(wid, nwg, lid);
  let n = params.n;
  if (i >= n) { return; }
  if (i + 4u <= n) {
    var y = gelu4(vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]));
    if (params.accumulate == 1u) { y += vec4<f32>(out[i], out[i + 1u], out[i + 2u], out[i + 3u]); }
    out[i] = y.x;
    out[i + 1u] = y.y;
    out[i + 2u] = y.z;
    out[i + 3u] = y.w;
  } else {
    // The last 1..3 elements.
    for (var k = i; k < n; k++) {
      var y = gelu4(vec4<f32>(x[k])).x;
      if (params.accumulate == 1u) { y += out[k]; }
      out[k] = y;
    }
  }
}

// dx at i .. i+3 (all < n): dout * gelu'(x), plus the stored dx when accumulating.
fn backward4(i: u32) -> vec4<f32> {
  let g = vec4<f32>(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]);
  var d = g * gelu_grad4(vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]));
  if (params.accumulate == 1u) { d += vec4<f32>(dx[i], dx[i + 1u], dx[i + 2u], dx[i + 3u]); }
  return d;
}

fn store_dx4(i: u32, d: vec4<f32>) {
  dx[i] = d.x;
  dx[i + 1u] = d.y;
  dx[i + 2u] = d.z;
  dx[i + 3u] = d.w;
}

@compute @workgroup_size(WG)
fn gelu_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = first_element(wid, nwg, lid);
  let n = params.n;
  if (i >= n) { return; }
  if (i + 4u <= n) {
    store_dx4(i, backward4(i));
  } else {
    for (var k = i; k < n; k++) {
      var d = dout[k] * gelu_grad4(vec4<f32>(x[k])).x;
      if (params.accumulate == 1u) { d += dx[k]; }
      dx[k] = d;
    }
  }
}

// gelu_backward that also stores dx as Operand values (see the header); n % 4 == 0.
@compute @workgroup_size(WG)
fn gelu_backward_dual(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = first_element(wid, nwg, lid);
  if (i >= params.n) { return; }
  let d = backward4(i);
  store_dx4(i, d);
  dx_operand[i / 4u] = store4(d);
}
