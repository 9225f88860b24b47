/** Plain-loop float64 reference for the scaled residual add, out = h + scale * branch. */

export function residualRef(h: ArrayLike<number>, branch: ArrayLike<number>, scale: number): Float64Array {
  const out = new Float64Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = h[i]! + scale * branch[i]!;
  return out;
}

/** dh = dout, dbranch = scale * dout. */
export function residualBackwardRef(dout: ArrayLike<number>, scale: number): { dh: Float64Array; dbranch: Float64Array } {
  const dh = new Float64Array(dout.length);
  const dbranch = new Float64Array(dout.length);
  for (let i = 0; i < dout.length; i++) {
    dh[i] = dout[i]!;
    dbranch[i] = scale * dout[i]!;
  }
  return { dh, dbranch };
}
