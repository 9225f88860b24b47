/**
 * The training configuration: defaults, a preset, then `--config FILE.json`, then flags (flags win). Every
 * value is validated here, at the boundary, with a message that names the flag and says how to fix it.
 */
import type { DropConfig } from '../drop/config.js';
import { resolveDropConfig } from '../drop/resolve.js';
import { PRESETS, type PresetName } from '../model/presets.js';

export interface TrainConfig {
  preset: PresetName;
  n_layer: number;
  n_head: number;
  n_embd: number;
  /** Context length T of training windows (also the model's n_positions). */
  seqLen: number;
  /** Rows B per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  gradAccum: number;
  steps: number;
  lr: number;
  /** Final learning rate of the cosine decay, as a fraction of lr. */
  minLrFrac: number;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  seed: number;
  evalEvery: number;
  /** Validation batches (fixed windows) per evaluation. */
  evalBatches: number;
  /** Text file or folder; the Brown corpus when absent. */
  data?: string;
  out: string;
  /** Checkpoint every N steps (0: only at the end). */
  checkpointEvery: number;
  /** Tokens of the text sample printed at the end (0: none). */
  sampleTokens: number;
  /** Layer dropping: policy name and hyperparameters. */
  drop: Partial<DropConfig>;
  /** What to train: 'gpt' (default, language model) or 'vit' (image classifier, resolved by src/vit/config.ts). */
  task?: 'gpt' | 'vit';
  /** --task vit only: side P of the square patches the images are cut into. */
  patchSize?: number;
  /** --task vit only: random crop (2 px padding) and horizontal flips of training images. */
  augment?: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_CONFIG: Omit<TrainConfig, 'n_layer' | 'n_head' | 'n_embd' | 'seqLen' | 'batchSize'> = {
  preset: 'small',
  gradAccum: 1,
  // Sized so `npm start` (small preset) finishes in about five minutes on 2 CPU cores under lavapipe (measured 5:19).
  steps: 1000,
  lr: 3e-3,
  minLrFrac: 0.1,
  warmupSteps: 20,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  gradClip: 1.0,
  seed: 1337,
  evalEvery: 100,
  evalBatches: 8,
  out: 'runs/latest',
  checkpointEvery: 100,
  sampleTokens: 200,
  drop: { policy: 'sbld' },
};

/** Flag spelling of each key, for error messages. */
export const FLAG_NAMES: Record<keyof TrainConfig, string> = {
  preset: '--preset',
  n_layer: '--n-layer',
  n_head: '--n-head',
  n_embd: '--n-embd',
  seqLen: '--seq-len',
  batchSize: '--batch-size',
  gradAccum: '--grad-accum',
  steps: '--steps',
  lr: '--lr',
  minLrFrac: '--min-lr-frac',
  warmupSteps: '--warmup-steps',
  weightDecay: '--weight-decay',
  beta1: '--beta1',
  beta2: '--beta2',
  gradClip: '--grad-clip',
  seed: '--seed',
  evalEvery: '--eval-every',
  evalBatches: '--eval-batches',
  data: '--data',
  out: '--out',
  checkpointEvery: '--checkpoint-every',
  sampleTokens: '--sample-tokens',
  drop: '--drop',
  task: '--task',
  patchSize: '--patch-size',
  augment: '--augment',
};

/** Merges defaults <- preset <- file <- flags and validates the result. */
export function resolveConfig(file: Partial<TrainConfig>, flags: Partial<TrainConfig>): TrainConfig {
  const presetName = (flags.preset ?? file.preset ?? DEFAULT_CONFIG.preset) as PresetName;
  if (!(presetName in PRESETS)) {
    throw new ConfigError(`--preset ${presetName}: unknown preset; choose one of ${Object.keys(PRESETS).join(', ')}`);
  }
  const preset = PRESETS[presetName];
  const base: TrainConfig = {
    ...DEFAULT_CONFIG,
    n_layer: preset.n_layer,
    n_head: preset.n_head,
    n_embd: preset.n_embd,
    seqLen: preset.seqLen,
    batchSize: preset.batchSize,
    preset: presetName,
  };
  const cfg: TrainConfig = { ...base, ...file, ...flags, drop: { ...base.drop, ...file.drop, ...flags.drop } };
  if (cfg.task === 'vit') throw new ConfigError('--task vit: resolve a ViT config with resolveVitConfig (src/vit/config.ts); this path trains GPT');
  validateConfig(cfg);
  return cfg;
}

function check(cond: boolean, key: keyof TrainConfig, value: unknown, what: string): void {
  if (!cond) throw new ConfigError(`${FLAG_NAMES[key]} ${JSON.stringify(value)}: ${what}`);
}

/**
 * The most optimizer steps a run can schedule: the layer-drop draws are keyed by the step as a 32-bit integer
 * (src/drop/policy.ts drawPlan), so steps past 2^32 would repeat earlier steps' draws.
 */
export const MAX_STEPS = 2 ** 32 - 1;

export function validateConfig(c: TrainConfig): void {
  const posInt = ['n_layer', 'n_head', 'n_embd', 'seqLen', 'batchSize', 'gradAccum', 'steps', 'evalBatches'] as const;
  for (const k of posInt) check(Number.isInteger(c[k]) && c[k] > 0, k, c[k], 'must be a positive integer');
  check(c.steps <= MAX_STEPS, 'steps', c.steps, `is more than a run can schedule: at most ${MAX_STEPS} (2^32 - 1; layer-drop draws are keyed by a 32-bit step)`);
  const nonNegInt = ['warmupSteps', 'evalEvery', 'checkpointEvery', 'sampleTokens', 'seed'] as const;
  for (const k of nonNegInt) check(Number.isInteger(c[k]) && c[k] >= 0, k, c[k], 'must be a non-negative integer');
  check(Number.isFinite(c.lr) && c.lr > 0 && c.lr < 1, 'lr', c.lr, 'must be a number in (0, 1), e.g. 3e-3');
  check(Number.isFinite(c.minLrFrac) && c.minLrFrac >= 0 && c.minLrFrac <= 1, 'minLrFrac', c.minLrFrac, 'must be in [0, 1]');
  check(Number.isFinite(c.weightDecay) && c.weightDecay >= 0, 'weightDecay', c.weightDecay, 'must be >= 0');
  for (const k of ['beta1', 'beta2'] as const) check(Number.isFinite(c[k]) && c[k] >= 0 && c[k] < 1, k, c[k], 'must be in [0, 1)');
  check(Number.isFinite(c.gradClip) && c.gradClip >= 0, 'gradClip', c.gradClip, 'must be >= 0 (0 disables clipping)');
  check(c.n_embd % c.n_head === 0, 'n_embd', c.n_embd, `must be divisible by --n-head ${c.n_head}`);
  check(c.n_embd / c.n_head <= 128, 'n_head', c.n_head, `gives head size ${c.n_embd / c.n_head}; at most 128 is supported`);
  check(c.seqLen <= 1024, 'seqLen', c.seqLen, 'at most 1024 is supported');
  check(c.gradAccum <= 64, 'gradAccum', c.gradAccum, 'at most 64 micro-batches per step');
  check(typeof c.out === 'string' && c.out.length > 0, 'out', c.out, 'must be a folder path');
  check(c.task === undefined || c.task === 'gpt' || c.task === 'vit', 'task', c.task, "must be 'gpt' or 'vit'");
  if (c.task !== 'vit') for (const k of ['patchSize', 'augment'] as const) check(c[k] === undefined, k, c[k], 'applies to --task vit only');
  // The layer-dropping block too, so a bad drop value (flag or config file) is refused before anything is built;
  // DropConfigError lists every problem, each naming its --drop-* flag.
  resolveDropConfig(c.drop, { nLayer: c.n_layer, totalSteps: c.steps });
}
