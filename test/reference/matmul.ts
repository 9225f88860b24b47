/** Plain-loop float64 reference for matmul (batched, either operand transposed, optional bias). */
import { f16round } from '@petamoriken/float16';

export interface MatmulRef {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

function aAt(a: ArrayLike<number>, d: MatmulRef, b: number, m: number, k: number): number {
  return d.transA ? a[b * d.M * d.K + k * d.M + m]! : a[b * d.M * d.K + m * d.K + k]!;
}

function wAt(w: ArrayLike<number>, d: MatmulRef, b: number, k: number, n: number): number {
  return d.transB ? w[b * d.K * d.N + n * d.K + k]! : w[b * d.K * d.N + k * d.N + n]!;
}

export function matmulRef(d: MatmulRef, a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null): Float64Array {
  const out = new Float64Array(d.batch * d.M * d.N);
  for (let b = 0; b < d.batch; b++)
    for (let m = 0; m < d.M; m++)
      for (let n = 0; n < d.N; n++) {
        let s = bias ? bias[n]! : 0;
        for (let k = 0; k < d.K; k++) s += aAt(a, d, b, m, k) * wAt(w, d, b, k, n);
        out[(b * d.M + m) * d.N + n] = s;
      }
  return out;
}

/** Gradients of L = <out, dout> with respect to a, w (in their stored layouts) and bias. */
export function matmulBackwardRef(d: MatmulRef, a: ArrayLike<number>, w: ArrayLike<number>, dout: ArrayLike<number>) {
  const da = new Float64Array(d.batch * d.M * d.K);
  const dw = new Float64Array(d.batch * d.K * d.N);
  const dbias = new Float64Array(d.N);
  for (let b = 0; b < d.batch; b++)
    for (let m = 0; m < d.M; m++)
      for (let n = 0; n < d.N; n++) {
        const g = dout[(b * d.M + m) * d.N + n]!;
        dbias[n] = dbias[n]! + g;
        for (let k = 0; k < d.K; k++) {
          const ai = d.transA ? b * d.M * d.K + k * d.M + m : b * d.M * d.K + m * d.K + k;
          const wi = d.transB ? b * d.K * d.N + n * d.K + k : b * d.K * d.N + k * d.N + n;
          da[ai] = da[ai]! + g * w[wi]!;
          dw[wi] = dw[wi]! + g * a[ai]!;
        }
      }
  return { da, dw, dbias };
}

/**
 * f16 mixed precision in the references: inside `withHalfGemmOperands`, the linears the engine runs with f16
 * operands (`linearRef`, `linearBackwardRef`: every linear but the output head) round a, w and the incoming
 * gradient to f16 (to nearest, ties to even) before their float64 products; the bias and its gradient stay
 * exact, as on the device. Outside it they are the plain matmul references.
 */
let roundOperand: ((x: number) => number) | null = null;

export function withHalfGemmOperands<T>(fn: () => T): T {
  const prev = roundOperand;
  roundOperand = f16round;
  try {
    return fn();
  } finally {
    roundOperand = prev;
  }
}

function operand(x: ArrayLike<number>): ArrayLike<number> {
  return roundOperand ? Float64Array.from(x, roundOperand) : x;
}

/** A linear the engine feeds f16 operands under f16 precision. */
export function linearRef(d: MatmulRef, a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null): Float64Array {
  return matmulRef(d, operand(a), operand(w), bias);
}

/** Its gradients: da and dw from the (rounded) operands and dout, dbias from dout itself. */
export function linearBackwardRef(d: MatmulRef, a: ArrayLike<number>, w: ArrayLike<number>, dout: ArrayLike<number>) {
  const { da, dw } = matmulBackwardRef(d, operand(a), operand(w), operand(dout));
  const dbias = new Float64Array(d.N);
  for (let r = 0; r < d.batch * d.M; r++) for (let n = 0; n < d.N; n++) dbias[n] = dbias[n]! + dout[r * d.N + n]!;
  return { da, dw, dbias };
}
