/**
 * The ViT end to end: config resolution (ViT presets, flags win, GPT-only keys refused, --task routing through
 * the shared CLI options), a short SBLD run on synthetic IDX files given with --data (metrics.jsonl step, eval,
 * sensitivity and test lines; the summary's accuracies; the checkpoint's timm names and shapes, loaded back
 * exactly), resume (a run stopped and resumed has the uninterrupted run's losses, bit for bit), the bootstrap's
 * Fashion-MNIST plan, and `npm start -- --task vit` as a child process.
 * About 20 s. Run: npx vitest run --config test/vitest.config.ts test/vit_run.test.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTaskOptions, addTrainingOptions, configFromOptions } from '../src/cli/options.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { readWeights } from '../src/model/weights.js';
import type { Engine } from '../src/runtime/engine.js';
import { planVisionData, VISION_DATA_DIR } from '../src/setup/bootstrap.mjs';
import { ConfigError, type TrainConfig } from '../src/train/config.js';
import { resolveTaskConfig } from '../src/tasks/index.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { readConfigFile } from '../src/cli/config-file.js';
import { loadVitCheckpoint } from '../src/tasks/vit/checkpoint.js';
import { resolveVitConfig, VIT_PRESETS, type VitTrainConfig } from '../src/tasks/vit/config.js';
import { ViT, vitTensorSpecs } from '../src/tasks/vit/model.js';
import { runVitTraining, type VitRunSummary } from '../src/tasks/vit/run.js';
import { getEngine } from './helpers/gpu.js';
import { patternSet, writeDataset } from './helpers/vit_data.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let e: Engine;
let root: string;
let dataDir: string;

beforeAll(async () => {
  e = await getEngine();
  root = mkdtempSync(join(tmpdir(), 'vit-run-test-'));
  dataDir = join(root, 'data');
  writeDataset(dataDir, patternSet(600, 1), patternSet(200, 2));
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

function readLines(out: string): Record<string, unknown>[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A tiny-preset ViT run on the synthetic data. */
function tinyConfig(name: string, steps: number, extra: Partial<VitTrainConfig> = {}): VitTrainConfig {
  return resolveVitConfig({}, { preset: 'tiny', steps, warmupSteps: 2, evalEvery: 0, evalBatches: 2, checkpointEvery: 0, data: dataDir, out: join(root, name), ...extra });
}

describe('ViT config', () => {
  it('ViT presets and defaults; flags win; seqLen is the token count', () => {
    const c = resolveVitConfig({}, {});
    expect([c.task, c.preset, c.n_layer, c.n_embd, c.n_head, c.patchSize, c.batchSize]).toEqual(['vit', 'small', 4, 64, 4, 7, 64]);
    expect([c.seqLen, c.sampleTokens, c.augment]).toEqual([16, 0, false]);
    const deep = resolveVitConfig({ preset: 'deep', lr: 1e-3 }, { patchSize: 4, augment: true, lr: 5e-4 });
    expect([deep.n_layer, deep.seqLen, deep.augment, deep.lr]).toEqual([VIT_PRESETS.deep.n_layer, 49, true, 5e-4]);
    expect(VIT_PRESETS.deep.n_layer).toBeGreaterThanOrEqual(12);
  });

  it('refuses keys that do not apply, with the flag named', () => {
    expect(() => resolveVitConfig({}, { seqLen: 64 })).toThrow(/--seq-len 64: does not apply to --task vit/);
    expect(() => resolveVitConfig({}, { sampleTokens: 100 })).toThrow(/--sample-tokens 100: does not apply to --task vit/);
    expect(() => resolveVitConfig({}, { patchSize: 5 })).toThrow(/--patch-size 5: must divide the 28x28 images/);
    expect(() => resolveVitConfig({}, { n_embd: 30, n_head: 4 })).toThrow(ConfigError);
    expect(() => resolveTaskConfig({}, { patchSize: 7 } as Partial<TrainConfig>)).toThrow(/--patch-size 7: applies to --task vit only/);
    expect(() => resolveTaskConfig({ augment: true } as Partial<TrainConfig>, { task: 'gpt' })).toThrow(/--augment true: applies to --task vit only/);
    expect(() => resolveTaskConfig({}, { task: 'nope' })).toThrow(/--task "nope": unknown task; choose one of gpt, vit/);
    expect(resolveTaskConfig({}, { task: 'vit', patchSize: 4 } as Partial<TrainConfig>)).toMatchObject({ task: 'vit', patchSize: 4, seqLen: 49 });
    expect(() => resolveConfig({ task: 'vit' }, {})).toThrow(/--task vit: this resolves GPT configs/);
    // A run's own config.json (derived seqLen, sampleTokens 0) is accepted back, as --resume does.
    expect(resolveVitConfig({ seqLen: 16, sampleTokens: 0, task: 'vit' }, {}).seqLen).toBe(16);
  });

  it('the shared CLI options route --task vit to the ViT config', () => {
    const parse = (argv: string[]) => {
      const cmd = addTaskOptions(addTrainingOptions(new Command('t'))).exitOverride().configureOutput({ writeErr: () => {} });
      cmd.parse(argv, { from: 'user' });
      return configFromOptions(cmd.opts());
    };
    const v = parse(['--task', 'vit', '--preset', 'tiny', '--patch-size', '4', '--augment', '--drop', 'pld']) as VitTrainConfig;
    expect([v.task, v.n_layer, v.patchSize, v.seqLen, v.augment, v.drop.policy]).toEqual(['vit', 2, 4, 49, true, 'pld']);
    expect((parse(['--task', 'vit', '--no-augment']) as VitTrainConfig).augment).toBe(false);
    const g = parse(['--preset', 'tiny']);
    expect([g.task, g.seqLen]).toEqual([undefined, 32]);
    expect(() => parse(['--task', 'cnn'])).toThrow();
  });
});

