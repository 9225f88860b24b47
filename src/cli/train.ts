/**
 * `npm start [-- options]`: trains a GPT (default: the `small` preset on the Brown corpus with SBLD) and prints
 * a summary; `--json` makes the last stdout line one JSON object. `--help` lists every option. With `--task vit`
 * it trains a ViT classifier on Fashion-MNIST instead (src/vit/cli.ts), with the same options and policies.
 */
import { Command } from 'commander';
import { runTraining } from '../train/run.js';
import { runVitCli } from '../vit/cli.js';
import { isVitConfig } from '../vit/config.js';
import { addTaskOptions, addTrainingOptions, configFromOptions, resumeConfigFile, runCli } from './options.js';
import { layerDroppingLine } from './summary.js';
import { ensureDefaultVisionData } from './vision-data.js';

const program = addTaskOptions(addTrainingOptions(
  new Command('sbld-train').description('Train a GPT (or, with --task vit, a ViT on Fashion-MNIST) on WebGPU with layer dropping (SBLD by default).'),
))
  .option('--resume <dir>', 'continue the run in this folder from its last checkpoint')
  .option('--json', 'print the summary as one JSON object on the last line of stdout');

await runCli(async () => {
  program.parse();
  const o = program.opts();
  if (o.resume && o.out === undefined) o.out = o.resume;
  resumeConfigFile(o);
  const cfg = configFromOptions(o);
  if (isVitConfig(cfg) && cfg.data === undefined) ensureDefaultVisionData();
  if (isVitConfig(cfg)) return runVitCli(cfg, { resume: o.resume as string | undefined, json: !!o.json });
  const s = await runTraining(cfg, { resume: o.resume as string | undefined, plain: !!o.json });
  const json = { ...s, losses: undefined };
  console.log('');
  console.log(`done: ${s.steps} steps in ${s.wall_s.toFixed(1)} s, ${Math.round(s.tokens_per_s)} tokens/s on ${s.adapter}`);
  console.log(`loss: train ${s.train_loss.toFixed(4)}, validation ${s.val_loss.toFixed(4)} nats/token (${(s.val_loss / Math.LN2).toFixed(3)} bits/byte)`);
  console.log(layerDroppingLine(s));
  console.log(`written: ${s.out}/config.json, metrics.jsonl, checkpoint/`);
  if (s.sample) console.log(`sample:\n${s.sample}\n`);
  if (o.json) console.log(JSON.stringify(json));
});
