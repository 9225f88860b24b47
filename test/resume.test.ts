/**
 * Checkpoint and resume: a run interrupted after k steps and resumed from its checkpoint reproduces the
 * uninterrupted run bit for bit (per-step losses, layer plans, SBLD measurements, evaluations, final weights
 * and moments), with SBLD on, a measurement before the interruption and re-measurements after it; the
 * checkpoint round trip (readWeights -> save -> load -> writeWeights -> readWeights) is bit-exact and the
 * restored model takes the same next step; truncated, corrupted and wrong-shape checkpoints are refused with
 * a message naming the file and the problem.
 * Run: npx vitest run --config test/vitest.config.ts test/resume.test.ts
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLoader } from '../src/tasks/gpt/data/loader.js';
import { VOCAB_SIZE } from '../src/tasks/gpt/data/tokenizer.js';
import { CheckpointError, loadCheckpoint, MODEL_FILE, OPTIMIZER_FILE, saveCheckpoint } from '../src/tasks/gpt/checkpoint.js';
import { gpt2TensorSpecs } from '../src/tasks/gpt/hf-gpt2.js';
import { fullPlan, GPT, type GptConfig, type LayerPlan } from '../src/tasks/gpt/model.js';
import { readWeights, writeWeights, type NamedWeights } from '../src/model/weights.js';
import type { Engine } from '../src/runtime/engine.js';
import { type TrainConfig } from '../src/train/config.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/optimizer.js';
import { runTraining, type RunSummary } from '../src/tasks/gpt/run.js';
import { StepRunner } from '../src/tasks/gpt/step.js';
import { getEngine } from './helpers/gpu.js';
import { randomInts } from './helpers/random.js';

let e: Engine;
const root = mkdtempSync(join(tmpdir(), 'sbld-resume-test-'));
beforeAll(async () => {
  e = await getEngine();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Bit patterns of a Float32Array, so -0 vs 0 and NaN payloads count as differences. */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Names whose arrays differ in any bit between two weight sets (and names present in only one). */
function differingArrays(a: Record<string, Float32Array>, b: Record<string, Float32Array>): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  const bad: string[] = [];
  for (const n of names) {
    const x = a[n];
    const y = b[n];
    if (!x || !y || x.length !== y.length || !bits(x).every((v, i) => v === bits(y)[i])) bad.push(n);
  }
  return bad;
}

/** Expects `fn` to reject with a CheckpointError whose message matches every pattern; returns the message. */
async function expectRefusal(fn: () => Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let err: unknown;
  try {
    await fn();
  } catch (x) {
    err = x;
  }
  expect(err, 'expected a CheckpointError').toBeInstanceOf(CheckpointError);
  const msg = (err as Error).message;
  for (const p of patterns) expect(msg).toMatch(p);
  return msg;
}

