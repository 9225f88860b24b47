/**
 * FLOPs counted per dispatch (src/runtime/flops.ts): every kernel has a count, a matmul counts 2·M·N·K per
 * batch, attention counts only the causal pairs, the engine's counter is the sum over its dispatches, and in
 * a training step a skipped layer removes exactly one layer's flops (the same for every layer).
 * Run: npx vitest run --config test/vitest.config.ts test/flops.test.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../src/tasks/gpt/data/loader.js';
import { fullPlan, GPT, type GptConfig, type LayerPlan } from '../src/tasks/gpt/model.js';
import { matmul_forward } from '../src/ops/matmul.js';
import { dispatchFlops, KERNEL_FLOPS } from '../src/runtime/flops.js';
import type { DispatchRecord, Engine } from '../src/runtime/engine.js';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer.js';
import { StepRunner } from '../src/tasks/gpt/step.js';
import { getEngine, tensorFrom } from './helpers/gpu.js';
import { randomInts } from './helpers/random.js';

const L = 3;
const B = 2;
const T = 8;
const CONFIG: GptConfig = { n_layer: L, n_head: 2, n_embd: 16, vocab_size: 256, n_positions: T };

let e: Engine;

beforeAll(async () => {
  e = await getEngine();
});

function logged(fn: () => void): { flops: number; log: DispatchRecord[] } {
  const f0 = e.counters.flops;
  e.dispatchLog = [];
  try {
    fn();
    return { flops: e.counters.flops - f0, log: e.dispatchLog };
  } finally {
    e.dispatchLog = null;
  }
}

describe('flops per dispatch', () => {
  it('every compute entry point in kernels/ has a count, and the table names no other kernel', () => {
    const dir = join(import.meta.dirname, '..', 'kernels');
    const entries = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.wgsl'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/@compute[^]*?fn\s+([A-Za-z_0-9]+)/g)) entries.add(m[1]!);
    }
    expect(entries.size).toBeGreaterThan(20);
    expect([...entries].sort()).toEqual(Object.keys(KERNEL_FLOPS).sort());
    expect(() => dispatchFlops('no_such_kernel', {}, [1])).toThrow(/no FLOP count for kernel 'no_such_kernel'/);
  });

  it('a matmul counts 2·M·N·K plus the bias per output; the counter is the sum over the dispatches', () => {
    e.resetArena();
    const [M, K, N] = [5, 7, 3];
    const a = tensorFrom(e, [M, K], new Float32Array(M * K).fill(1));
    const w = tensorFrom(e, [K, N], new Float32Array(K * N).fill(1));
    const bias = tensorFrom(e, [N], new Float32Array(N));
    const out = e.alloc([M, N]);
    const c = logged(() => matmul_forward(e, out, a, w, bias));
    expect(c.log.length).toBe(1);
    expect(c.flops).toBe(2 * M * N * K + M * N);
    expect(c.log[0]!.flops).toBe(c.flops);
    e.resetArena();
  });

  it('causal attention counts T(T+1)/2 score pairs, full attention T²', () => {
    const q = { B: 2, T: 8, C: 16, NH: 2, HS: 8, scale: 1 };
    const causal = dispatchFlops('attention_forward', { ...q, causal: 1 }, [1]);
    const full = dispatchFlops('attention_forward', { ...q, causal: 0 }, [1]);
    expect(causal).toBe(2 * 2 * ((8 * 9) / 2) * (4 * 8 + 5));
    expect(full / causal).toBeCloseTo(64 / 36, 12);
  });
});

describe('flops of a training step', () => {
  it('a skipped layer removes the same flops whichever layer it is; the step total is the sum of its dispatches', () => {
    const model = new GPT(e, CONFIG);
    model.initialize(3);
    const optimizer = new AdamW(e, model.blocks, { ...ADAMW_DEFAULTS });
    const runner = new StepRunner(e, model, optimizer, 1);
    const batch: Batch = { inputs: randomInts(B * T, 1, 256), targets: randomInts(B * T, 2, 256) };
    const step = (plan: LayerPlan) => logged(() => void runner.step([batch], [plan], 1e-3, B, T));
    const full = step(fullPlan(L));
    expect(full.flops).toBe(full.log.reduce((s, r) => s + r.flops, 0));
    const perLayer = full.log.filter((r) => r.layer === 0).reduce((s, r) => s + r.flops, 0);
    expect(perLayer).toBeGreaterThan(0);
    // Each layer's matmuls alone: forward 2·BT·12C² (qkv 3C², proj C², fc 4C², proj 4C²), backward twice that.
    const C = CONFIG.n_embd;
    const matmuls = full.log.filter((r) => r.layer === 0 && r.kernel.startsWith('matmul')).reduce((s, r) => s + r.flops, 0);
    expect(matmuls).toBeGreaterThanOrEqual(3 * 2 * B * T * 12 * C * C);
    expect(matmuls).toBeLessThan(1.2 * 3 * 2 * B * T * 12 * C * C);
    for (let l = 0; l < L; l++) {
      const skipped = step({ run: fullPlan(L).run.map((_, i) => i !== l), scale: fullPlan(L).scale });
      expect(full.flops - skipped.flops, `layer ${l}`).toBe(perLayer);
      expect(skipped.log.some((r) => r.layer === l)).toBe(false);
    }
    e.resetArena();
  });
});
