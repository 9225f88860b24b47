/**
 * Softmax cross-entropy: the float64 reference against finite differences, then the GPU forward (mean and per
 * row) and backward against the reference at V = 1, 2, 31, 33, 256, 257 (around the vec4 width, the 64-wide
 * workgroup and powers of two), N = 1, 33, 65, large logits (+-80), ignored targets, and more than 65535 rows (the
 * grid folds into y) -- each with both forward kernels, forced with useCrossEntropyKernel: the row-per-invocation
 * online kernel of CPU adapters and the workgroup-per-row kernel of GPUs.
 * Run: npx vitest run --config test/vitest.config.ts test/crossentropy.test.ts   (DEBUG=1 prints max errors)
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  crossEntropy,
  crossEntropyKernelFor,
  crossEntropyRows,
  crossentropy_forward,
  useCrossEntropyKernel,
  type CrossEntropyKernel,
} from '../src/ops/crossentropy.js';
import type { Engine } from '../src/runtime/engine.js';
import { compareClose, expectClose, type Tolerance } from './helpers/compare.js';
import { expectGradMatchesFiniteDiff } from './helpers/finite_diff.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { f32, randomArray, randomInts } from './helpers/random.js';
import {
  crossEntropyBackwardRef,
  crossEntropyRef,
  crossEntropyRowsBackwardRef,
  crossEntropyRowsRef,
} from './reference/crossentropy.js';

const FWD_TOL: Tolerance = { atol: 1e-5, rtol: 1e-5 };
const GRAD_TOL: Tolerance = { atol: 2e-6, rtol: 1e-4 };
// With logits near +-80, lse is rounded at magnitude 80 (ulp ~ 8e-6), which shifts every softmax value by that
// much relative; softmax - 1 at a dominant target turns it into absolute error.
const LARGE_GRAD_TOL: Tolerance = { atol: 2e-5, rtol: 1e-4 };
const DLOSS = 0.37;

function check(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): void {
  if (process.env.DEBUG) console.log(`${what}: ${compareClose(got, ref, tol).message}`);
  expectClose(what, got, ref, tol);
}

async function freshEngine(): Promise<Engine> {
  const e = await getEngine();
  e.resetArena();
  e.tape.clear();
  return e;
}

/** Runs crossEntropy and crossEntropyRows forward and backward on the GPU and compares both with the reference. */
async function checkCase(e: Engine, N: number, V: number, logitsHost: Float64Array, targetsHost: Int32Array, gradTol = GRAD_TOL): Promise<void> {
  const tag = `N=${N} V=${V}`;
  const targets = tensorFrom(e, [N], targetsHost, 'i32', 'targets');

  // Mean, driven by dloss = DLOSS.
  const logits = tensorFrom(e, [N, V], logitsHost, 'f32', 'logits');
  const before = e.counters.dispatches;
  const loss = crossEntropy(e, logits, targets);
  expect(e.counters.dispatches - before).toBe(2);
  expect(loss.shape).toEqual([1]);
  check(`${tag} loss`, await e.readFloat(loss), [crossEntropyRef(N, V, logitsHost, targetsHost).loss], FWD_TOL);
  loss.grad = tensorFrom(e, [1], [DLOSS], 'f32', 'dloss');
  const mid = e.counters.dispatches;
  e.tape.replay();
  expect(e.counters.dispatches - mid).toBe(1);
  check(`${tag} dlogits (mean)`, await e.readFloat(logits.grad!), crossEntropyBackwardRef(N, V, logitsHost, targetsHost, DLOSS), gradTol);

  // Per row, driven by a random cotangent.
  const logits2 = tensorFrom(e, [N, V], logitsHost, 'f32', 'logits');
  const losses = crossEntropyRows(e, logits2, targets);
  expect(losses.shape).toEqual([N]);
  check(`${tag} losses`, await e.readFloat(losses), crossEntropyRowsRef(N, V, logitsHost, targetsHost).losses, FWD_TOL);
  const dlosses = f32(randomArray(N, 99));
  losses.grad = tensorFrom(e, [N], dlosses, 'f32', 'dlosses');
  e.tape.replay();
  check(`${tag} dlogits (rows)`, await e.readFloat(logits2.grad!), crossEntropyRowsBackwardRef(N, V, logitsHost, targetsHost, dlosses), gradTol);
}

describe('cross-entropy reference', () => {
  it('backward matches finite differences (mean and per row, with ignored rows)', () => {
    const [N, V] = [5, 7];
    const logits = randomArray(N * V, 1, 3);
    const targets = Int32Array.from([3, -1, 0, 6, 7]); // -1 and 7 = V are ignored
    const dlosses = randomArray(N, 2);
    const rows = () => crossEntropyRowsRef(N, V, logits, targets).losses;
    expectGradMatchesFiniteDiff('rows', rows, logits, dlosses, crossEntropyRowsBackwardRef(N, V, logits, targets, dlosses));
    const mean = () => [crossEntropyRef(N, V, logits, targets).loss];
    expectGradMatchesFiniteDiff('mean', mean, logits, [DLOSS], crossEntropyBackwardRef(N, V, logits, targets, DLOSS));
  });
});

