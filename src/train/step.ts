/**
 * One training step on the device, for every task (each task's step runner says how its batches are uploaded).
 *
 * A step: reset the arena; zero the gradients of the blocks that run in some micro-batch; for each
 * micro-batch upload its tokens, run forward with that micro-batch's layer plan and backward with
 * dloss = 1/micro-batches (so gradients are the mean over the step); clip and update the active blocks; submit.
 * The per-micro-batch losses land in a small device buffer that is read only when the caller asks.
 */
import type { LayerDropper } from '../drop/dropper.js';
import type { LayerPlan } from '../model/plan.js';
import type { Engine } from '../runtime/engine.js';
import { Tensor } from '../runtime/tensor.js';
import type { AdamW } from './optimizer.js';

/** Which blocks (layers 0..L-1, then the rest) receive a gradient in a step with these plans. */
export function activeBlocks(plans: readonly LayerPlan[], nLayer: number): boolean[] {
  const active = Array.from({ length: nLayer }, (_, l) => plans.some((p) => p.run[l]));
  active.push(true);
  return active;
}

/** What a step runner trains: a model whose forward takes an uploaded batch and a layer plan. */
export interface SteppableModel<DB> {
  config: { n_layer: number };
  forward(batch: DB, plan: LayerPlan): { loss: Tensor | null };
}

/**
 * A step's mean-loss reader; when the step's plans carried a taylor buffer, `taylor` reads it (the readback rode
 * the same submit as the losses').
 */
export type StepReader = (() => Promise<number>) & { taylor?: () => Promise<Float32Array> };

/**
 * One optimizer step shared by every task (GPT, ViT). A task's runner says only how one of its host
 * micro-batches (HB) goes to the device as the batch its model's forward takes (DB): `upload`.
 */
export abstract class TaskStepRunner<M extends SteppableModel<DB>, HB, DB> {
  /** (maxMicro) loss of each micro-batch of the last step. */
  private readonly losses: Tensor;

  constructor(
    protected readonly e: Engine,
    protected readonly model: M,
    private readonly optimizer: AdamW,
    maxMicro = 64,
  ) {
    this.losses = e.persistent([maxMicro], 'f32', 'step.losses');
  }

  /** Puts one host micro-batch on the device (arena tensors: valid until the step's arena is reset). */
  protected abstract upload(batch: HB): DB;

  /**
   * Records one step: reset the arena, zero the gradients of the blocks that run in some micro-batch, then per
   * micro-batch upload it, forward with its plan, copy the loss into `losses[mb]`, backward with
   * dloss = 1/micro-batches and release its activations; clip, update the active blocks, record the losses'
   * readback, submit: one submit per step. Returns the mean-loss reader (it waits for that readback; no
   * further submit).
   */
  protected record(batches: readonly HB[], plans: readonly LayerPlan[], lr: number, taylor: Tensor | undefined = plans[0]?.taylor): StepReader {
    const { e, model, optimizer, losses } = this;
    const n = batches.length;
    if (n < 1 || n > losses.size) throw new Error(`step: ${n} micro-batches; between 1 and ${losses.size} supported`);
    if (plans.length !== n) throw new Error(`step: ${plans.length} plans for ${n} micro-batches`);
    e.resetArena();
    const active = activeBlocks(plans, model.config.n_layer);
    optimizer.zeroGrad(active);
    if (taylor) e.zero(taylor);
    for (let mb = 0; mb < n; mb++) {
      const mark = e.arenaMark();
      const batch = this.upload(batches[mb]!);
      const plan = taylor ? { ...plans[mb]!, taylor } : plans[mb]!;
      const { loss } = model.forward(batch, plan);
      e.copy(loss!, new Tensor(losses.buffer, [1], 'f32', mb * 4, 'loss'));
      e.backward(loss!, 1 / n);
      e.releaseArena(mark); // this micro-batch's activations and their gradients are dead now
    }
    optimizer.step(active, lr);
    // The losses' readback rides the step's one submit; the reader only waits for it.
    const readLosses = e.readLater(losses);
    const readTaylor = taylor ? e.readLater(taylor) : null;
    e.flush();
    const reader: StepReader = async () => {
      const all = await readLosses();
      let s = 0;
      for (let i = 0; i < n; i++) s += all[i]!;
      return s / n;
    };
    if (readTaylor) reader.taylor = async () => (await readTaylor()) as Float32Array;
    return reader;
  }
}

/** The step's loss reader that, once the loss is read, tells the dropper the step ran (with its taylor values). */
export function readLossTellingDropper(dropper: LayerDropper, plans: readonly LayerPlan[], read: StepReader): () => Promise<number> {
  return async () => {
    const loss = await read();
    dropper.stepDone(plans, read.taylor ? await read.taylor() : null);
    return loss;
  };
}
