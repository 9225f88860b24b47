/**
 * Moving a model's parameters (and AdamW moments) between the device and named host arrays, the form
 * checkpoints use: `transformer.h.0.ln_1.weight` -> Float32Array, optimizer moments as `m.<name>` / `v.<name>`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, loadModelWeights } from '../io/checkpoint.js';
import { requireRunCheckpoint } from '../io/run-checkpoint.js';
import { Engine } from '../runtime/engine.js';
import { GPT } from './gpt.js';
import type { ParamBlock } from './params.js';

/** Any model made of parameter blocks (GPT, the ViT): what reading and writing weights needs. */
export interface HasBlocks {
  readonly blocks: ParamBlock[];
}

export interface NamedWeights {
  params: Record<string, Float32Array>;
  optimizer: Record<string, Float32Array>;
  /** Optimizer steps taken by each block (layers 0..L-1, then the rest). */
  blockSteps: number[];
}

/** Reads every parameter (and, with `withOptimizer`, both moments) back to the host. */
export async function readWeights(e: Engine, model: HasBlocks, withOptimizer = true): Promise<NamedWeights> {
  const params: Record<string, Float32Array> = {};
  const optimizer: Record<string, Float32Array> = {};
  for (const block of model.blocks) {
    const values = await e.readFloat(block.params);
    const m = withOptimizer ? await e.readFloat(block.m) : null;
    const v = withOptimizer ? await e.readFloat(block.v) : null;
    for (const spec of block.specs) {
      params[spec.name] = block.slice(values, spec.name);
      if (m && v) {
        optimizer[`m.${spec.name}`] = block.slice(m, spec.name);
        optimizer[`v.${spec.name}`] = block.slice(v, spec.name);
      }
    }
  }
  return { params, optimizer, blockSteps: model.blocks.map((b) => b.stepCount) };
}

/** Uploads named parameters (and moments, when given) into the model's blocks. */
export function writeWeights(e: Engine, model: HasBlocks, params: Record<string, Float32Array>, optimizer?: Record<string, Float32Array>, blockSteps?: number[]): void {
  model.blocks.forEach((block, i) => {
    const values = new Float32Array(block.size);
    const m = new Float32Array(block.size);
    const v = new Float32Array(block.size);
    for (const spec of block.specs) {
      const p = params[spec.name];
      if (!p) throw new Error(`weights: missing ${spec.name}`);
      block.place(values, spec.name, p);
      if (optimizer) {
        block.place(m, spec.name, optimizer[`m.${spec.name}`]!);
        block.place(v, spec.name, optimizer[`v.${spec.name}`]!);
      }
    }
    e.write(block.params, values);
    if (optimizer) {
      e.write(block.m, m);
      e.write(block.v, v);
    }
    if (blockSteps) block.stepCount = blockSteps[i] ?? 0;
  });
}

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

/**
 * Opens an engine and a GPT holding the weights of the checkpoint at `path` (a run folder or its checkpoint
 * folder, found and recovered by the resolver --resume uses), for evaluation and sampling.
 */
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
