/**
 * Finite-difference gradient checks on float64 references: for a scalar function L(x), compare an analytic
 * gradient with central differences (L(x + h e_i) - L(x - h e_i)) / 2h at every (or a sample of) coordinate.
 */
import { expectClose } from './compare.js';

/** Central-difference gradient of `loss` at `x` (x is restored afterwards). */
export function numericGrad(loss: () => number, x: Float64Array, h = 1e-6, indices?: number[]): Float64Array {
  const g = new Float64Array(x.length);
  for (const i of indices ?? x.keys()) {
    const keep = x[i]!;
    x[i] = keep + h;
    const up = loss();
    x[i] = keep - h;
    const down = loss();
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Dot product, used to turn an output cotangent into a scalar loss: L = <out, cotangent>. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Checks `analytic` (the reference backward's gradient for input x) against finite differences of
 * L = <forward(x), cotangent>.
 */
export function expectGradMatchesFiniteDiff(
  what: string,
  forward: () => ArrayLike<number>,
  x: Float64Array,
  cotangent: ArrayLike<number>,
  analytic: ArrayLike<number>,
  tol = { atol: 1e-6, rtol: 1e-5 },
): void {
  const numeric = numericGrad(() => dot(forward(), cotangent), x);
  expectClose(`${what} (finite differences)`, analytic, numeric, tol);
}

/**
 * Checks a model reference's gradient of every tensor in `names` against central differences of `loss`, at 12
 * coordinates spread over each tensor (every coordinate would take minutes).
 */
export function expectParamGradsMatchFiniteDiff(
  loss: () => number,
  params: Record<string, Float64Array>,
  grads: Record<string, Float64Array>,
  names: readonly string[],
  tol = { atol: 1e-7, rtol: 1e-5 },
): void {
  for (const name of names) {
    const x = params[name]!;
    const idx = [...new Set(Array.from({ length: 12 }, (_, k) => Math.floor((k * x.length) / 12)))];
    const num = numericGrad(loss, x, 1e-6, idx);
    expectClose(`d${name} (finite differences)`, idx.map((i) => grads[name]![i]!), idx.map((i) => num[i]!), tol);
  }
}
