/** The GPT task: a byte-level language model on the Brown corpus or `--data` text (the default task). */
import type { Task, RunSummary } from '../../train/task.js';
import type { TrainConfig } from '../../train/config.js';
import { resolveConfig } from './config.js';
import { PRESETS } from './presets.js';
import { runTraining } from './run.js';

export const gptTask: Task<TrainConfig, RunSummary> = {
  name: 'gpt',
  description: 'language model on the Brown corpus or --data text',
  presets: Object.keys(PRESETS),
  flags: [],
  resolveConfig,
  train: runTraining,
  describe: (s) => [
    `done: ${s.steps} steps in ${s.wall_s.toFixed(1)} s, ${Math.round(s.tokens_per_s)} tokens/s on ${s.adapter}`,
    `loss: train ${s.train_loss.toFixed(4)}, validation ${s.val_loss.toFixed(4)} nats/token (${(s.val_loss / Math.LN2).toFixed(3)} bits/byte)`,
  ],
};
