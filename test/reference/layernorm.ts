/** Plain-loop float64 reference for LayerNorm over the last dimension of x viewed as (N, C). */

export function layernormRef(
  N: number,
  C: number,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  eps = 1e-5,
): { out: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[n * C + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c]! - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) out[n * C + c] = (x[n * C + c]! - m) * r * weight[c]! + bias[c]!;
    mean[n] = m;
    rstd[n] = r;
  }
  return { out, mean, rstd };
}

/**
 * Gradients of L = <out, dout> with respect to x, weight and bias, from x (statistics recomputed):
 *   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),  g = dout * weight, xhat = (x - mean) * rstd
 *   dweight = sum_n dout * xhat,  dbias = sum_n dout
 */
export function layernormBackwardRef(
  N: number,
  C: number,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dout: ArrayLike<number>,
  eps = 1e-5,
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const { mean, rstd } = layernormRef(N, C, x, weight, new Float64Array(C), eps);
  const dx = new Float64Array(N * C);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const m = mean[n]!;
    const r = rstd[n]!;
    let meanG = 0;
    let meanGx = 0;
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      const xhat = (x[i]! - m) * r;
      const g = dout[i]! * weight[c]!;
      meanG += g;
      meanGx += g * xhat;
      dweight[c] = dweight[c]! + dout[i]! * xhat;
      dbias[c] = dbias[c]! + dout[i]!;
    }
    meanG /= C;
    meanGx /= C;
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      const xhat = (x[i]! - m) * r;
      dx[i] = r * (dout[i]! * weight[c]! - meanG - xhat * meanGx);
    }
  }
  return { dx, dweight, dbias };
}

/**
 * The parameter gradients alone over rows [begin, end) (default: all N), from given per-row statistics (as the
 * kernel reads them, not recomputed), xhat = (x - mean) * rstd:
 *   dweight = sum_n dout * xhat,  dbias = sum_n dout
 */
export function layernormParamsRef(
  N: number,
  C: number,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dout: ArrayLike<number>,
  begin = 0,
  end = N,
): { dweight: Float64Array; dbias: Float64Array } {
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let n = begin; n < end; n++) {
    const m = mean[n]!;
    const r = rstd[n]!;
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      dweight[c]! += dout[i]! * (x[i]! - m) * r;
      dbias[c]! += dout[i]!;
    }
  }
  return { dweight, dbias };
}
