/**
 * The training configuration: defaults, a preset, then `--config FILE.json`, then flags (flags win). Every
 * value is validated here, at the boundary, with a message that names the flag and says how to fix it.
 */
import type { DropConfig } from '../drop/config.js';
import { resolveDropConfig } from '../drop/resolve.js';

export interface TrainConfig {
  /** The task's preset the sizes came from (src/tasks/<name>/presets). */
  preset: string;
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
  /** What to train: a task of src/tasks/index.ts ('gpt' when absent). Tasks' own keys extend this type. */
  task?: string;
  /**
   * The matmuls' operand precision: f16 mixed precision (f16 operands, f32 accumulation, f32 master weights,
   * dynamic loss scaling) or f32; 'auto' (or absent) takes the adapter's rule (src/runtime/choice.ts).
   */
  precision?: 'auto' | 'f32' | 'f16';
}

/** What every task's preset sets: the trunk's sizes and the batch; a task's preset adds its own (GPT: seqLen). */
export interface PresetSizes {
  n_layer: number;
  n_head: number;
  n_embd: number;
  batchSize: number;
  description: string;
}

export const PRECISIONS = ['auto', 'f32', 'f16'] as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_CONFIG: Omit<TrainConfig, 'n_layer' | 'n_head' | 'n_embd' | 'seqLen' | 'batchSize'> = {
  preset: 'small',
  gradAccum: 1,
  // Sized so `npm start` (small preset) finishes in minutes on 2 CPU cores under lavapipe (README: the measured time).
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
  precision: '--precision',
};

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
  check(c.precision === undefined || PRECISIONS.includes(c.precision), 'precision', c.precision, `must be one of ${PRECISIONS.join(', ')}`);
  // The layer-dropping block too, so a bad drop value (flag or config file) is refused before anything is built;
  // DropConfigError lists every problem, each naming its --drop-* flag.
  resolveDropConfig(c.drop, { nLayer: c.n_layer, totalSteps: c.steps });
}
