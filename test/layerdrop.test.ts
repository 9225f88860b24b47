/**
 * Layer skipping is real, proved by counters: a skipped layer dispatches no forward kernel, records no tape
 * entry, produces no gradient, and gets no optimizer dispatch and no state change (params, grads, m, v
 * bit-identical, stepCount unchanged), while kept layers change. The per-layer counts are not written down:
 * each is measured as a one-layer difference (full - layer l skipped), checked to be the same for every l,
 * then the linear law count(S skipped) = full - |S| x per-layer is asserted exactly for every subset S of
 * the L layers, for a no-grad forward, a grad forward's tape, and a whole training step (forward, backward,
 * optimizer). Buffers are planned: after the first step, no plan allocates.
 * Run: npx vitest run --config test/vitest.config.ts test/layerdrop.test.ts
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Batch } from '../src/tasks/gpt/data/loader.js';
import { fullPlan, GPT, type GptConfig, type LayerPlan } from '../src/tasks/gpt/model.js';
import { gradSumsqDispatches } from '../src/ops/adamw.js';
import type { DispatchRecord, Engine, Phase } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer.js';
import { evaluate, StepRunner, uploadBatch } from '../src/tasks/gpt/step.js';
import { getEngine } from './helpers/gpu.js';
import { attentionOutputCasts, halfCasts, halfMatmuls } from './helpers/precision.js';
import { randomInts } from './helpers/random.js';

// A small model with L = 4 so that every k = 0..4 and all 16 skip sets are covered; C32 H2, T16 B2.
const L = 4;
const B = 2;
const T = 16;
const CONFIG: GptConfig = { n_layer: L, n_head: 2, n_embd: 32, vocab_size: 256, n_positions: T };
const LR = 1e-2;

let e: Engine;
let model: GPT;
let optimizer: AdamW;
let runner: StepRunner;
const batches: Batch[] = [0, 1, 2, 3].map((i) => ({
  inputs: randomInts(B * T, 100 + 2 * i, CONFIG.vocab_size),
  targets: randomInts(B * T, 101 + 2 * i, CONFIG.vocab_size),
}));

/**
 * The pre-LN block's forward dispatches at scale 1: 7 with both epilogue fusions, + 1 without GELU's, + 2 without
 * the residuals'; under f16 precision + 1 where GELU runs on its own (its f32 output is cast for fc2), and + 1
 * where attention's kernels cannot store the f16 copy of its output themselves (the LayerNorms and the fused
 * linear + GELU write theirs in f16; the weights' copies are current).
 */
function blockForwardDispatches(e: Engine): number {
  const fusedGelu = e.choice.get('linearGelu') === 'fused';
  const casts = [...halfCasts(e, fusedGelu ? 0 : 1), ...attentionOutputCasts(e, CONFIG.n_embd / CONFIG.n_head)];
  return 7 + (fusedGelu ? 0 : 1) + (e.choice.get('linearResidual') === 'fused' ? 0 : 2) + casts.length;
}

/**
 * Under f16, brings every weight's f16 copy up to date (a no-grad forward of the whole model), so the counts that
 * follow hold the casts of activations and gradients only. A weight is cast once after each update, in the next
 * forward that uses it; test/precision.test.ts counts those casts.
 */
function currentHalfCopies(): void {
  if (!halfMatmuls(e)) return;
  e.resetArena();
  const batch = uploadBatch(e, batches[0]!, B, T, CONFIG.vocab_size);
  e.noGrad(() => model.forward(batch, fullPlan(L)));
  e.resetArena();
}

/** Dispatches and tape entries of one training step over the first micro-batches with `plans`. */
function stepCount(plans: LayerPlan[], microBatches = plans.length): Counted {
  currentHalfCopies();
  return count(() => void runner.step(batches.slice(0, microBatches), plans, LR, B, T));
}

/** Plan with the layers in `skipped` not run; kept layers unscaled. */
function skipPlan(skipped: readonly number[]): LayerPlan {
  const p = fullPlan(L);
  return { run: p.run.map((_, l) => !skipped.includes(l)), scale: p.scale };
}

/** Every subset of 0..L-1 (2^L of them), as lists of layer indices. */
const ALL_SKIP_SETS: number[][] = Array.from({ length: 1 << L }, (_, mask) =>
  Array.from({ length: L }, (_, l) => l).filter((l) => mask & (1 << l)),
);

