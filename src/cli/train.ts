/**
 * `npm start [-- options]`: trains a GPT (default: the `small` preset on the Brown corpus with SBLD) and prints
 * a summary; `--json` makes the last stdout line one JSON object. `--help` lists every option. With `--task vit`
 * it trains a ViT classifier on Fashion-MNIST instead (src/vit/cli.ts), with the same options and policies.
 */
import { Command } from 'commander';
import { runTraining } from '../tasks/gpt/run.js';
import { runVitCli } from '../tasks/vit/cli.js';
import { isVitConfig } from '../tasks/vit/config.js';
import { addTaskOptions, addTrainingOptions, configFromOptions, flagsFromOptions, runCli } from './options.js';
import { prepareResume } from './resume.js';
import { layerDroppingLine } from './summary.js';
import { ensureDefaultVisionData } from './vision-data.js';

const program = addTaskOptions(addTrainingOptions(
  new Command('sbld-train').description('Train a GPT (or, with --task vit, a ViT on Fashion-MNIST) on WebGPU with layer dropping (SBLD by default).'),
))
  .option('--resume <dir>', "continue the run in this folder from its last checkpoint, with the run's own config")
  .option('--overwrite', 'replace a run already in --out (otherwise starting a run there is refused)')
  .option('--json', 'print the summary as one JSON object on the last line of stdout');

await runCli(async () => {
  program.parse();
  const o = program.opts();
  // A resume takes its config from the checkpoint; what the user typed may only change the run's length and cadence.
  const typed = (name: string) => program.getOptionValueSource(name) === 'cli';
  const { cfg, lock } = o.resume
    ? await prepareResume(o.resume as string, flagsFromOptions(o, typed), o.config as string | undefined)
    : { cfg: configFromOptions(o), lock: undefined };
  const runOpts = { resume: o.resume as string | undefined, overwrite: !!o.overwrite, lock };
  if (isVitConfig(cfg) && cfg.data === undefined) ensureDefaultVisionData();
  if (isVitConfig(cfg)) return runVitCli(cfg, { ...runOpts, json: !!o.json });
  const s = await runTraining(cfg, { ...runOpts, plain: !!o.json });
  const json = { ...s, losses: undefined };
  console.log('');
  console.log(`done: ${s.steps} steps in ${s.wall_s.toFixed(1)} s, ${Math.round(s.tokens_per_s)} tokens/s on ${s.adapter}`);
  console.log(`loss: train ${s.train_loss.toFixed(4)}, validation ${s.val_loss.toFixed(4)} nats/token (${(s.val_loss / Math.LN2).toFixed(3)} bits/byte)`);
  console.log(layerDroppingLine(s));
  console.log(`written: ${s.out}/config.json, metrics.jsonl, checkpoint/`);
  if (s.sample) console.log(`sample:\n${s.sample}\n`);
  if (o.json) console.log(JSON.stringify(json));
});
