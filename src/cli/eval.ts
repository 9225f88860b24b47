/**
 * `npm run eval -- --checkpoint DIR [--data PATH] [--batches N] [--json]`: validation loss of a checkpoint in
 * nats/token and bits/byte (tokens are bytes), on the same fixed validation windows training used.
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadCorpus } from '../tasks/gpt/data/corpus.js';
import { validationBatches } from '../tasks/gpt/data/loader.js';
import { openCheckpointModel } from './checkpoint-model.js';
import { checkBatchFits } from '../train/batch-limit.js';
import { evaluate } from '../tasks/gpt/step.js';
import { runCli } from './options.js';

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`needs a positive integer, got '${v}'`);
  return n;
};

const program = new Command('sbld-eval')
  .description('Validation loss of a checkpoint.')
  .requiredOption('--checkpoint <dir>', 'run folder (or its checkpoint/ folder)')
  .option('--data <path>', 'text file or folder (default: the Brown corpus)')
  .option('--batches <n>', 'validation batches', positive, 16)
  .option('--batch-size <n>', 'rows per batch', positive, 8)
  .option('--json', 'print one JSON object');

await runCli(async () => {
  program.parse();
  const o = program.opts();
  const { e, model, dir } = await openCheckpointModel(o.checkpoint as string);
  const T = model.config.n_positions;
  checkBatchFits(e, o.batchSize as number, T * Math.max(4 * model.config.n_embd, model.config.vocab_size), 'an activation of (B, T, max(4C, V)) floats');
  const corpus = loadCorpus({ data: o.data as string | undefined, seqLen: T });
  const batches = validationBatches(corpus.val, o.batchSize as number, T, o.batches as number);
  const loss = await evaluate(e, model, batches, o.batchSize as number, T);
  const result = { checkpoint: dir, data: corpus.name, val_loss: loss, bits_per_byte: loss / Math.LN2, tokens: batches.length * (o.batchSize as number) * T };
  if (o.json) console.log(JSON.stringify(result));
  else console.log(`${corpus.name}: validation loss ${loss.toFixed(4)} nats/token, ${(loss / Math.LN2).toFixed(4)} bits/byte over ${result.tokens} tokens`);
  e.destroy();
});
