/**
 * GPT's training config: the shared defaults (src/train/config.ts), a GPT preset (./presets.ts), then
 * `--config FILE.json`, then flags (flags win), validated.
 */
import { ConfigError, DEFAULT_CONFIG, validateConfig, type TrainConfig } from '../../train/config.js';
import { PRESETS, type PresetName } from './presets.js';

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
  if (cfg.task !== undefined && cfg.task !== 'gpt') throw new ConfigError(`--task ${cfg.task}: this resolves GPT configs; resolve it with its task (src/tasks/index.ts)`);
  validateConfig(cfg);
  return cfg;
}