interface Counted {
  dispatches: number;
  tapeEntries: number;
  log: DispatchRecord[];
}

/** Runs `fn` and returns the dispatches and tape entries it added, with the dispatch log. */
function count(fn: () => void): Counted {
  const d0 = e.counters.dispatches;
  const t0 = e.counters.tapeEntries;
  e.dispatchLog = [];
  try {
    fn();
    return { dispatches: e.counters.dispatches - d0, tapeEntries: e.counters.tapeEntries - t0, log: e.dispatchLog };
  } finally {
    e.dispatchLog = null;
  }
}

/** One forward over batch 0 with `plan` (grad on: entries stay on the tape until the next resetArena). */
function countForward(plan: LayerPlan, grad: boolean): Counted & { ops: string[] } {
  currentHalfCopies();
  e.resetArena();
  const batch = uploadBatch(e, batches[0]!, B, T, CONFIG.vocab_size);
  const c = count(() => {
    if (grad) model.forward(batch, plan);
    else e.noGrad(() => model.forward(batch, plan));
  });
  const ops = e.tape.ops();
  e.resetArena();
  return { ...c, ops };
}

/** Dispatch records of `log` attributed to layer `l` (optionally in one phase). */
function ofLayer(log: readonly DispatchRecord[], l: number, phase?: Phase): number {
  return log.filter((r) => r.layer === l && (phase === undefined || r.phase === phase)).length;
}

async function bits(t: Tensor): Promise<Uint32Array> {
  return new Uint32Array((await e.readFloat(t)).buffer);
}

