/** Plain-loop float64 reference for the token + position embedding. */

export interface EmbeddingRef {
  B: number;
  T: number;
  C: number;
  V: number;
  maxT: number;
}

/** out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]   -> (B, T, C) */
export function embeddingRef(d: EmbeddingRef, tokens: ArrayLike<number>, wte: ArrayLike<number>, wpe: ArrayLike<number>): Float64Array {
  const out = new Float64Array(d.B * d.T * d.C);
  for (let b = 0; b < d.B; b++)
    for (let t = 0; t < d.T; t++) {
      const tok = tokens[b * d.T + t]!;
      for (let c = 0; c < d.C; c++) out[(b * d.T + t) * d.C + c] = wte[tok * d.C + c]! + wpe[t * d.C + c]!;
    }
  return out;
}

/** Gradients of L = <out, dout> with respect to wte (V, C) and wpe (maxT, C). */
export function embeddingBackwardRef(d: EmbeddingRef, tokens: ArrayLike<number>, dout: ArrayLike<number>) {
  const dwte = new Float64Array(d.V * d.C);
  const dwpe = new Float64Array(d.maxT * d.C);
  for (let b = 0; b < d.B; b++)
    for (let t = 0; t < d.T; t++) {
      const tok = tokens[b * d.T + t]!;
      for (let c = 0; c < d.C; c++) {
        const g = dout[(b * d.T + t) * d.C + c]!;
        dwte[tok * d.C + c]! += g;
        dwpe[t * d.C + c]! += g;
      }
    }
  return { dwte, dwpe };
}
