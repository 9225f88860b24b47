/**
 * `npm start [-- options]`: trains a GPT (default: the `small` preset on the Brown corpus with SBLD) and prints
 * a summary; `--json` makes the last stdout line one JSON object. `--help` lists every option. `--task NAME`
 * trains another task of src/tasks/index.ts (the ViT on Fashion-MNIST: `--task vit`), with the same options and
 * policies.
 */
import { Command } from 'commander';
import { taskNamed } from '../tasks/index.js';
import { addTaskOptions, addTrainingOptions, configFromOptions, flagsFromOptions, runCli } from './options.js';
import { prepareResume } from './resume.js';
import { layerDroppingLine, precisionLine } from './summary.js';

const program = addTaskOptions(addTrainingOptions(
  new Command('sbld-train').description('Train a GPT (or another task: --task) on WebGPU with layer dropping (SBLD by default).'),
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
  const task = taskNamed(cfg.task);
  task.prepareData?.(cfg);
  const s = await task.train(cfg, { resume: o.resume as string | undefined, overwrite: !!o.overwrite, lock, plain: !!o.json });
  console.log('');
  for (const line of task.describe(s)) console.log(line);
  console.log(precisionLine(s));
  console.log(layerDroppingLine(s));
  console.log(`written: ${s.out}/config.json, metrics.jsonl, checkpoint/`);
  if (s.sample) console.log(`sample:\n${s.sample}\n`);
  if (o.json) console.log(JSON.stringify({ ...s, losses: undefined }));
});
