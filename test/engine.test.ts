/**
 * The runtime's contracts: reflected bindings bound by name (with errors that list both sets), params written
 * from reflected offsets, compile errors with file:line:column, checks before dispatch, exact counters for a
 * composed graph, no-grad mode, timing, and the arena's planned reuse.
 */
import { describe, expect, it } from 'vitest';
import { crossEntropy } from '../src/ops/crossentropy.js';
import { gelu } from '../src/ops/gelu.js';
import { matmul } from '../src/ops/matmul.js';
import { KernelRegistry } from '../src/runtime/kernels.js';
import { Tensor } from '../src/runtime/tensor.js';
import { getEngine, paramFrom, tensorFrom } from './helpers/gpu.js';
import { halfCasts } from './helpers/precision.js';
import { randomArray, randomInts } from './helpers/random.js';

describe('kernel registry', () => {
  it('reports a WGSL compile error with file, line, column and the source line', async () => {
    const e = await getEngine();
    const registry = new KernelRegistry(e.device);
    const bad = ['@group(0) @binding(0) var<storage, read_write> out: array<f32>;', '@compute @workgroup_size(1)', 'fn broken() {', '  out[0] = undefined_name;', '}'].join('\n');
    await expect(registry.addSource('broken.wgsl', bad)).rejects.toThrow(/broken\.wgsl:4:\d+: .*undefined_name[\s\S]*out\[0\] = undefined_name;/);
  });

  it('builds layouts and params from reflection (names, binding kinds, member offsets)', async () => {
    const e = await getEngine();
    const k = e.kernels.kernel('matmul_forward');
    expect(k.bindings.map((b) => `${b.name}:${b.kind}`)).toEqual(['a:read-only-storage', 'w:read-only-storage', 'bias:read-only-storage', 'out:storage']);
    expect(k.params!.members.map((m) => `${m.name}@${m.offset}`)).toEqual([
      'M@0', 'N@4', 'K@8', 'stride_a@12', 'stride_w@16', 'stride_out@20', 'has_bias@24', 'accumulate@28',
    ]);
    expect(k.overrides.map((o) => o.name)).toContain('TRANS_A');
    expect(() => e.kernels.kernel('no_such_kernel')).toThrow(/unknown kernel no_such_kernel; known kernels: .*matmul_forward/);
  });
});

describe('dispatch checks, before anything is recorded', () => {
  const params = { M: 1, N: 1, K: 1, stride_a: 1, stride_w: 1, stride_out: 1, has_bias: 0, accumulate: 0 };

  it('missing and unexpected binding names list both sets', async () => {
    const e = await getEngine();
    e.resetArena();
    const t = e.alloc([4]);
    const before = e.counters.dispatches;
    expect(() => e.dispatch('matmul_forward', { a: t, w: t, out: e.alloc([4]), extra: t }, params, [1])).toThrow(
      /matmul_forward: bindings do not match; missing: bias; unexpected: extra\. The kernel declares \{a, w, bias, out\}; given \{a, w, out, extra\}/,
    );
    expect(e.counters.dispatches).toBe(before);
  });

  it('params names, integer types and dtypes are checked', async () => {
    const e = await getEngine();
    e.resetArena();
    const t = () => e.alloc([4]);
    expect(() => e.dispatch('matmul_forward', { a: t(), w: t(), bias: t(), out: t() }, { ...params, bogus: 1 }, [1])).toThrow(/params do not match; unexpected: bogus/);
    expect(() => e.dispatch('matmul_forward', { a: t(), w: t(), bias: t(), out: t() }, { ...params, M: 1.5 }, [1])).toThrow(/params\.M is u32 but got 1\.5/);
    expect(() => e.dispatch('matmul_forward', { a: e.alloc([4], 'i32'), w: t(), bias: t(), out: t() }, params, [1])).toThrow(
      /matmul_forward: a is .*:i32 but the kernel reads f32/,
    );
  });

  it('refuses a binding over the device limit, a grid over the workgroup limit, and overlapping writes', async () => {
    const e = await getEngine();
    e.resetArena();
    const small = e.alloc([4]);
    const limit = e.gpu.limits.maxStorageBufferBindingSize;
    const huge = new Tensor(small.buffer, [Math.ceil(limit / 4) + 16], 'f32', 0, 'huge');
    expect(() => e.dispatch('matmul_forward', { a: huge, w: small, bias: small, out: e.alloc([4]) }, params, [1])).toThrow(
      /a \[\d+\] is \d+ bytes, over the device's maxStorageBufferBindingSize/,
    );
    expect(() => e.dispatch('matmul_forward', { a: small, w: small, bias: small, out: e.alloc([4]) }, params, [70000])).toThrow(/workgroup grid \[70000, 1, 1\] outside/);
    expect(() => e.dispatch('matmul_forward', { a: small, w: small, bias: small, out: small }, params, [1])).toThrow(/overlap in one buffer and one is written/);
  });
});

