/**
 * One forward + backward of a whole model on the GPU, for the golden tests (test/gpt.test.ts, test/vit.test.ts).
 */
import type { LayerPlan } from '../../src/tasks/gpt/model.js';
import type { ParamBlock } from '../../src/model/params.js';
import type { Engine } from '../../src/runtime/engine.js';
import type { Tensor } from '../../src/runtime/tensor.js';

export interface GpuPass {
  logits: Float32Array;
  loss: number;
  /** Each parameter's gradient by name. */
  grads: Record<string, Float32Array>;
  /** Each block's whole gradient buffer (padding included), layers then rest. */
  rawGrads: Float32Array[];
}

/** What `gpuPass` runs: GPT or the ViT. */
interface PassModel<DB> {
  readonly blocks: ParamBlock[];
  forward(batch: DB, plan: LayerPlan): { logits: Tensor; loss: Tensor | null };
}

/**
 * Resets the arena, uploads the batch (`upload`), runs forward with `plan` and backward from the loss. Gradients
 * of every block are zeroed first, except the blocks listed in `sentinels`, which are filled with the given
 * values instead (to show a skipped layer's block is untouched).
 */
export async function gpuPass<DB>(e: Engine, model: PassModel<DB>, upload: () => DB, plan: LayerPlan, sentinels = new Map<number, Float32Array>()): Promise<GpuPass> {
  e.resetArena();
  model.blocks.forEach((b, i) => {
    const s = sentinels.get(i);
    if (s) e.write(b.grads, s);
    else e.zero(b.grads);
  });
  const { logits, loss } = model.forward(upload(), plan);
  e.backward(loss!);
  const out: GpuPass = { logits: await e.readFloat(logits), loss: (await e.readFloat(loss!))[0]!, grads: {}, rawGrads: [] };
  for (const block of model.blocks) {
    const flat = await e.readFloat(block.grads);
    out.rawGrads.push(flat);
    for (const spec of block.specs) out.grads[spec.name] = block.slice(flat, spec.name);
  }
  return out;
}