for (const precision of ['f32', 'f16'] as const)
describe(`interrupted + resumed run equals the uninterrupted run (${precision})`, () => {
  const STEPS = 10;
  const K = 4; // interrupt after this many steps
  // SBLD: T_pre = round(0.2 * 10) = 2, so it measures at step 2 (before the interruption) and at 5 and 8
  // (after it, mixing with the restored sensitivities). rho_peak 0.5 so that layers are actually skipped.
  const config = (out: string): TrainConfig =>
    resolveConfig(
      {},
      {
        preset: 'tiny',
        steps: STEPS,
        gradAccum: 2,
        warmupSteps: 2,
        evalEvery: 3,
        evalBatches: 1,
        checkpointEvery: 0,
        sampleTokens: 0,
        seed: 7,
        out,
        precision,
        drop: { policy: 'sbld', warmupFrac: 0.2, remeasureEvery: 3, rhoPeak: 0.5, probeBatches: 1 },
      },
    );
  type Line = Record<string, unknown>;
  const metrics = (dir: string): Line[] =>
    readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  /** The fields of a step line that must reproduce (not its timings). */
  const stepView = (l: Line) => ({ step: l.step, loss: l.loss, lr: l.lr, layers: l.layers, expected_kept: l.expected_kept, loss_scale: l.loss_scale });
  const sensView = (l: Line) => ({ step: l.step, values: l.values, sensitivities: l.sensitivities, block: l.block, allow: l.allow });
  const evalView = (l: Line) => ({ step: l.step, val_loss: l.val_loss });
  const trajectory = (dir: string) => {
    const lines = metrics(dir);
    return {
      steps: lines.filter((l) => l.type === undefined).map(stepView),
      sensitivity: lines.filter((l) => l.type === 'sensitivity').map(sensView),
      evals: lines.filter((l) => l.type === 'eval').map(evalView),
    };
  };

  const full = join(root, `full-${precision}`);
  const split = join(root, `split-${precision}`);
  let fullSummary: RunSummary;
  let firstHalf: RunSummary;
  let secondHalf: RunSummary;
  let afterInterrupt: ReturnType<typeof trajectory>;
  let stepOfCheckpoint: number;

  afterAll(() => e.choice.force('precision', null)); // the engine is shared with later test files

  beforeAll(async () => {
    fullSummary = await runTraining(config(full), { quiet: true, engine: e });
    firstHalf = await runTraining(config(split), { quiet: true, stopAfter: K, engine: e });
    afterInterrupt = trajectory(split);
    stepOfCheckpoint = ((await loadCheckpoint(join(split, 'checkpoint'))).trainerState as { step: number }).step;
    secondHalf = await runTraining(config(split), { quiet: true, resume: split, engine: e });
  });

  it('stops after k steps with a checkpoint at step k, having measured sensitivities before it', () => {
    expect(firstHalf.steps).toBe(K);
    expect(firstHalf.losses.length).toBe(K);
    expect(afterInterrupt.steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
    expect(afterInterrupt.sensitivity.map((s) => s.step)).toEqual([2]);
    expect(stepOfCheckpoint).toBe(K);
  });

  it('per-step losses, lr, layer plans, measurements and evaluations are identical (bit-exact)', () => {
    const a = trajectory(full);
    const b = trajectory(split);
    expect(b.steps.map((s) => s.step)).toEqual([...Array(STEPS).keys()]); // each step logged once
    expect(b.steps).toEqual(a.steps);
    expect(b.sensitivity).toEqual(a.sensitivity);
    expect(a.sensitivity.map((s) => s.step)).toEqual([2, 5, 8]);
    expect(b.evals).toEqual(a.evals);
    expect([...firstHalf.losses, ...secondHalf.losses]).toEqual(fullSummary.losses);
    expect(secondHalf.val_loss).toBe(fullSummary.val_loss);
    // The test means something only if SBLD skipped layers on both sides of the interruption.
    const skipped = (s: { step: unknown; layers: unknown }) => String(s.layers).includes('0');
    expect(a.steps.filter((s) => (s.step as number) < K).some(skipped)).toBe(true);
    expect(a.steps.filter((s) => (s.step as number) >= K).some(skipped)).toBe(true);
    // And the loss moved (a frozen model would reproduce trivially).
    expect(fullSummary.losses[STEPS - 1]!).toBeLessThan(fullSummary.losses[0]! - 0.3);
  });

  it('final weights, AdamW moments and trainer state are identical (bit-exact)', async () => {
    const a = await loadCheckpoint(join(full, 'checkpoint'));
    const b = await loadCheckpoint(join(split, 'checkpoint'));
    expect(differingArrays(b.params, a.params)).toEqual([]);
    expect(differingArrays(b.optimizer, a.optimizer)).toEqual([]);
    type State = { step: number; loader: unknown; sbld: { history: { ms?: number }[] }; blockSteps: number[]; layerSteps: unknown; lossScale: unknown };
    const sa = a.trainerState as State;
    const sb = b.trainerState as State;
    const noMs = (s: State) => ({ ...s.sbld, history: s.sbld.history.map((h) => ({ ...h, ms: 0 })) });
    expect(sb.step).toBe(STEPS);
    expect(sb.loader).toEqual(sa.loader);
    expect(sb.blockSteps).toEqual(sa.blockSteps);
    expect(sb.layerSteps).toEqual(sa.layerSteps);
    expect(sb.lossScale).toEqual(sa.lossScale);
    expect(noMs(sb)).toEqual(noMs(sa));
    // Skipped layers took fewer optimizer steps than the rest block.
    expect(Math.min(...sa.blockSteps)).toBeLessThan(STEPS);
    expect(sa.blockSteps[sa.blockSteps.length - 1]).toBe(STEPS);
  });
});

describe('checkpoint round trip', () => {
  const modelConfig: GptConfig = { n_layer: 2, n_head: 2, n_embd: 32, vocab_size: VOCAB_SIZE, n_positions: 16 };
  const B = 2;
  const T = 16;
  const tokens = Uint8Array.from(randomInts(2000, 11, VOCAB_SIZE));
  /** A model with an optimizer, trained `steps` steps; layer 1 skipped in the second so block step counts differ. */
  function trained(seed: number) {
    const model = new GPT(e, modelConfig);
    model.initialize(seed);
    const runner = new StepRunner(e, model, new AdamW(e, model.blocks, ADAMW_DEFAULTS));
    return { model, runner };
  }
  const skip1: LayerPlan = { run: [true, false], scale: [1, 1] };

  it('readWeights before save equals readWeights after load, and the restored model takes the same next step', async () => {
    const loader = new BatchLoader(tokens, B, T, 3);
    const a = trained(5);
    await a.runner.step([loader.next()], [fullPlan(2)], 1e-2, B, T)();
    await a.runner.step([loader.next()], [skip1], 1e-2, B, T)();
    const before = await readWeights(e, a.model);
    expect(before.blockSteps).toEqual([2, 1, 2]);
    expect(Object.values(before.optimizer).some((m) => m.some((x) => x !== 0))).toBe(true);

    const dir = join(root, 'roundtrip', 'checkpoint');
    await saveCheckpoint(dir, { modelConfig, params: before.params, optimizer: before.optimizer, trainerState: { blockSteps: before.blockSteps } });
    const ckpt = await loadCheckpoint(dir, { modelConfig });
    const b = trained(6); // different init: everything must come from the checkpoint
    writeWeights(e, b.model, ckpt.params, ckpt.optimizer, (ckpt.trainerState as { blockSteps: number[] }).blockSteps);
    const after: NamedWeights = await readWeights(e, b.model);
    expect(differingArrays(after.params, before.params)).toEqual([]);
    expect(differingArrays(after.optimizer, before.optimizer)).toEqual([]);
    expect(after.blockSteps).toEqual(before.blockSteps);

    // One more step on each from the same batch: bias corrections come from the restored step counts.
    const batch = loader.next();
    const la = await a.runner.step([batch], [fullPlan(2)], 1e-2, B, T)();
    const lb = await b.runner.step([batch], [fullPlan(2)], 1e-2, B, T)();
    expect(lb).toBe(la);
    const nextA = await readWeights(e, a.model);
    const nextB = await readWeights(e, b.model);
    expect(differingArrays(nextB.params, nextA.params)).toEqual([]);
    expect(differingArrays(nextB.optimizer, nextA.optimizer)).toEqual([]);
    expect(differingArrays(nextA.params, before.params).length).toBeGreaterThan(0); // the step changed something
  });
});

describe('bad checkpoints are refused', () => {
  const tiny: GptConfig = { n_layer: 2, n_head: 2, n_embd: 32, vocab_size: VOCAB_SIZE, n_positions: 32 };
  /** Zero-filled weights and moments of `cfg` (host only). */
  function hostCheckpoint(cfg: GptConfig) {
    const params: Record<string, Float32Array> = {};
    const optimizer: Record<string, Float32Array> = {};
    for (const s of gpt2TensorSpecs(cfg)) {
      const n = s.shape.reduce((x, y) => x * y, 1);
      params[s.name] = new Float32Array(n).fill(0.5);
      optimizer[`m.${s.name}`] = new Float32Array(n);
      optimizer[`v.${s.name}`] = new Float32Array(n);
    }
    const trainerState = { step: 1, loader: { rng: [1, 2, 3, 4], batchesDrawn: 1 }, sbld: null, blockSteps: [1, 1, 1], elapsedMs: 0, layerSteps: { run: 2, total: 2 } };
    return { modelConfig: cfg, params, optimizer, trainerState };
  }
  /** A run folder (`<dir>/checkpoint`) holding a checkpoint of `cfg`. */
  async function runFolder(name: string, cfg: GptConfig): Promise<string> {
    const dir = join(root, name);
    await saveCheckpoint(join(dir, 'checkpoint'), hostCheckpoint(cfg));
    return dir;
  }
  const tinyRun = (out: string) => resolveConfig({}, { preset: 'tiny', steps: 4, evalBatches: 1, sampleTokens: 0, out, drop: { policy: 'none' } });

  it('a checkpoint that loads when intact (control for the cases below)', async () => {
    const dir = await runFolder('intact', tiny);
    const ckpt = await loadCheckpoint(join(dir, 'checkpoint'), { modelConfig: tiny });
    expect(ckpt.params['transformer.wte.weight']![0]).toBe(0.5);
  });

  it('a truncated model file', async () => {
    const dir = await runFolder('truncated', tiny);
    const file = join(dir, 'checkpoint', MODEL_FILE);
    const size = readFileSync(file).length;
    truncateSync(file, Math.floor(size / 2));
    await expectRefusal(() => loadCheckpoint(join(dir, 'checkpoint'), { modelConfig: tiny }), /model\.safetensors/, /truncated/);
  });

  it('a corrupted optimizer file, through the resume path', async () => {
    const dir = await runFolder('corrupted', tiny);
    const file = join(dir, 'checkpoint', OPTIMIZER_FILE);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5]! ^= 0x40; // one bit in the last tensor's data; the size stays right
    writeFileSync(file, bytes);
    await expectRefusal(() => runTraining(tinyRun(dir), { quiet: true, resume: dir, engine: e }), /optimizer\.safetensors/, /corrupted/);
  });

  it('a checkpoint of another model shape, directly and through the resume path', async () => {
    const dir = await runFolder('wrong-shape', { ...tiny, n_embd: 64 });
    const msg = await expectRefusal(
      () => loadCheckpoint(join(dir, 'checkpoint'), { modelConfig: tiny }),
      /n_embd is 64 in the checkpoint, expected 32/,
      /transformer\.h\.0\.attn\.c_attn\.weight: shape \[64, 192\] in file, model expects \[32, 96\]/,
    );
    expect(msg.split('\n').length).toBeLessThanOrEqual(26); // a bounded list, not one line per tensor
    await expectRefusal(() => runTraining(tinyRun(dir), { quiet: true, resume: dir, engine: e }), /n_embd is 64 in the checkpoint, expected 32/);
  });
});