describe('adapters without an extension', () => {
  it('a device without subgroups skips the subgroup kernels and matmul falls back to the portable kernel', async () => {
    const { Engine } = await import('../src/runtime/engine.js');
    const { matmul } = await import('../src/ops/matmul.js');
    const e = await Engine.create({ disableFeatures: ['subgroups'] });
    try {
      expect(e.kernels.skipped.map((s) => s.file)).toContain('matmul_subgroup.wgsl');
      expect(e.kernels.has('matmul_subgroup')).toBe(false);
      const a = tensorFrom(e, [8, 8], randomArray(64, 1));
      const w = tensorFrom(e, [8, 8], randomArray(64, 2));
      e.dispatchLog = [];
      const out = await e.readFloat(matmul(e, a, w));
      expect(e.dispatchLog.map((r) => r.kernel)).not.toContain('matmul_subgroup');
      expect(out.every(Number.isFinite)).toBe(true);
    } finally {
      e.destroy();
    }
  });
});

describe('counters and the tape', () => {
  it('a composed graph dispatches and records exactly what its ops say; no-grad records nothing', async () => {
    const e = await getEngine();
    e.resetArena();
    const [N, K, V] = [6, 5, 7];
    const x = tensorFrom(e, [N, K], randomArray(N * K, 1));
    const w = paramFrom(e, [K, V], randomArray(K * V, 2));
    const targets = tensorFrom(e, [N], randomInts(N, 3, V), 'i32');
    const c0 = { ...e.counters };
    const tape0 = e.tape.length;
    const loss = crossEntropy(e, gelu(e, matmul(e, x, w)), targets);
    // matmul 1, gelu 1, cross-entropy 2 (rows, then the mean); under f16 precision the matmul first casts x and
    // the (new) weight's copy.
    const half = halfCasts(e, 1).length;
    expect(e.counters.dispatches - c0.dispatches).toBe(4 + 2 * half);
    expect(e.tape.length - tape0).toBe(3);
    expect(e.tape.ops().slice(-3)).toEqual(['matmul', 'gelu', 'crossEntropy']);
    e.backward(loss);
    // cross-entropy 1, gelu 1, matmul 2 (dA, dW), under f16 after casting the incoming gradient.
    expect(e.counters.dispatches - c0.dispatches).toBe(8 + 3 * half);
    expect(e.tape.length).toBe(0);
    expect(e.counters.submits).toBe(c0.submits); // nothing submitted until a sync point
    await e.readFloat(loss);
    expect(e.counters.submits).toBe(c0.submits + 1);

    const c1 = { ...e.counters };
    e.noGrad(() => crossEntropy(e, gelu(e, matmul(e, x, w)), targets));
    expect(e.counters.dispatches - c1.dispatches).toBe(4 + half); // the weight's f16 copy is still current
    expect(e.counters.tapeEntries).toBe(c1.tapeEntries);
    expect(e.tape.length).toBe(0);
  });

  it('the arena hands the same buffers out again after a reset: nothing new is allocated', async () => {
    const e = await getEngine();
    const run = () => {
      e.resetArena();
      const x = e.alloc([8, 8]);
      e.zero(x);
      gelu(e, gelu(e, x));
    };
    run();
    const bytes = e.counters.bytesAllocated;
    const groups = e.counters.bindGroupsCreated;
    run();
    run();
    expect(e.counters.bytesAllocated).toBe(bytes);
    expect(e.counters.bindGroupsCreated).toBe(groups);
  });

  it('timing gives every dispatch a GPU time, from timestamps and in serialized mode', async () => {
    const e = await getEngine();
    for (const mode of ['timestamps', 'serialized'] as const) {
      if (mode === 'timestamps' && !e.timestampsSupported) continue;
      e.resetArena();
      const x = tensorFrom(e, [64, 64], randomArray(64 * 64, 5));
      e.beginTiming(mode);
      e.inLayer(3, () => gelu(e, gelu(e, x)), 'forward');
      const records = await e.endTiming();
      expect(records.map((r) => `${r.kernel}@${r.layer}/${r.phase}`)).toEqual(['gelu_forward@3/forward', 'gelu_forward@3/forward']);
      // A tiny dispatch can read two equal timestamps on lavapipe under load; the pair cannot be negative.
      for (const r of records) expect(r.gpuNs).toBeGreaterThanOrEqual(0);
      expect(records.reduce((s, r) => s + r.gpuNs!, 0)).toBeGreaterThan(0);
    }
  });
});