/** Elements whose bit patterns differ. */
function changed(a: Uint32Array, b: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

interface Snapshot {
  params: Uint32Array;
  grads: Uint32Array;
  m: Uint32Array;
  v: Uint32Array;
  stepCount: number;
}

async function snapshot(gpt: GPT): Promise<Snapshot[]> {
  const out: Snapshot[] = [];
  for (const b of gpt.blocks) {
    out.push({ params: await bits(b.params), grads: await bits(b.grads), m: await bits(b.m), v: await bits(b.v), stepCount: b.stepCount });
  }
  return out;
}

beforeAll(async () => {
  e = await getEngine();
  model = new GPT(e, CONFIG);
  model.initialize(7);
  optimizer = new AdamW(e, model.blocks, { ...ADAMW_DEFAULTS, weightDecay: 0.1 });
  runner = new StepRunner(e, model, optimizer, 4);
});

afterAll(async () => {
  await e?.sync();
});

describe('forward', () => {
  it('no-grad forward: a skipped layer dispatches nothing; dispatches = full - k x per-layer for every skip set', () => {
    const full = countForward(fullPlan(L), false);
    const perLayer = full.dispatches - countForward(skipPlan([0]), false).dispatches;
    // The pre-LN block: 2 LN, 4 matmuls (fc's with GELU in its epilogue, the projections' with their residual
    // adds), attention; one more each where the adapter runs GELU or a residual add on its own (src/model/block.ts).
    expect(perLayer).toBe(blockForwardDispatches(e));
    expect(full.tapeEntries).toBe(0);
    for (let l = 0; l < L; l++) {
      expect(full.dispatches - countForward(skipPlan([l]), false).dispatches, `one-layer difference at layer ${l}`).toBe(perLayer);
      expect(ofLayer(full.log, l), `layer ${l} attributed dispatches`).toBe(perLayer);
    }
    for (const skipped of ALL_SKIP_SETS) {
      const c = countForward(skipPlan(skipped), false);
      expect(c.dispatches, `skip [${skipped}]`).toBe(full.dispatches - skipped.length * perLayer);
      expect(c.tapeEntries, `skip [${skipped}]: no-grad records nothing`).toBe(0);
      for (let l = 0; l < L; l++) expect(ofLayer(c.log, l), `skip [${skipped}], layer ${l}`).toBe(skipped.includes(l) ? 0 : perLayer);
    }
  });

  it('grad forward: tape entries = full - k x per-layer; a skipped layer records none, kept ones record the same ops', () => {
    // Attribute each tape entry to the layer in scope when it is recorded (e.record is called by every op).
    const recorded: { op: string; layer: number | null }[] = [];
    const original = e.record;
    const spy = vi.spyOn(e, 'record').mockImplementation((op, outputs, backward) => {
      if (e.gradEnabled) recorded.push({ op, layer: e.scope.layer });
      original.call(e, op, outputs, backward);
    });
    try {
      const byLayer = (l: number) => recorded.filter((r) => r.layer === l).map((r) => r.op);
      recorded.length = 0;
      const full = countForward(fullPlan(L), true);
      const layer0Ops = byLayer(0);
      const perLayer = full.tapeEntries - countForward(skipPlan([0]), true).tapeEntries;
      expect(perLayer).toBeGreaterThan(0);
      expect(full.ops.length).toBe(full.tapeEntries); // the counter and the tape agree
      expect(layer0Ops.length).toBe(perLayer);
      for (const skipped of ALL_SKIP_SETS) {
        recorded.length = 0;
        const c = countForward(skipPlan(skipped), true);
        expect(c.tapeEntries, `skip [${skipped}]`).toBe(full.tapeEntries - skipped.length * perLayer);
        expect(c.ops.length).toBe(c.tapeEntries);
        for (let l = 0; l < L; l++) expect(byLayer(l), `skip [${skipped}], layer ${l}`).toEqual(skipped.includes(l) ? [] : layer0Ops);
        // Outside the layers (embedding, final LN, head, loss) nothing depends on the plan.
        expect(recorded.filter((r) => r.layer === null).length).toBe(full.tapeEntries - L * perLayer);
      }
    } finally {
      spy.mockRestore();
    }
  });

  it('a skipped layer is the identity on the residual stream (same loss as the layer with zeroed output projections)', async () => {
    // Zeroing c_proj (weights and biases) of both branches makes a block add exactly 0 to the stream.
    const zeroed = new GPT(e, CONFIG);
    zeroed.initialize(7);
    const l = 2;
    const block = zeroed.layers[l]!;
    const values = await e.readFloat(block.params);
    for (const name of ['attn.c_proj.weight', 'attn.c_proj.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']) {
      const full = `transformer.h.${l}.${name}`;
      block.place(values, full, new Float32Array(block.slice(values, full).length));
    }
    e.write(block.params, values);
    const fresh = new GPT(e, CONFIG);
    fresh.initialize(7);
    const skipped = await evaluate(e, fresh, batches, B, T, skipPlan([l]));
    const identity = await evaluate(e, zeroed, batches, B, T);
    const withLayer = await evaluate(e, fresh, batches, B, T);
    expect(Math.abs(skipped - identity), `skip ${skipped} vs zeroed block ${identity}`).toBeLessThanOrEqual(1e-5 * Math.abs(identity));
    expect(skipped).not.toBe(withLayer); // the layer does contribute when it runs
  });
});

describe('training step', () => {
  it('dispatches = full - k x (forward + backward + optimizer per layer) for every skip set; tape entries likewise', () => {
    const phases: Phase[] = ['forward', 'backward', 'optimizer'];
    const full = stepCount([fullPlan(L)]);
    const skip0 = stepCount([skipPlan([0])]);
    const perLayer = full.dispatches - skip0.dispatches;
    const perLayerTape = full.tapeEntries - skip0.tapeEntries;
    const perPhase = Object.fromEntries(phases.map((p) => [p, ofLayer(full.log, 0, p)])) as Record<Phase, number>;
    // The one-layer difference splits into the layer's forward, backward and optimizer dispatches.
    expect(perPhase.forward + perPhase.backward + perPhase.optimizer).toBe(perLayer);
    expect(perPhase.forward).toBe(countForward(fullPlan(L), false).dispatches - countForward(skipPlan([0]), false).dispatches);
    expect(perPhase.backward).toBeGreaterThan(0);
    // Optimizer per layer: grad_sumsq (1 or 2 dispatches by block size) and one adamw_update.
    expect(perPhase.optimizer).toBe(gradSumsqDispatches(model.layers[0]!.size) + 1);
    expect(perLayerTape).toBeGreaterThan(0);
    for (const skipped of ALL_SKIP_SETS) {
      const c = stepCount([skipPlan(skipped)]);
      const k = skipped.length;
      expect(c.dispatches, `skip [${skipped}]`).toBe(full.dispatches - k * perLayer);
      expect(c.tapeEntries, `skip [${skipped}]`).toBe(full.tapeEntries - k * perLayerTape);
      for (let l = 0; l < L; l++) {
        for (const p of phases) {
          expect(ofLayer(c.log, l, p), `skip [${skipped}], layer ${l}, ${p}`).toBe(skipped.includes(l) ? 0 : perPhase[p]);
        }
      }
      // Outside the layers every phase dispatches the same, whatever the plan.
      expect(c.log.filter((r) => r.layer === null).length).toBe(full.dispatches - L * perLayer);
    }
  });

  it('with 2 micro-batches, a layer is updated if it ran in either and skipped by the optimizer only if in neither', () => {
    const full = stepCount([fullPlan(L), fullPlan(L)]);
    const one = stepCount([skipPlan([1]), fullPlan(L)]); // layer 1 runs in micro-batch 1: still updated
    const both = stepCount([skipPlan([1]), skipPlan([1])]);
    const fb = full.dispatches - one.dispatches; // one layer's forward + backward in one micro-batch
    const opt = one.dispatches - both.dispatches - fb; // that layer's optimizer dispatches
    expect(opt).toBe(gradSumsqDispatches(model.layers[1]!.size) + 1);
    expect(ofLayer(one.log, 1, 'optimizer')).toBe(opt);
    expect(ofLayer(both.log, 1)).toBe(0);
    // Mixed plans: skips in mb0 + skips in mb1 cost fb each; layers skipped in both also drop their update.
    const cases: [number[], number[]][] = [
      [[0, 2], [2, 3]],
      [[0, 1, 2, 3], []],
      [[3], [0, 1, 2, 3]],
      [[0, 1, 2, 3], [0, 1, 2, 3]],
    ];
    for (const [s0, s1] of cases) {
      const inBoth = s0.filter((l) => s1.includes(l)).length;
      const c = stepCount([skipPlan(s0), skipPlan(s1)]);
      expect(c.dispatches, `skip [${s0}] / [${s1}]`).toBe(full.dispatches - (s0.length + s1.length) * fb - inBoth * opt);
    }
  });

  it("a skipped layer's params, grads, m, v stay bit-identical and its stepCount unchanged; kept layers change", async () => {
    // A full step first, so every block has nonzero moments: an update with zero gradient would still move them.
    runner.step(batches.slice(0, 1), [fullPlan(L)], LR, B, T);
    const before = await snapshot(model);
    const skipped = [1, 3];
    const readLoss = runner.step(batches.slice(1, 2), [skipPlan(skipped)], LR, B, T);
    expect(Number.isFinite(await readLoss())).toBe(true);
    const after = await snapshot(model);
    for (let b = 0; b <= L; b++) {
      const what = b < L ? `layer ${b}` : 'rest';
      const x = before[b]!;
      const y = after[b]!;
      const n = x.params.length;
      if (skipped.includes(b)) {
        expect(changed(x.m, new Uint32Array(n)), `${what}: moments nonzero before`).toBeGreaterThan(n / 2);
        for (const k of ['params', 'grads', 'm', 'v'] as const) expect(changed(x[k], y[k]), `${what}.${k} bits changed`).toBe(0);
        expect(y.stepCount, `${what}.stepCount`).toBe(x.stepCount);
      } else {
        for (const k of ['params', 'grads', 'm', 'v'] as const) expect(changed(x[k], y[k]), `${what}.${k} bits changed`).toBeGreaterThan(n / 2);
        expect(y.stepCount, `${what}.stepCount`).toBe(x.stepCount + 1);
      }
    }
  });

  it('buffers are planned: after the first step no plan allocates, and a repeated step creates no bind group', async () => {
    runner.step(batches.slice(0, 1), [fullPlan(L)], LR, B, T);
    const bytes = e.counters.bytesAllocated;
    const buffers = e.counters.buffersAllocated;
    expect(bytes).toBeGreaterThan(0);
    const sequence = [[2], [0, 1, 2, 3], [], [0, 3], [1, 2, 3], [0]];
    for (const skipped of sequence) runner.step(batches.slice(0, 1), [skipPlan(skipped)], LR, B, T);
    expect(e.counters.bytesAllocated).toBe(bytes);
    expect(e.counters.buffersAllocated).toBe(buffers);
    runner.step(batches.slice(0, 1), [fullPlan(L)], LR, B, T);
    const groups = e.counters.bindGroupsCreated;
    const readLoss = runner.step(batches.slice(0, 1), [fullPlan(L)], LR, B, T);
    expect(e.counters.bindGroupsCreated).toBe(groups);
    expect(e.counters.bytesAllocated).toBe(bytes);
    expect(Number.isFinite(await readLoss())).toBe(true);
  });
});

/** Plan with the layers in `skipped` backward-skipped (scope 'backward': forward runs, no backward, no update). */
function bwdSkipPlan(skipped: readonly number[]): LayerPlan {
  return { ...skipPlan(skipped), scope: 'backward' };
}

describe("backward-only skip (drop scope 'backward')", () => {
  it('per phase: a backward-skipped layer dispatches its whole forward, one gradient bypass in backward and nothing in the optimizer', () => {
    const phases: Phase[] = ['forward', 'backward', 'optimizer'];
    const full = stepCount([fullPlan(L)]);
    const perPhase = Object.fromEntries(phases.map((p) => [p, ofLayer(full.log, 0, p)])) as Record<Phase, number>;
    const perLayerTape = full.tapeEntries - stepCount([skipPlan([0])]).tapeEntries;
    // Saved per backward-skipped layer: its backward and optimizer dispatches, less the bypass's one.
    const saved = perPhase.backward - 1 + perPhase.optimizer;
    for (const skipped of ALL_SKIP_SETS) {
      const c = stepCount([bwdSkipPlan(skipped)]);
      const k = skipped.length;
      expect(c.dispatches, `bwd-skip [${skipped}]`).toBe(full.dispatches - k * saved);
      // Its forward records nothing; one bypass entry carries the gradient across.
      expect(c.tapeEntries, `bwd-skip [${skipped}]`).toBe(full.tapeEntries - k * (perLayerTape - 1));
      for (let l = 0; l < L; l++) {
        const s = skipped.includes(l);
        expect(ofLayer(c.log, l, 'forward'), `bwd-skip [${skipped}], layer ${l}, forward`).toBe(perPhase.forward);
        expect(ofLayer(c.log, l, 'backward'), `bwd-skip [${skipped}], layer ${l}, backward`).toBe(s ? 1 : perPhase.backward);
        expect(ofLayer(c.log, l, 'optimizer'), `bwd-skip [${skipped}], layer ${l}, optimizer`).toBe(s ? 0 : perPhase.optimizer);
        if (s) expect(c.log.filter((r) => r.layer === l && r.phase === 'backward').map((r) => r.kernel)).toEqual(['residual_forward']);
      }
      expect(c.log.filter((r) => r.layer === null).length).toBe(full.dispatches - L * (perPhase.forward + perPhase.backward + perPhase.optimizer));
    }
  });

  it('the forward is exact: the same loss as the full model (bit for bit), unlike the whole-layer skip', async () => {
    const full = await evaluate(e, model, batches, B, T);
    expect(await evaluate(e, model, batches, B, T, bwdSkipPlan([1, 2]))).toBe(full);
    expect(await evaluate(e, model, batches, B, T, skipPlan([1, 2]))).not.toBe(full);
  });

  it("a backward-skipped layer's params, grads, m, v stay bit-identical and its stepCount unchanged; the others change", async () => {
    runner.step(batches.slice(0, 1), [fullPlan(L)], LR, B, T);
    const before = await snapshot(model);
    const skipped = [0, 2];
    const readLoss = runner.step(batches.slice(1, 2), [bwdSkipPlan(skipped)], LR, B, T);
    expect(Number.isFinite(await readLoss())).toBe(true);
    const after = await snapshot(model);
    for (let b = 0; b <= L; b++) {
      const what = b < L ? `layer ${b}` : 'rest';
      const x = before[b]!;
      const y = after[b]!;
      const n = x.params.length;
      if (skipped.includes(b)) {
        expect(changed(x.m, new Uint32Array(n)), `${what}: moments nonzero before`).toBeGreaterThan(n / 2);
        for (const k of ['params', 'grads', 'm', 'v'] as const) expect(changed(x[k], y[k]), `${what}.${k} bits changed`).toBe(0);
        expect(y.stepCount, `${what}.stepCount`).toBe(x.stepCount);
      } else {
        for (const k of ['params', 'grads', 'm', 'v'] as const) expect(changed(x[k], y[k]), `${what}.${k} bits changed`).toBeGreaterThan(n / 2);
        expect(y.stepCount, `${what}.stepCount`).toBe(x.stepCount + 1);
      }
    }
  });
});
