/**
 * `npm run sample -- --checkpoint DIR --prompt TEXT [--tokens N] [--temperature T] [--top-k K] [--seed S]`:
 * generates text from a checkpoint.
 */
import { Command, InvalidArgumentError } from 'commander';
import { decode } from '../data/tokenizer.js';
import { loadModelWeights } from '../io/checkpoint.js';
import { GPT } from '../model/gpt.js';
import { generate } from '../model/sample.js';
import { writeWeights } from '../model/weights.js';
import { Engine } from '../runtime/engine.js';
import { checkpointFolder, runCli } from './options.js';

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
  const dir = checkpointFolder(o.checkpoint as string);
  const w = await loadModelWeights(dir);
  const e = await Engine.create();
  const c = w.modelConfig;
  const model = new GPT(e, { n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd, vocab_size: c.vocab_size, n_positions: c.n_positions });
  writeWeights(e, model, w.params);
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
