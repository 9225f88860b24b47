/**
 * The model of a checkpoint on a fresh engine, for `npm run eval` and `npm run sample`: found by the resolver
 * `--resume` uses (a run folder or its checkpoint folder; a checkpoint left mid-swap by a kill is recovered),
 * refused with one line when it is a ViT's or its weights are not finite.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, loadModelWeights } from '../tasks/gpt/checkpoint.js';
import { requireRunCheckpoint } from '../io/run-checkpoint.js';
import { GPT } from '../tasks/gpt/model.js';
import { writeWeights } from '../model/weights.js';
import { Engine } from '../runtime/engine.js';

/** Refuses a checkpoint whose config.json says it is not a GPT (a ViT run's), before its tensors confuse anyone. */
function refuseOtherModel(dir: string): void {
  let modelType: unknown;
  try {
    modelType = (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { model_type?: unknown }).model_type;
  } catch {
    return; // missing or unreadable: loadModelWeights says so, naming the file
  }
  if (modelType === 'vit') {
    throw new CheckpointError(
      'a ViT checkpoint (model_type "vit"): eval and sample read GPT checkpoints; a ViT run reports its accuracies in its metrics.jsonl (eval and test lines)',
      dir,
    );
  }
}

/** Throws when any parameter holds NaN or Inf (a run that diverged), naming the tensors. */
export function checkFiniteWeights(params: Record<string, Float32Array>, dir: string): void {
  const bad: string[] = [];
  for (const [name, a] of Object.entries(params)) {
    let n = 0;
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) n++;
    if (n > 0) bad.push(`${name} (${n} of ${a.length})`);
  }
  if (bad.length > 0) {
    const shown = bad.slice(0, 4).join(', ') + (bad.length > 4 ? ` and ${bad.length - 4} more tensors` : '');
    throw new CheckpointError(`model.safetensors holds NaN or Inf values in ${shown}: the run diverged before this checkpoint; use an earlier one`, dir);
  }
}

/** Opens an engine and a GPT holding the weights of the checkpoint at `path` (a run folder or a checkpoint folder). */
export async function openCheckpointModel(path: string): Promise<{ e: Engine; model: GPT; dir: string }> {
  const dir = await requireRunCheckpoint(path);
  refuseOtherModel(dir);
  const w = await loadModelWeights(dir);
  checkFiniteWeights(w.params, dir);
  const e = await Engine.create();
  const c = w.modelConfig;
  const model = new GPT(e, { n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd, vocab_size: c.vocab_size, n_positions: c.n_positions });
  writeWeights(e, model, w.params);
  return { e, model, dir };
}
