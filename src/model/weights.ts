/**
 * Moving a model's parameters (and AdamW moments) between the device and named host arrays, the form
 * checkpoints use: `transformer.h.0.ln_1.weight` -> Float32Array, optimizer moments as `m.<name>` / `v.<name>`.
 */
import type { Engine } from '../runtime/engine.js';
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
