/**
 * `npm start -- --task vit [options]`: the ViT branch of src/cli/train.ts (which makes sure Fashion-MNIST is
 * there first: src/cli/vision-data.ts). Trains and prints a summary with top-1 / top-5 accuracy; `--json` makes the last stdout line one JSON object.
 */
import { layerDroppingLine } from '../../cli/summary.js';
import type { VitTrainConfig } from './config.js';
import type { RunOptions } from '../../train/loop.js';
import { runVitTraining } from './run.js';

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export async function runVitCli(cfg: VitTrainConfig, o: RunOptions & { json?: boolean }): Promise<void> {
  const { json, ...runOpts } = o;
  const s = await runVitTraining(cfg, { ...runOpts, plain: !!json });
  console.log('');
  console.log(`done: ${s.steps} steps in ${s.wall_s.toFixed(1)} s, ${Math.round(s.images_per_s)} images/s (${Math.round(s.tokens_per_s)} patch tokens/s) on ${s.adapter}`);
  console.log(`validation (${s.val_images} images): loss ${s.val_loss.toFixed(4)}, top-1 ${pct(s.top1)}, top-5 ${pct(s.top5)}; train loss ${s.train_loss.toFixed(4)}`);
  if (s.test_top1 !== null) {
    console.log(`test (${s.test_images} images, ${s.test_s.toFixed(1)} s): loss ${s.test_loss!.toFixed(4)}, top-1 ${pct(s.test_top1)}, top-5 ${pct(s.test_top5)}`);
  }
  console.log(layerDroppingLine(s));
  console.log(`written: ${s.out}/config.json, metrics.jsonl, checkpoint/`);
  if (o.json) console.log(JSON.stringify({ ...s, losses: undefined }));
}
