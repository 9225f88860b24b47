/**
 * One training step on the device, for every task (each task's step runner says how its batches are uploaded).
 *
 * A step: reset the arena; zero the gradients of the blocks that run in some micro-batch; for each
 * micro-batch upload its tokens, run forward with that micro-batch's layer plan and backward with
 * dloss = S/micro-batches (so gradients are the mean over the step, times the loss scale S: 1 in f32); clip
 * (taking S back out) and update the active blocks; submit. The per-micro-batch losses and the optimizer's clip
 * values land in one small device buffer, read (one readback) only when the caller asks; reading it settles the
 * step with the optimizer (a step whose gradients overflowed was skipped: src/train/optimizer.ts).
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
export type StepReader = (() => Promise<number>) & {
  taylor?: () => Promise<Float32Array>;
  /** Whether the step's gradients overflowed (its update was skipped); reading it settles the step. */
  overflowed: () => Promise<boolean>;
};

/**
 * One optimizer step shared by every task (GPT, ViT). A task's runner says only how one of its host
 * micro-batches (HB) goes to the device as the batch its model's forward takes (DB): `upload`.
 */
export abstract class TaskStepRunner<M extends SteppableModel<DB>, HB, DB> {
  /** (maxMicro + 4): the loss of each micro-batch of the last step, then its clip values (optimizer.clip). */
  private readonly results: Tensor;
  private readonly maxMicro: number;

  constructor(
    protected readonly e: Engine,
    protected readonly model: M,
    private readonly optimizer: AdamW,
    maxMicro = 64,
  ) {
    this.maxMicro = maxMicro;
    this.results = e.persistent([maxMicro + 4], 'f32', 'step.results');
  }

  /** Puts one host micro-batch on the device (arena tensors: valid until the step's arena is reset). */
  protected abstract upload(batch: HB): DB;

  /**
   * Records one step: reset the arena, zero the gradients of the blocks that run in some micro-batch, then per
   * micro-batch upload it, forward with its plan, copy the loss into `results[mb]`, backward with
   * dloss = S/micro-batches and release its activations; clip, update the active blocks, copy the clip values
   * beside the losses, record their readback, submit: one submit per step. Returns the mean-loss reader (it
   * waits for that readback, and settles the step with the optimizer; no further submit).
   */
  protected record(batches: readonly HB[], plans: readonly LayerPlan[], lr: number, taylor: Tensor | undefined = plans[0]?.taylor): StepReader {
    const { e, model, optimizer, results, maxMicro } = this;
    const n = batches.length;
    if (n < 1 || n > maxMicro) throw new Error(`step: ${n} micro-batches; between 1 and ${maxMicro} supported`);
    if (plans.length !== n) throw new Error(`step: ${plans.length} plans for ${n} micro-batches`);
    e.resetArena();
    const active = activeBlocks(plans, model.config.n_layer);
    const S = optimizer.lossScaler.scale;
    optimizer.zeroGrad(active);
    if (taylor) e.zero(taylor);
    for (let mb = 0; mb < n; mb++) {
      const mark = e.arenaMark();
      const batch = this.upload(batches[mb]!);
      const plan = taylor ? { ...plans[mb]!, taylor } : plans[mb]!;
      const { loss } = model.forward(batch, plan);
      e.copy(loss!, new Tensor(results.buffer, [1], 'f32', mb * 4, 'loss'));
      e.backward(loss!, S / n);
      e.releaseArena(mark); // this micro-batch's activations and their gradients are dead now
    }
    optimizer.step(active, lr);
    e.copy(optimizer.clip, new Tensor(results.buffer, [4], 'f32', maxMicro * 4, 'clip'));
    // The readback rides the step's one submit; the reader only waits for it.
    const readResults = e.readLater(results);
    const readTaylor = taylor ? e.readLater(taylor) : null;
    e.flush();
    // Read once; the first read settles the step with the optimizer.
    let settled: Promise<{ all: Float32Array; overflow: boolean }> | null = null;
    const settle = () =>
      (settled ??= readResults().then((all) => ({ all: all as Float32Array, overflow: optimizer.settle(all.subarray(maxMicro), active) })));
    const reader: StepReader = Object.assign(
      async () => {
        const { all } = await settle();
        let s = 0;
        for (let i = 0; i < n; i++) s += all[i]!;
        return s / n;
      },
      { overflowed: async () => (await settle()).overflow },
    );
    // The taylor values are products with the residual stream's gradients, which carry S: take it back out.
    if (readTaylor) reader.taylor = async () => ((await readTaylor()) as Float32Array).map((v) => v / S);
    return reader;
  }
}

/**
 * The step's loss reader that, once the loss is read, tells the dropper the step ran (with its taylor values),
 * unless its gradients overflowed: then the update was skipped and the taylor values carry no information.
 */
export function readLossTellingDropper(dropper: LayerDropper, plans: readonly LayerPlan[], read: StepReader): () => Promise<number> {
  return async () => {
    const loss = await read();
    if (!(await read.overflowed())) dropper.stepDone(plans, read.taylor ? await read.taylor() : null);
    return loss;
  };
}
