/**
 * `npm run sample -- --checkpoint DIR --prompt TEXT [--tokens N] [--temperature T] [--top-k K] [--seed S]`:
 * generates text from a checkpoint.
 */
import { Command, InvalidArgumentError } from 'commander';
import { decode } from '../tasks/gpt/data/tokenizer.js';
import { generate } from '../tasks/gpt/sample.js';
import { openCheckpointModel } from './checkpoint-model.js';
import { runCli } from './options.js';

const number = (min: number, integer: boolean) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new InvalidArgumentError(`needs ${integer ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
  }
  return n;
};

const program = new Command('sbld-sample')
  .description('Generate text from a checkpoint.')
  .requiredOption('--checkpoint <dir>', 'run folder (or its checkpoint/ folder)')
  .option('--prompt <text>', 'text to continue', 'The ')
  .option('--tokens <n>', 'tokens (bytes) to generate', number(1, true), 200)
  .option('--temperature <t>', 'sampling temperature (0: greedy)', number(0, false), 0.8)
  .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', number(0, true), 40)
  .option('--seed <n>', 'sampling seed', number(0, true), 1);

await runCli(async () => {
  program.parse();
  const o = program.opts();
  const { e, model } = await openCheckpointModel(o.checkpoint as string);
  const tokens = await generate(e, model, {
    prompt: o.prompt as string,
    tokens: o.tokens as number,
    temperature: o.temperature as number,
    topK: o.topK as number,
    seed: o.seed as number,
  });
  console.log(decode(tokens));
  e.destroy();
});
