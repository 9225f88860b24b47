/** The ViT task: an image classifier on Fashion-MNIST (`npm start -- --task vit`). */
import type { Task } from '../../train/task.js';
import { resolveVitConfig, VIT_PRESETS, type VitTrainConfig } from './config.js';
import { ensureDefaultVisionData } from './default-data.js';
import { runVitTraining, type VitRunSummary } from './run.js';

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export const vitTask: Task<VitTrainConfig, VitRunSummary> = {
  name: 'vit',
  description: 'image classifier on Fashion-MNIST',
  presets: Object.keys(VIT_PRESETS),
  flags: [
    { key: 'patchSize', flag: '--patch-size <n>', help: 'side of the square image patches (7: 16 tokens per 28x28 image)', kind: 'int' },
    { key: 'augment', flag: '--augment', help: 'random crop (2 px padding) and horizontal flips of training images (default: none)', kind: 'switch' },
  ],
  resolveConfig: resolveVitConfig,
  prepareData(cfg) {
    if (cfg.data === undefined) ensureDefaultVisionData();
  },
  train: runVitTraining,
  describe: (s) => [
    `done: ${s.steps} steps in ${s.wall_s.toFixed(1)} s, ${Math.round(s.images_per_s)} images/s (${Math.round(s.tokens_per_s)} patch tokens/s) on ${s.adapter}`,
    `validation (${s.val_images} images): loss ${s.val_loss.toFixed(4)}, top-1 ${pct(s.top1)}, top-5 ${pct(s.top5)}; train loss ${s.train_loss.toFixed(4)}`,
    ...(s.test_top1 === null
      ? []
      : [`test (${s.test_images} images, ${s.test_s.toFixed(1)} s): loss ${s.test_loss!.toFixed(4)}, top-1 ${pct(s.test_top1)}, top-5 ${pct(s.test_top5)}`]),
  ],
};
