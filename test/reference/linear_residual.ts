/** Plain-loop float64 reference for the fused linear + residual add: out = h + scale * (a @ w + bias). */
import { matmulBackwardRef, matmulRef } from './matmul.js';

export function linearResidualRef(M: number, N: number, K: number, a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, h: ArrayLike<number>, scale: number): Float64Array {
  const branch = matmulRef({ batch: 1, M, N, K, transA: false, transB: false }, a, w, bias);
  return branch.map((v, i) => h[i]! + scale * v);
}

/** Gradients of L = <out, dout>: dh = dout, then the matmul's rule on dbranch = scale * dout. */
export function linearResidualBackwardRef(M: number, N: number, K: number, a: ArrayLike<number>, w: ArrayLike<number>, dout: ArrayLike<number>, scale: number) {
  const dbranch = Float64Array.from(dout, (v) => scale * v);
  return { dh: Float64Array.from(dout), ...matmulBackwardRef({ batch: 1, M, N, K, transA: false, transB: false }, a, w, dbranch) };
}
