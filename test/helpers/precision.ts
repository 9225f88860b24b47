/**
 * What the suite expects under each matmul precision. `npm test` runs the engine tests twice
 * (test/vitest.config.ts): with SBLD_TEST_PRECISION=f32 and =f16, as if the adapter's rule picked that precision
 * (./gpu.ts). Tests of the autograd linears and of whole models hold f16 to bounds derived from f16's precision,
 * and the dispatch counts and arena sizes add what f16 adds (the casts and the f16 copies), so both runs check
 * exact numbers.
 *
 * The bound: f16 has 10 fraction bits; each operand is rounded to one of its two f16 neighbours (WGSL does not
 * fix which), so off by at most u = 2^-10 relative, and each product a_k w_k by at most (2u + u^2) |a_k w_k|.
 * With f32 accumulation, an output of a linear is off by at most (2u + u^2) sum_k |a_k| |w_k| plus the f32
 * tolerance.
 */
import { expect } from 'vitest';
import { attentionCanStoreHalf } from '../../src/ops/attention.js';
import type { Engine } from '../../src/runtime/engine.js';
import { matmulBackwardRef, matmulRef, withHalfGemmOperands, type MatmulRef } from '../reference/matmul.js';
import type { Tolerance } from './compare.js';

/** f16's relative spacing: an operand lands within u of its value. */
export const U = 2 ** -10;
/** The relative error bound of one product of two f16-rounded operands. */
export const PRODUCT_ERR = 2 * U + U * U;
/** f32 sums of products, in another order than the float64 reference. */
export const F32_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** Whether the autograd linears take f16 operands on this engine now (the head aside: `headInF32`). */
export function halfMatmuls(e: Engine): boolean {
  return e.choice.get('precision') === 'f16';
}

/** The name a GEMM kernel dispatches under: its f16 twin's where the linears take f16 operands. */
export function gemmName(e: Engine, kernel: string): string {
  return halfMatmuls(e) ? `${kernel}_f16` : kernel;
}

/** The spacing of f16 values at |v| (2^-24 below the normal range): a value stored in f16 moves by less. */
export function f16Ulp(v: number): number {
  return Math.max(2 ** -24, 2 ** (Math.floor(Math.log2(Math.abs(v) || 2 ** -24)) - 10));
}

/** Elementwise |x|. */
export const abs = (x: ArrayLike<number>): Float64Array => Float64Array.from(x, Math.abs);

/**
 * The f16 error bound of each output of a linear from its sums of |products| (e.g. the matmul reference on |a|
 * and |w|): zero in f32.
 */
export function productBound(e: Engine, absSums: ArrayLike<number>): Float64Array {
  const s = halfMatmuls(e) ? PRODUCT_ERR : 0;
  return Float64Array.from(absSums, (v) => v * s);
}

/** |got - ref| <= bound + atol + rtol |ref| elementwise; reports the element furthest over. */
export function expectWithin(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, bound: ArrayLike<number>, tol: Tolerance = F32_TOL): void {
  expect(got.length, what).toBe(ref.length);
  let worst = -Infinity;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    const slack = bound[i]! + tol.atol + tol.rtol * Math.abs(ref[i]!) - Math.abs(got[i]! - ref[i]!);
    if (!(slack >= 0) && (at < 0 || -slack > worst)) {
      worst = -slack;
      at = i;
    }
  }
  expect(at, `${what}: element ${at} got ${got[at]}, reference ${ref[at]}, bound ${bound[at]} (over by ${worst})`).toBe(-1);
}

/**
 * How far a whole model may be from its exact float64 reference under f16: the same reference with the f16
 * GEMMs' operands rounded to nearest (test/reference/matmul.ts, withHalfGemmOperands) moves each quantity by
 * some amount; the device may round each operand either way (up to twice the distance) and its f32 arithmetic
 * adds its own, so the tolerance grows by HALF_SLACK x the largest such move of the compared tensor. Exact in f32.
 */
export const HALF_SLACK = 4;

export function withHalfSlack(tol: Tolerance, ref: ArrayLike<number>, halfRef: ArrayLike<number> | undefined): Tolerance {
  if (!halfRef) return tol;
  let move = 0;
  for (let i = 0; i < ref.length; i++) move = Math.max(move, Math.abs(halfRef[i]! - ref[i]!));
  return { atol: tol.atol + HALF_SLACK * move, rtol: tol.rtol };
}

/** The float64 reference `fn` computes, and where the engine's linears take f16 operands the same with their operands rounded. */
export function referencePair<T>(e: Engine, fn: () => T): { exact: T; half?: T } {
  return { exact: fn(), half: halfMatmuls(e) ? withHalfGemmOperands(fn) : undefined };
}

/** The casts to f16 an op dispatches before its GEMM where the linears take f16 operands (none in f32). */
export function halfCasts(e: Engine, n: number): string[] {
  return halfMatmuls(e) ? Array<string>(n).fill('cast_to_f16') : [];
}

/**
 * The cast of attention's output for the projection after it, under f16: none where attention's f16 twin stores
 * the copy itself (the subgroup kernels, `attentionCanStoreHalf`), else one.
 */
export function attentionOutputCasts(e: Engine, HS: number): string[] {
  return halfCasts(e, attentionCanStoreHalf(e, HS, []) ? 0 : 1);
}

/**
 * The f16 bounds of a linear (a (M, K) @ w (K, N), f32 dout) whose output passes through a function with slope
 * at most `slope` and, for GELU, a derivative that moves by at most 0.8 per unit (|gelu''| < 0.8; GELU's slope
 * is below 1.13): the pre-activation's bound carries into the output and, through the derivative, into the
 * gradient the backward GEMMs read, which add their own, and into the bias gradient (its column sums). All zero
 * where `half` is false.
 */
export function linearBounds(
  half: boolean,
  M: number,
  N: number,
  K: number,
  x: { a: ArrayLike<number>; w: ArrayLike<number>; dout: ArrayLike<number> },
  f: { slope: number; gelu: boolean },
): { out: Float64Array; da: Float64Array; dw: Float64Array; dbias: Float64Array } {
  const d: MatmulRef = { batch: 1, M, N, K, transA: false, transB: false };
  const err = half ? PRODUCT_ERR : 0;
  const pre = matmulRef(d, abs(x.a), abs(x.w), null);
  const back = matmulBackwardRef(d, abs(x.a), abs(x.w), abs(x.dout));
  const dpreErr = Float64Array.from(pre, (b, i) => (f.gelu ? 0.8 * b * err * Math.abs(x.dout[i]!) : 0));
  const daCarried = matmulRef({ ...d, N: K, K: N, transB: true }, dpreErr, abs(x.w), null);
  const dwCarried = matmulRef({ ...d, M: K, K: M, transA: true }, abs(x.a), dpreErr, null);
  const dbias = new Float64Array(N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) dbias[n] = dbias[n]! + dpreErr[m * N + n]!;
  return {
    dbias,
    out: pre.map((v) => v * err * f.slope),
    da: daCarried.map((v, i) => v + f.slope * back.da[i]! * err),
    dw: dwCarried.map((v, i) => v + f.slope * back.dw[i]! * err),
  };
}
