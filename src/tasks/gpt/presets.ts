/**
 * Named model and batch sizes. `tiny` is for tests, `small` is the default (`npm start` trains it in minutes on
 * 2 CPU cores under lavapipe), `deep` has 12 layers for layer-dropping studies, `deep24` 24 (the
 * depth of the SBLD and PLD papers' models) for the frontier study (bench/frontier/study.sh).
 */
import type { PresetSizes } from '../../train/config.js';

export interface Preset extends PresetSizes {
  seqLen: number;
}

export const PRESETS = {
  tiny: { n_layer: 2, n_head: 2, n_embd: 32, seqLen: 32, batchSize: 4, description: 'L2 C32 H2, T32 B4: tests' },
  small: { n_layer: 4, n_head: 4, n_embd: 128, seqLen: 64, batchSize: 16, description: 'L4 C128 H4, T64 B16: the default' },
  deep: { n_layer: 12, n_head: 4, n_embd: 128, seqLen: 64, batchSize: 16, description: 'L12 C128 H4, T64 B16: layer dropping' },
  deep24: { n_layer: 24, n_head: 4, n_embd: 128, seqLen: 64, batchSize: 16, description: 'L24 C128 H4, T64 B16: layer dropping at 24 layers' },
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;