describe('a short ViT run', () => {
  let s: VitRunSummary;
  const cfgA = () => tinyConfig('sbld', 30, { evalEvery: 10, drop: { policy: 'sbld', warmupFrac: 0.2 } });

  beforeAll(async () => {
    s = await runVitTraining(cfgA(), { engine: e, quiet: true });
  });

  it('logs steps, evaluations with accuracies, a sensitivity measurement, the test set and a summary', () => {
    const lines = readLines(s.out);
    const steps = lines.filter((l) => l.type === undefined);
    expect(steps.map((l) => l.step)).toEqual([...Array(30).keys()]);
    for (const l of steps) {
      expect(l.layers).toMatch(/^[01]{2}$/);
      expect(l.images_per_s as number).toBeGreaterThan(0);
      expect(Math.abs((l.tokens_per_s as number) - (l.images_per_s as number) * 16)).toBeLessThanOrEqual(1); // both rounded to 0.1
    }
    const evals = lines.filter((l) => l.type === 'eval');
    expect(evals.map((l) => l.step)).toEqual([9, 19, 29]);
    expect(evals.map((l) => l.val_images)).toEqual([32, 32, 50]); // 2 batches of 16, then the whole split (600 / 12)
    for (const l of evals) for (const k of ['val_loss', 'val_top1', 'val_top5']) expect(Number.isFinite(l[k])).toBe(true);
    const sens = lines.filter((l) => l.type === 'sensitivity');
    expect(sens.length).toBe(1);
    expect(sens[0]!.step).toBe(6);
    const test = lines.filter((l) => l.type === 'test');
    expect(test.map((l) => l.test_images)).toEqual([200]);
    // Some layer-step was skipped after the measurement, never the block-listed layer.
    expect(s.skipped_fraction).toBeGreaterThan(0);
    const block = (sens[0]!.block as number[])[0]!;
    expect(steps.every((l) => (l.layers as string)[block] === '1')).toBe(true);
    const summary = lines.find((l) => l.type === 'summary')!;
    for (const k of ['steps', 'wall_s', 'tokens_per_s', 'train_loss', 'val_loss', 'skipped_fraction', 'est_saved_s', 'policy', 'top1', 'top5', 'test_top1', 'test_top5', 'test_loss']) {
      expect(summary, k).toHaveProperty(k);
    }
    expect(s.val_images).toBe(50);
    // The run folder's config.json resolves back to the same config (what --resume reads).
    const back = resolveVitConfig(readConfigFile(join(s.out, 'config.json')), {});
    const want = cfgA();
    for (const k of ['task', 'n_layer', 'n_embd', 'patchSize', 'seqLen', 'batchSize', 'steps', 'lr', 'augment', 'data', 'seed'] as const) expect(back[k], k).toEqual(want[k]);
    expect(back.drop.policy).toBe('sbld');
    expect(s.top5).toBeGreaterThanOrEqual(s.top1);
    // The synthetic classes are easy (a bright patch at a class-specific place): 30 steps learn them.
    console.log(`vit run: loss ${s.losses[0]!.toFixed(3)} -> ${s.train_loss.toFixed(3)}, val top-1 ${s.top1}, test top-1 ${s.test_top1}`);
    expect(s.test_top1!).toBeGreaterThan(0.5);
  });

  it('writes a checkpoint with timm names and shapes that loads back into the same weights', async () => {
    const ckpt = join(s.out, 'checkpoint');
    const config = JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'vit', img_size: 28, patch_size: 7, embed_dim: 32, depth: 2, num_heads: 2, num_classes: 10, global_pool: 'avg' });
    const model = decodeSafetensors(readFileSync(join(ckpt, 'model.safetensors'))).tensors;
    const specs = vitTensorSpecs({ n_layer: 2, n_head: 2, n_embd: 32, image_size: 28, patch_size: 7, n_classes: 10 });
    expect(Object.keys(model).sort()).toEqual(specs.map((sp) => sp.name).sort());
    for (const sp of specs) expect(model[sp.name]!.shape, sp.name).toEqual(sp.fileShape);
    expect(model['blocks.1.attn.qkv.weight']!.shape).toEqual([96, 32]);
    // Transposed on save and back on load: a fresh model with the loaded weights evaluates like the trained one.
    const loaded = await loadVitCheckpoint(ckpt);
    const fresh = new ViT(e, loaded.modelConfig);
    const { writeWeights } = await import('../src/model/weights.js');
    writeWeights(e, fresh, loaded.params, loaded.optimizer);
    const w = await readWeights(e, fresh);
    expect(Object.keys(w.params).length).toBe(specs.length);
    for (const [name, values] of Object.entries(loaded.params)) expect(w.params[name], name).toEqual(values);
    // The file's qkv weight is the transpose of the device's.
    const dev = loaded.params['blocks.0.attn.qkv.weight']!; // (32, 96)
    const file = model['blocks.0.attn.qkv.weight']!.data as Float32Array; // (96, 32)
    expect(file[5 * 32 + 3]).toBe(dev[3 * 96 + 5]);
    await expect(loadVitCheckpoint(ckpt, { expected: { ...loaded.modelConfig, n_embd: 64, n_head: 2 } })).rejects.toThrow(/n_embd is 32 in the checkpoint, expected 64/);
  });

  it('a run stopped and resumed has the uninterrupted losses, bit for bit', async () => {
    const cfg = (name: string) => tinyConfig(name, 12, { augment: true, drop: { policy: 'layerdrop', rate: 0.3 } });
    const whole = await runVitTraining(cfg('whole'), { engine: e, quiet: true });
    const part = await runVitTraining(cfg('part'), { engine: e, quiet: true, stopAfter: 5 });
    expect(part.test_top1).toBeNull();
    const rest = await runVitTraining(cfg('part'), { engine: e, quiet: true, resume: join(root, 'part') });
    expect([...part.losses, ...rest.losses]).toEqual(whole.losses);
    const steps = readLines(join(root, 'part')).filter((l) => l.type === undefined);
    expect(steps.map((l) => l.step)).toEqual([...Array(12).keys()]);
  });
});

