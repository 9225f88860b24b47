/** Plain-loop float64 reference for GELU, tanh approximation (GPT-2), written with tanh as in the paper. */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const COEF = 0.044715;

export function geluRef(x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + COEF * v * v * v)));
  }
  return out;
}

/** dx = dout * (0.5 (1 + tanh u) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 c x^2)). */
export function geluBackwardRef(x: ArrayLike<number>, dout: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const t = Math.tanh(SQRT_2_OVER_PI * (v + COEF * v * v * v));
    const du = SQRT_2_OVER_PI * (1 + 3 * COEF * v * v);
    dx[i] = dout[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  }
  return dx;
}
