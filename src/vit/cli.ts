/**
 * `npm start -- --task vit [options]`: the ViT branch of src/cli/train.ts. Makes sure Fashion-MNIST is there
 * (through the bootstrap's `ensureVisionData`, which installs Debian's package with apt where it can), trains,
 * and prints a summary with top-1 / top-5 accuracy; `--json` makes the last stdout line one JSON object.
 */
import { layerDroppingLine } from '../cli/summary.js';
import { DataError } from '../data/errors.js';
import { ensureVisionData } from '../setup/bootstrap.mjs';
import type { VitTrainConfig } from './config.js';
import { FASHION_MNIST_DIR, missingIdxFiles } from './data.js';
import type { RunOptions } from '../train/loop.js';
import { runVitTraining } from './run.js';

/** Installs Fashion-MNIST when the default location lacks it (unless SBLD_SKIP_BOOTSTRAP=1); a DataError if it cannot. */
export function ensureDefaultVisionData(): void {
  if (missingIdxFiles(FASHION_MNIST_DIR).length === 0 || process.env.SBLD_SKIP_BOOTSTRAP === '1') return;
  const r = ensureVisionData(false);
  if (!r.ready) throw new DataError(`${r.message}\nOr pass --data DIR with the four IDX files.`);
  console.log(`bootstrap: ${r.message}`);
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export async function runVitCli(cfg: VitTrainConfig, o: RunOptions & { json?: boolean }): Promise<void> {
  if (cfg.data === undefined) ensureDefaultVisionData();
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
