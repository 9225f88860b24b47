/** Plain-loop float64 reference for the fused linear + GELU: the matmul reference, then the GELU reference. */
import { geluBackwardRef, geluRef } from './gelu.js';
import { matmulBackwardRef, matmulRef } from './matmul.js';

/** pre = a (M, K) @ w (K, N) + bias, out = gelu(pre). */
export function linearGeluRef(M: number, N: number, K: number, a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null) {
  const pre = matmulRef({ batch: 1, M, N, K, transA: false, transB: false }, a, w, bias);
  return { pre, out: geluRef(pre) };
}

/** Gradients of L = <out, dout>: dpre = dout gelu'(pre), then the matmul's rule. */
export function linearGeluBackwardRef(M: number, N: number, K: number, a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, dout: ArrayLike<number>) {
  const { pre } = linearGeluRef(M, N, K, a, w, bias);
  return matmulBackwardRef({ batch: 1, M, N, K, transA: false, transB: false }, a, w, geluBackwardRef(pre, dout));
}
