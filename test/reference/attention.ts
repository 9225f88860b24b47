/**
 * Plain-loop float64 reference for fused multi-head self-attention. Unlike the kernels it builds each (b, h)
 * T x T probability matrix explicitly and uses the textbook softmax backward (dS = P * (dP - rowsum(P * dP))),
 * so it checks the kernels' lse / D_t formulation rather than repeating it.
 */

export interface AttentionRef {
  B: number;
  T: number;
  C: number;
  NH: number;
  causal: boolean;
}

/** Index of element d of head h of part (0 q, 1 k, 2 v) at (b, t) in qkv (B, T, 3C). */
function at(r: AttentionRef, b: number, t: number, part: number, h: number, d: number): number {
  const HS = r.C / r.NH;
  return (b * r.T + t) * 3 * r.C + part * r.C + h * HS + d;
}

/** P (T, T) for one (b, h); masked entries are 0. Also returns each row's log-sum-exp. */
function probs(r: AttentionRef, qkv: ArrayLike<number>, b: number, h: number): { P: Float64Array; lse: Float64Array } {
  const { T } = r;
  const HS = r.C / r.NH;
  const scale = 1 / Math.sqrt(HS);
  const P = new Float64Array(T * T);
  const lse = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const end = r.causal ? t + 1 : T;
    let max = -Infinity;
    for (let s = 0; s < end; s++) {
      let sc = 0;
      for (let d = 0; d < HS; d++) sc += qkv[at(r, b, t, 0, h, d)]! * qkv[at(r, b, s, 1, h, d)]!;
      P[t * T + s] = sc * scale;
      max = Math.max(max, sc * scale);
    }
    let sum = 0;
    for (let s = 0; s < end; s++) sum += Math.exp(P[t * T + s]! - max);
    for (let s = 0; s < end; s++) P[t * T + s] = Math.exp(P[t * T + s]! - max) / sum;
    lse[t] = max + Math.log(sum);
  }
  return { P, lse };
}

/** out (B, T, C) and lse (B, NH, T). */
export function attentionRef(r: AttentionRef, qkv: ArrayLike<number>): { out: Float64Array; lse: Float64Array } {
  const { B, T, C, NH } = r;
  const HS = C / NH;
  const out = new Float64Array(B * T * C);
  const lse = new Float64Array(B * NH * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++) {
      const { P, lse: l } = probs(r, qkv, b, h);
      lse.set(l, (b * NH + h) * T);
      for (let t = 0; t < T; t++)
        for (let d = 0; d < HS; d++) {
          let o = 0;
          for (let s = 0; s < T; s++) o += P[t * T + s]! * qkv[at(r, b, s, 2, h, d)]!;
          out[(b * T + t) * C + h * HS + d] = o;
        }
    }
  return { out, lse };
}

/** Gradient of L = <out, dout> with respect to qkv, in qkv's (B, T, 3C) layout. */
export function attentionBackwardRef(r: AttentionRef, qkv: ArrayLike<number>, dout: ArrayLike<number>): Float64Array {
  const { B, T, C, NH } = r;
  const HS = C / NH;
  const scale = 1 / Math.sqrt(HS);
  const dqkv = new Float64Array(B * T * 3 * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++) {
      const { P } = probs(r, qkv, b, h);
      const g = (t: number, d: number) => dout[(b * T + t) * C + h * HS + d]!;
      // dP = dO v^T, dv = P^T dO
      const dP = new Float64Array(T * T);
      for (let t = 0; t < T; t++)
        for (let s = 0; s < T; s++) {
          let x = 0;
          for (let d = 0; d < HS; d++) {
            const v = at(r, b, s, 2, h, d);
            x += g(t, d) * qkv[v]!;
            dqkv[v] = dqkv[v]! + P[t * T + s]! * g(t, d);
          }
          dP[t * T + s] = x;
        }
      // softmax backward per row, then S = scale q k^T
      for (let t = 0; t < T; t++) {
        let rowsum = 0;
        for (let s = 0; s < T; s++) rowsum += P[t * T + s]! * dP[t * T + s]!;
        for (let s = 0; s < T; s++) {
          const dS = P[t * T + s]! * (dP[t * T + s]! - rowsum);
          for (let d = 0; d < HS; d++) {
            const q = at(r, b, t, 0, h, d);
            const k = at(r, b, s, 1, h, d);
            dqkv[q] = dqkv[q]! + scale * dS * qkv[k]!;
            dqkv[k] = dqkv[k]! + scale * dS * qkv[q]!;
          }
        }
      }
    }
  return dqkv;
}
