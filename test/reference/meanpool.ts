/** Plain-loop float64 reference for the mean over tokens, out[b, c] = (1/T) sum_t x[b, t, c]. */

export function meanpoolRef(B: number, T: number, C: number, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(B * C);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += x[(b * T + t) * C + c]!;
      out[b * C + c] = s / T;
    }
  return out;
}

/** dx[b, t, c] = dout[b, c] / T. */
export function meanpoolBackwardRef(B: number, T: number, C: number, dout: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) dx[(b * T + t) * C + c] = dout[b * C + c]! / T;
  return dx;
}
