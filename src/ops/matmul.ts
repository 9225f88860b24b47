/**
 * Matrix multiply, batched, either operand transposed, optional bias.
 *
 *   out[b] = op(a[b]) @ op(w[b]) + bias        a: (batch, M, K) or (batch, K, M) when transA
 *                                              w: (batch, K, N) or (batch, N, K) when transB
 * Backward, with A' = op(a), W' = op(w):
 *   dA' = dout @ W'^T        dW' = A'^T @ dout        dbias = sum over rows of dout
 * and a transposed operand gets the transpose of its gradient.
 * Saves: a, w (inputs; nothing extra).
 */
import type { Engine } from '../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, Tensor } from '../runtime/tensor.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** out += result instead of out = result. */
  accumulate?: boolean;
}

const WG = 8;
const TILE = 4;

interface Dims {
  batch: number;
  M: number;
  N: number;
  K: number;
}

/** Reads (batch, M, N, K) from the operand shapes, checking they agree; errors name the op and shapes. */
export function matmulDims(op: string, a: Tensor, w: Tensor, transA = false, transB = false): Dims {
  if (a.shape.length < 2 || w.shape.length < 2) {
    throw new ShapeError(`${op}: operands need at least 2 dimensions, got a ${fmtShape(a.shape)}, w ${fmtShape(w.shape)}`);
  }
  const batchA = a.shape.slice(0, -2);
  const batchW = w.shape.slice(0, -2);
  const batch = batchA.reduce((x, y) => x * y, 1);
  if (batchW.length && batchW.reduce((x, y) => x * y, 1) !== batch) {
    throw new ShapeError(`${op}: batch dimensions differ: a ${fmtShape(a.shape)}, w ${fmtShape(w.shape)}`);
  }
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [wr, wc] = w.shape.slice(-2) as [number, number];
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [K2, N] = transB ? [wc, wr] : [wr, wc];
  if (K !== K2) {
    throw new ShapeError(
      `${op}: inner dimensions differ: op(a) is [${M}, ${K}] (a ${fmtShape(a.shape)}${transA ? ' transposed' : ''}), ` +
        `op(w) is [${K2}, ${N}] (w ${fmtShape(w.shape)}${transB ? ' transposed' : ''})`,
    );
  }
  return { batch: batchW.length ? batch : batch, M, N, K };
}

/** Kernel-level forward: out = op(a) @ op(w) (+ bias) (+ out). Output first, as the kernels are. */
export function matmul_forward(e: Engine, out: Tensor, a: Tensor, w: Tensor, bias: Tensor | null, opts: MatmulOptions = {}): void {
  const { transA = false, transB = false, accumulate = false } = opts;
  const d = matmulDims('matmul', a, w, transA, transB);
  const wBatched = w.shape.length > 2;
  if (!wBatched && d.batch !== 1) {
    throw new ShapeError(`matmul: a is batched ${fmtShape(a.shape)} but w ${fmtShape(w.shape)} is not; flatten a to 2-D for a shared weight`);
  }
  const outShape = [...a.shape.slice(0, -2), d.M, d.N];
  if (out.size !== d.batch * d.M * d.N) {
    throw new ShapeError(`matmul: out has shape ${fmtShape(out.shape)}, expected ${fmtShape(outShape)}`);
  }
  for (const [name, t] of [['a', a], ['w', w], ['out', out]] as const) expectDType('matmul', name, t, 'f32');
  if (bias && bias.size !== d.N) throw new ShapeError(`matmul: bias has shape ${fmtShape(bias.shape)}, expected [${d.N}]`);
  if (d.M === 0 || d.N === 0) return;
  e.dispatch(
    'matmul_forward',
    { a, w, bias: bias ?? e.unused, out },
    {
      M: d.M,
      N: d.N,
      K: d.K,
      stride_a: d.M * d.K,
      stride_w: d.K * d.N,
      stride_out: d.M * d.N,
      has_bias: bias ? 1 : 0,
      accumulate: accumulate ? 1 : 0,
    },
    [Math.ceil(d.N / (WG * TILE)), Math.ceil(d.M / (WG * TILE)), d.batch],
    { TRANS_A: transA, TRANS_B: transB },
  );
}

/** Kernel-level bias gradient: dbias (+)= column sums of dout viewed as (rows, N). */
export function bias_backward(e: Engine, dbias: Tensor, dout: Tensor, accumulate = true): void {
  const N = dbias.size;
  if (dout.size % N !== 0) throw new ShapeError(`bias_backward: dout ${fmtShape(dout.shape)} is not a multiple of bias [${N}]`);
  e.dispatch('bias_backward', { dout, dbias }, { M: dout.size / N, N, accumulate: accumulate ? 1 : 0 }, [Math.ceil(N / 64)]);
}

/**
 * Autograd matmul: returns op(a) @ op(w) + bias and records the backward rule. For a 2-D weight shared across
 * rows (a linear layer), pass `a` flattened to 2-D.
 */
export function matmul(e: Engine, a: Tensor, w: Tensor, bias: Tensor | null = null, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const { transA = false, transB = false } = opts;
  const d = matmulDims('matmul', a, w, transA, transB);
  const out = e.alloc([...a.shape.slice(0, -2), d.M, d.N], 'f32', 'matmul.out');
  matmul_forward(e, out, a, w, bias, { transA, transB });
  e.record('matmul', [out], () => {
    const dout = e.gradIn('matmul', out);
    // dA' = dout @ W'^T.  Stored a = A' (no transA): use w with its transpose flag flipped.
    // Stored a = A'^T (transA): dA = W' @ dout^T.
    const ga = e.gradOf('matmul', a);
    if (!transA) matmul_forward(e, ga.grad, dout, w, null, { transB: !transB, accumulate: ga.accumulate });
    else matmul_forward(e, ga.grad, w, dout, null, { transA: transB, transB: true, accumulate: ga.accumulate });
    // dW' = A'^T @ dout.  Stored w = W'^T (transB): dW = dout^T @ A'.
    const gw = e.gradOf('matmul', w);
    if (!transB) matmul_forward(e, gw.grad, a, dout, null, { transA: !transA, accumulate: gw.accumulate });
    else matmul_forward(e, gw.grad, dout, a, null, { transA: true, transB: transA, accumulate: gw.accumulate });
    if (bias) {
      const gb = e.gradOf('matmul', bias);
      bias_backward(e, gb.grad, dout, gb.accumulate);
    }
  });
  return out;
}