describe('Fashion-MNIST set-up (bootstrap --vision)', () => {
  const debian = { id: 'debian', idLike: [], codename: 'bookworm', prettyName: 'Debian 12' };
  it('installs with apt as root on Debian/Ubuntu, prints commands otherwise', () => {
    expect(planVisionData({ missing: [], os: debian, isRoot: false })).toEqual({ action: 'ok' });
    const install = planVisionData({ missing: ['train-images-idx3-ubyte.gz'], os: debian, isRoot: true });
    expect(install.action).toBe('install');
    if (install.action === 'install') {
      expect(install.reason).toContain(`${VISION_DATA_DIR} lacks train-images-idx3-ubyte.gz`);
      expect(install.steps.map((st) => st.argv)).toEqual([['apt-get', 'update'], ['apt-get', 'install', '-y', 'dataset-fashion-mnist']]);
    }
    const manual = planVisionData({ missing: ['x'], os: { ...debian, id: 'ubuntu' }, isRoot: false });
    expect(manual.action === 'manual' && manual.commands).toEqual(['sudo apt-get update', 'sudo DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist']);
    const other = planVisionData({ missing: ['x'], os: { id: 'fedora', idLike: [], codename: '', prettyName: 'Fedora' }, isRoot: true });
    expect(other.action).toBe('manual');
    if (other.action === 'manual') {
      expect(other.reason).toMatch(/--data DIR/);
      expect(other.commands.filter((c) => c.startsWith('curl')).length).toBe(4);
    }
  });
});

describe('npm start -- --task vit', () => {
  it('trains from the command line and prints the summary with accuracies as JSON', () => {
    const out = join(root, 'cli');
    const args = ['src/cli/train.ts', '--task', 'vit', '--preset', 'tiny', '--steps', '3', '--eval-batches', '1', '--data', dataDir, '--out', out, '--json'];
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, DEBUG: '' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/test \(200 images, .*\): loss .*, top-1 .*%, top-5 .*%/);
    const json = JSON.parse(r.stdout.trimEnd().split('\n').pop()!) as VitRunSummary;
    expect([json.task, json.steps, json.val_images, json.test_images]).toEqual(['vit', 3, 50, 200]);
    const bad = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/cli/train.ts', '--task', 'vit', '--data', join(root, 'nowhere'), '--out', join(root, 'cli-bad-data')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, DEBUG: '' },
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^error: --data .*nowhere: missing train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte/m);
  });
});
