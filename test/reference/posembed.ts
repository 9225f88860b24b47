/** Plain-loop float64 reference for the position embedding, out[b, t, c] = x[b, t, c] + pos[t, c]. */

export function posembedRef(B: number, T: number, C: number, x: ArrayLike<number>, pos: ArrayLike<number>): Float64Array {
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) out[(b * T + t) * C + c] = x[(b * T + t) * C + c]! + pos[t * C + c]!;
  return out;
}

/** dx = dout, dpos[t, c] = sum_b dout[b, t, c]. */
export function posembedBackwardRef(B: number, T: number, C: number, dout: ArrayLike<number>): { dx: Float64Array; dpos: Float64Array } {
  const dx = Float64Array.from(dout);
  const dpos = new Float64Array(T * C);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < T * C; i++) dpos[i] = dpos[i]! + dout[b * T * C + i]!;
  return { dx, dpos };
}
