/**
 * GPT's step runner and evaluation: how a batch of token windows is uploaded, one optimizer step
 * (src/train/step.ts records it), and the validation loss, forward only, with all forwards recorded first and
 * read back once.
 */
import type { Batch } from './data/loader.js';
import type { DeviceBatch, GPT } from './model.js';
import type { LayerPlan } from '../../model/plan.js';
import { uploadTokens } from '../../ops/embedding.js';
import type { Engine } from '../../runtime/engine.js';
import { Tensor } from '../../runtime/tensor.js';
import { measureSkipLossWith, type SkipLossResult } from '../../train/sensitivity.js';
import { TaskStepRunner, type StepReader } from '../../train/step.js';

/** Uploads a host batch (arena tensors: valid until the next step). */
export function uploadBatch(e: Engine, batch: Batch, B: number, T: number, vocab: number): DeviceBatch {
  const { tokens, index } = uploadTokens(e, batch.inputs, B, T, vocab);
  const targets = e.alloc([B, T], 'i32', 'targets');
  e.write(targets, batch.targets);
  return { tokens, index, targets };
}

/** A host batch with its shape: GPT's `Batch` holds (B, T) tokens flat. */
interface ShapedBatch {
  batch: Batch;
  B: number;
  T: number;
}

export class StepRunner extends TaskStepRunner<GPT, ShapedBatch, DeviceBatch> {
  /**
   * Records and submits one optimizer step over `batches` (one per micro-batch) with their layer plans.
   * With `taylor` (L), every layer that runs adds its online sensitivity there (SBLD's taylor mode).
   * Returns a function that reads the step's mean loss (a sync point; call it only when logging).
   */
  step(batches: readonly Batch[], plans: readonly LayerPlan[], lr: number, B: number, T: number, taylor?: Tensor): StepReader {
    return this.record(batches.map((batch) => ({ batch, B, T })), plans, lr, taylor);
  }

  protected upload({ batch, B, T }: ShapedBatch): DeviceBatch {
    return uploadBatch(this.e, batch, B, T, this.model.config.vocab_size);
  }
}

/**
 * Mean loss over `batches` with the model in evaluation mode (every layer runs, unscaled, unless `plan` says
 * otherwise: sensitivity probes skip one layer). Records nothing on the tape; one readback at the end.
 */
export async function evaluate(e: Engine, model: GPT, batches: readonly Batch[], B: number, T: number, plan?: LayerPlan): Promise<number> {
  const results = evaluateMany(e, model, batches, B, T, plan ? [plan] : [undefined]);
  return (await results)[0]!;
}

/** Loss of every batch for each plan ([plan][batch]); all forwards are recorded first and read back once. */
export async function evaluateManyPerBatch(
  e: Engine,
  model: GPT,
  batches: readonly Batch[],
  B: number,
  T: number,
  plans: readonly (LayerPlan | undefined)[],
): Promise<number[][]> {
  const n = batches.length * plans.length;
  e.resetArena();
  const out = e.alloc([n], 'f32', 'eval.losses');
  const devBatches = batches.map((b) => uploadBatch(e, b, B, T, model.config.vocab_size));
  e.noGrad(() => {
    let i = 0;
    for (const plan of plans)
      for (const batch of devBatches) {
        const mark = e.arenaMark();
        const { loss } = model.forward(batch, plan);
        e.copy(loss!, new Tensor(out.buffer, [1], 'f32', i * 4, 'loss'));
        e.releaseArena(mark);
        i++;
      }
  });
  const all = await e.readFloat(out);
  return plans.map((_, p) => Array.from(all.subarray(p * batches.length, (p + 1) * batches.length)));
}

/** Mean loss over `batches` for each plan; all forwards are recorded first and read back once. */
export async function evaluateMany(
  e: Engine,
  model: GPT,
  batches: readonly Batch[],
  B: number,
  T: number,
  plans: readonly (LayerPlan | undefined)[],
): Promise<number[]> {
  const per = await evaluateManyPerBatch(e, model, batches, B, T, plans);
  return per.map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length);
}

/** SBLD's skip_loss over GPT's probe batches (src/train/sensitivity.ts): (L + 1) x probes forwards, one readback. */
export function measureSkipLoss(e: Engine, model: GPT, probes: readonly Batch[], B: number, T: number): Promise<SkipLossResult> {
  return measureSkipLossWith(model.config.n_layer, (plans) => evaluateManyPerBatch(e, model, probes, B, T, plans));
}
