/**
 * The ViT's training configuration: the same keys and flags as GPT's (src/train/config.ts), with its own presets
 * and defaults, `--patch-size` and `--augment`, and `seqLen` derived (tokens per image) rather than set.
 * Order as for GPT: defaults, the ViT preset, `--config FILE.json`, then flags (flags win); validated here with
 * messages that name the flag.
 */
import { ConfigError, DEFAULT_CONFIG, FLAG_NAMES, validateConfig, type PresetSizes, type TrainConfig } from '../../train/config.js';

/** A ViT preset: model and batch sizes and the patch size. */
export interface VitPreset extends PresetSizes {
  patchSize: number;
}

/**
 * Same names as GPT's presets. Patches of 7 x 7 (16 tokens per 28 x 28 image); 4 x 4 patches (49 tokens) cost
 * about 2.5x more per step (docs/results/vit/report.md has the measured step times).
 */
export const VIT_PRESETS = {
  tiny: { n_layer: 2, n_head: 2, n_embd: 32, patchSize: 7, batchSize: 16, description: 'L2 C32 H2, 7x7 patches, B16: tests' },
  small: { n_layer: 4, n_head: 4, n_embd: 64, patchSize: 7, batchSize: 64, description: 'L4 C64 H4, 7x7 patches, B64: the default' },
  deep: { n_layer: 12, n_head: 4, n_embd: 64, patchSize: 7, batchSize: 64, description: 'L12 C64 H4, 7x7 patches, B64: layer dropping' },
  deep24: { n_layer: 24, n_head: 4, n_embd: 64, patchSize: 7, batchSize: 64, description: 'L24 C64 H4, 7x7 patches, B64: layer dropping at 24 layers' },
} as const satisfies Record<string, VitPreset>;

export type VitPresetName = keyof typeof VIT_PRESETS;

/** Images are 28 x 28 (Fashion-MNIST); `seqLen` in the config is the token count for that size. */
export const VIT_IMAGE_SIZE = 28;

/** A resolved ViT training config: every GPT key (seqLen = tokens per image) plus the ViT's. */
export interface VitTrainConfig extends TrainConfig {
  /** 'vit' once resolved. */
  task?: string;
  patchSize: number;
  augment: boolean;
}

/**
 * Where the ViT's defaults differ from GPT's: AdamW as usual for small ViTs, no text sample. The learning rate
 * was chosen by short runs of `small` and `deep` without layer dropping (`deep` trains stably at it with the
 * gradients clipped at norm 1).
 */
export const VIT_DEFAULTS: Partial<TrainConfig> & { augment: boolean } = {
  lr: 5e-3,
  weightDecay: 0.05,
  beta2: 0.99,
  steps: 600,
  warmupSteps: 30,
  evalEvery: 100,
  evalBatches: 8,
  sampleTokens: 0,
  augment: false,
};

export function isVitConfig(cfg: TrainConfig): cfg is VitTrainConfig {
  return cfg.task === 'vit';
}

/** Merges defaults <- ViT preset <- file <- flags and validates the result. */
export function resolveVitConfig(file: Partial<VitTrainConfig>, flags: Partial<VitTrainConfig>): VitTrainConfig {
  // Keys that describe text, not images: refuse them rather than ignore them. (A run's own config.json, read
  // back by --resume, holds the derived seqLen and sampleTokens 0: those pass.)
  if (flags.seqLen !== undefined) {
    throw new ConfigError(`${FLAG_NAMES.seqLen} ${flags.seqLen}: does not apply to --task vit (a ViT's sequence is its patch grid; set --patch-size)`);
  }
  const sample = flags.sampleTokens ?? file.sampleTokens;
  if (sample !== undefined && sample !== 0) {
    throw new ConfigError(`${FLAG_NAMES.sampleTokens} ${sample}: does not apply to --task vit (there is no text to sample from an image classifier)`);
  }
  const presetName = (flags.preset ?? file.preset ?? DEFAULT_CONFIG.preset) as VitPresetName;
  if (!(presetName in VIT_PRESETS)) throw new ConfigError(`--preset ${presetName}: unknown preset; choose one of ${Object.keys(VIT_PRESETS).join(', ')}`);
  const p = VIT_PRESETS[presetName];
  const base: VitTrainConfig = {
    ...DEFAULT_CONFIG,
    ...VIT_DEFAULTS,
    task: 'vit',
    preset: presetName,
    n_layer: p.n_layer,
    n_head: p.n_head,
    n_embd: p.n_embd,
    batchSize: p.batchSize,
    patchSize: p.patchSize,
    seqLen: 1,
  };
  const cfg: VitTrainConfig = { ...base, ...file, ...flags, task: 'vit', drop: { ...base.drop, ...file.drop, ...flags.drop } } as VitTrainConfig;
  const P = cfg.patchSize;
  if (!Number.isInteger(P) || P < 1 || VIT_IMAGE_SIZE % P !== 0) {
    throw new ConfigError(`--patch-size ${JSON.stringify(P)}: must divide the ${VIT_IMAGE_SIZE}x${VIT_IMAGE_SIZE} images: 1, 2, 4, 7, 14 or 28 (7 is the default)`);
  }
  if (typeof cfg.augment !== 'boolean') throw new ConfigError(`--augment ${JSON.stringify(cfg.augment)}: must be true or false`);
  cfg.seqLen = (VIT_IMAGE_SIZE / P) ** 2;
  validateConfig(cfg);
  return cfg;
}
