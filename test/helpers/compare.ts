/**
 * Tolerance checks: |got - ref| <= atol + rtol * |ref| elementwise; NaN or Inf in either never matches.
 * A failure reports the max error, where it is, and the first mismatching pairs.
 */
import { afterAll, expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CloseReport {
  ok: boolean;
  maxAbsErr: number;
  maxAt: number;
  message: string;
}

export function compareClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): CloseReport {
  if (got.length !== ref.length) {
    return { ok: false, maxAbsErr: Infinity, maxAt: -1, message: `length ${got.length} != reference length ${ref.length}` };
  }
  let maxAbsErr = 0;
  let maxAt = -1;
  const bad: string[] = [];
  let nBad = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    const err = Math.abs(g - r);
    const finite = Number.isFinite(g) && Number.isFinite(r);
    if (!finite || err > maxAbsErr || maxAt < 0) {
      if (!finite) {
        maxAbsErr = Infinity;
        maxAt = i;
      } else if (err > maxAbsErr || maxAt < 0) {
        maxAbsErr = err;
        maxAt = i;
      }
    }
    if (!finite || !(err <= tol.atol + tol.rtol * Math.abs(r))) {
      nBad++;
      if (bad.length < 5) bad.push(`[${i}] got ${g} ref ${r}`);
    }
  }
  const ok = nBad === 0;
  const message = ok
    ? `max abs err ${maxAbsErr.toExponential(2)} at ${maxAt}`
    : `${nBad}/${got.length} elements outside atol=${tol.atol} rtol=${tol.rtol}; max abs err ${maxAbsErr.toExponential(3)} at index ${maxAt}; first: ${bad.join(', ')}`;
  return { ok, maxAbsErr, maxAt, message };
}

/** Asserts closeness with a readable message naming `what`. */
export function expectClose(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): void {
  const r = compareClose(got, ref, tol);
  expect(r.ok, `${what}: ${r.message}`).toBe(true);
}

/** Bit patterns, so that -0 vs 0 or a last-bit difference fails an equality check. */
export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Closeness checks that also keep the largest |got - ref| per key (the first word of `what` unless a key is
 * given), printed after the file's tests when DEBUG is set: how much headroom each tolerance has.
 */
export function closeTracker(name: string, defaultTol: Tolerance): {
  close(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol?: Tolerance, key?: string): void;
  maxErr: Map<string, number>;
} {
  const maxErr = new Map<string, number>();
  afterAll(() => {
    if (process.env.DEBUG) console.log(`${name} max abs errors`, Object.fromEntries(maxErr));
  });
  return {
    maxErr,
    close(what, got, ref, tol = defaultTol, key = what.split(' ')[0]!) {
      maxErr.set(key, Math.max(maxErr.get(key) ?? 0, compareClose(got, ref, tol).maxAbsErr));
      expectClose(what, got, ref, tol);
    },
  };
}