const KERNELS: CrossEntropyKernel[] = ['crossentropy_forward_online', 'crossentropy_forward'];

/** A fresh engine whose cross-entropy forward is forced to `kernel`. */
async function engineWith(kernel: CrossEntropyKernel): Promise<Engine> {
  const e = await freshEngine();
  useCrossEntropyKernel(e, kernel);
  return e;
}

/** Runs `fn` with the dispatch log on; returns the cross-entropy kernels it dispatched. */
function crossEntropyKernelsIn(e: Engine, fn: () => void): string[] {
  const prev = e.dispatchLog;
  e.dispatchLog = [];
  try {
    fn();
    return e.dispatchLog.map((r) => r.kernel).filter((k) => k.startsWith('crossentropy_'));
  } finally {
    e.dispatchLog = prev;
  }
}

afterEach(async () => {
  useCrossEntropyKernel(await getEngine(), null);
});

for (const kernel of KERNELS) {
  describe(`cross-entropy with forward kernel ${kernel}`, () => {
    it('dispatches the forced forward kernel', async () => {
      const e = await engineWith(kernel);
      const logits = tensorFrom(e, [3, 5], f32(randomArray(15, 30)));
      const targets = tensorFrom(e, [3], Int32Array.from([0, 4, -1]), 'i32');
      expect(crossEntropyKernelsIn(e, () => crossEntropy(e, logits, targets))).toEqual([kernel, 'crossentropy_mean']);
    });

    for (const V of [1, 2, 31, 33, 256, 257])
      for (const N of [1, 33, 65]) {
        it(`forward and backward N=${N} V=${V}`, async () => {
          const e = await engineWith(kernel);
          await checkCase(e, N, V, f32(randomArray(N * V, 3 + V + N, 4)), randomInts(N, 5 + N, V));
        });
      }

    it('large logits (+-80) stay finite and accurate', async () => {
      const e = await engineWith(kernel);
      const [N, V] = [33, 257];
      const logits = f32(randomArray(N * V, 7, 80));
      const targets = randomInts(N, 8, V);
      for (let v = 0; v < V; v++) logits[v] = 80; // a flat row at the top of the range
      for (let v = 0; v < V; v++) logits[V + v] = -80; // a flat row at the bottom
      // A row whose target holds the smallest logit: loss near 160.
      let argmin = 0;
      for (let v = 1; v < V; v++) if (logits[2 * V + v]! < logits[2 * V + argmin]!) argmin = v;
      targets[2] = argmin;
      // A row rising from -80 to 80: a new maximum at every column, so the online kernel rescales at each.
      for (let v = 0; v < V; v++) logits[3 * V + v] = Math.fround(-80 + (160 * v) / (V - 1));
      await checkCase(e, N, V, logits, targets, LARGE_GRAD_TOL);
    });

    it('ignores targets outside [0, V): loss 0, left out of the mean, gradient row 0', async () => {
      const e = await engineWith(kernel);
      const [N, V] = [6, 33];
      const logits = f32(randomArray(N * V, 9, 3));
      await checkCase(e, N, V, logits, Int32Array.from([4, -1, 32, 33, 0, -100]));
      // Every row ignored: the mean is 0 (not NaN) and so is every gradient.
      e.resetArena();
      const allIgnored = Int32Array.from([-1, 33, -1, 1000, -1, -1]);
      await checkCase(e, N, V, logits, allIgnored);
      const loss = crossEntropy(e, tensorFrom(e, [N, V], logits), tensorFrom(e, [N], allIgnored, 'i32'));
      expect([...(await e.readFloat(loss))]).toEqual([0]);
    });

    it('takes more than 65535 rows (the workgroup kernel folds them into y), and the mean covers every row', async () => {
      const e = await engineWith(kernel);
      const [N, V] = [70000, 3];
      await checkCase(e, N, V, f32(randomArray(N * V, 10, 2)), randomInts(N, 11, V));
    });

    it('adds into an existing logits gradient', async () => {
      const e = await engineWith(kernel);
      const [N, V] = [4, 70];
      const logitsHost = f32(randomArray(N * V, 12, 2));
      const targetsHost = randomInts(N, 13, V);
      const prev = f32(randomArray(N * V, 14));
      const logits = tensorFrom(e, [N, V], logitsHost);
      logits.grad = tensorFrom(e, [N, V], prev, 'f32', 'dlogits');
      const loss = crossEntropy(e, logits, tensorFrom(e, [N], targetsHost, 'i32'));
      loss.grad = tensorFrom(e, [1], [DLOSS]);
      e.tape.replay();
      const ref = crossEntropyBackwardRef(N, V, logitsHost, targetsHost, DLOSS).map((g, i) => g + prev[i]!);
      check('dlogits (+=)', await e.readFloat(logits.grad), ref, GRAD_TOL);
    });

    it('accepts (B, T, V) logits with (B, T) targets', async () => {
      const e = await engineWith(kernel);
      const [B, T, V] = [2, 3, 5];
      const logitsHost = f32(randomArray(B * T * V, 15, 2));
      const targetsHost = randomInts(B * T, 16, V);
      const losses = crossEntropyRows(e, tensorFrom(e, [B, T, V], logitsHost), tensorFrom(e, [B, T], targetsHost, 'i32'));
      expect(losses.shape).toEqual([B, T]);
      check('losses', await e.readFloat(losses), crossEntropyRowsRef(B * T, V, logitsHost, targetsHost).losses, FWD_TOL);
    });

    it('is deterministic: the same inputs give bitwise identical loss and gradient', async () => {
      const e = await engineWith(kernel);
      const [N, V] = [300, 40];
      const logits = tensorFrom(e, [N, V], randomArray(N * V, 17, 3));
      const targets = tensorFrom(e, [N], randomInts(N, 18, V), 'i32');
      const runs: Float32Array[] = [];
      for (let i = 0; i < 2; i++) {
        logits.grad = null;
        const loss = crossEntropy(e, logits, targets);
        loss.grad = tensorFrom(e, [1], [DLOSS]);
        e.tape.replay();
        runs.push(Float32Array.from([...(await e.readFloat(loss)), ...(await e.readFloat(logits.grad!))]));
      }
      expect(Buffer.from(runs[0]!.buffer).equals(Buffer.from(runs[1]!.buffer))).toBe(true);
    });
  });
}

