/** The model of a checkpoint folder on a fresh engine, for `npm run eval` and `npm run sample`. */
import { loadModelWeights } from '../io/checkpoint.js';
import { GPT } from '../model/gpt.js';
import { writeWeights } from '../model/weights.js';
import { Engine } from '../runtime/engine.js';

/** Opens an engine and a GPT holding the weights of the checkpoint folder `dir` (for evaluation, sampling). */
export async function openCheckpointModel(dir: string): Promise<{ e: Engine; model: GPT }> {
  const w = await loadModelWeights(dir);
  const e = await Engine.create();
  const c = w.modelConfig;
  const model = new GPT(e, { n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd, vocab_size: c.vocab_size, n_positions: c.n_positions });
  writeWeights(e, model, w.params);
  return { e, model };
}