describe('cross-entropy kernel choice and shapes', () => {
  it('the adapter rule: the online kernel on CPU adapters, the workgroup kernel elsewhere', async () => {
    const e = await freshEngine();
    expect(crossEntropyKernelFor(e)).toBe(e.choice.cpu ? 'crossentropy_forward_online' : 'crossentropy_forward');
    useCrossEntropyKernel(e, 'crossentropy_forward');
    expect(crossEntropyKernelFor(e)).toBe('crossentropy_forward');
  });

  it('the online kernel numbers rows across a grid folded into y', async () => {
    // 300 rows need 5 workgroups of 64; dispatch 3 x 2 (as the host folds past 65535 workgroups).
    const e = await freshEngine();
    const [N, V] = [300, 9];
    const logitsHost = f32(randomArray(N * V, 31, 3));
    const targetsHost = randomInts(N, 32, V);
    targetsHost[299] = -1;
    const lse = e.alloc([N]);
    const losses = e.alloc([N]);
    const logits = tensorFrom(e, [N, V], logitsHost);
    const targets = tensorFrom(e, [N], targetsHost, 'i32');
    e.dispatch('crossentropy_forward_online', { logits, targets, lse, losses }, { N, V, per_row: 0, accumulate: 0 }, [3, 2]);
    const ref = crossEntropyRowsRef(N, V, logitsHost, targetsHost);
    check('lse (folded)', await e.readFloat(lse), ref.lse, FWD_TOL);
    check('losses (folded)', await e.readFloat(losses), ref.losses, FWD_TOL);
  });

  it('both forward kernels write the same lse and losses as the reference, ignored rows included', async () => {
    const e = await freshEngine();
    const [N, V] = [7, 130];
    const logitsHost = f32(randomArray(N * V, 33, 5));
    const targetsHost = Int32Array.from([0, 129, -1, 130, 64, 7, 3]);
    const ref = crossEntropyRowsRef(N, V, logitsHost, targetsHost);
    const logits = tensorFrom(e, [N, V], logitsHost);
    const targets = tensorFrom(e, [N], targetsHost, 'i32');
    for (const kernel of KERNELS) {
      useCrossEntropyKernel(e, kernel);
      const lse = e.alloc([N]);
      const losses = e.alloc([N]);
      crossentropy_forward(e, lse, losses, logits, targets);
      check(`lse (${kernel})`, await e.readFloat(lse), ref.lse, FWD_TOL);
      check(`losses (${kernel})`, await e.readFloat(losses), ref.losses, FWD_TOL);
    }
  });

  it('refuses bad shapes and dtypes naming the op and shapes', async () => {
    const e = await freshEngine();
    const logits = e.alloc([4, 10]);
    expect(() => crossEntropy(e, logits, e.alloc([5], 'i32'))).toThrow(/crossEntropy: targets has shape \[5\], expected \[4\] for logits \[4, 10\]/);
    expect(() => crossEntropy(e, logits, e.alloc([4], 'f32'))).toThrow(/crossEntropy: targets has dtype f32, expected i32/);
    expect(() => crossEntropy(e, e.alloc([4, 10], 'i32'), e.alloc([4], 'i32'))).toThrow(/crossEntropy: logits has dtype i32, expected f32/);
    expect(() => crossEntropyRows(e, e.alloc([10]), e.alloc([10], 'i32'))).toThrow(/crossEntropyRows: logits must be \(N, V\), got \[10\]/);
    expect(() => crossEntropy(e, e.alloc([4, 0]), e.alloc([4], 'i32'))).toThrow(/empty vocabulary/);
  });
});
