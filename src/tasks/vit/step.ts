/**
 * One ViT training step and evaluation on the device (the image counterpart of src/train/step.ts).
 *
 * A step: reset the arena; zero the gradients of the blocks that run in some micro-batch; for each micro-batch
 * upload its patches and labels, run forward with its layer plan and backward with dloss = 1/micro-batches;
 * clip and update the active blocks (src/train/optimizer.ts, unchanged); submit. The losses land in a device
 * buffer read only when the caller asks.
 *
 * Evaluation runs forward only, copies every batch's logits into one buffer and reads it back once; loss, top-1
 * and top-5 accuracy are computed on the host in float64 (padding rows, label -1, are left out).
 */
import type { LayerPlan } from '../../model/trunk.js';
import type { Engine } from '../../runtime/engine.js';
import { Tensor } from '../../runtime/tensor.js';
import type { AdamW } from '../../train/optimizer.js';
import { measureSkipLossWith, type SkipLossResult } from '../../train/sensitivity.js';
import { TaskStepRunner, type StepReader } from '../../train/step.js';
import type { ImageBatch } from './data.js';
import type { ViT, VitDeviceBatch } from './model.js';

/** Uploads a host batch into arena tensors (valid until the next reset): patches (B, T, K) f32, labels (B) i32. */
export function uploadImages(e: Engine, batch: ImageBatch, T: number, K: number): VitDeviceBatch {
  const B = batch.labels.length;
  if (batch.patches.length !== B * T * K) throw new Error(`uploadImages: ${batch.patches.length} patch values for B=${B}, T=${T}, K=${K}`);
  const patches = e.alloc([B, T, K], 'f32', 'patches');
  e.write(patches, batch.patches);
  const labels = e.alloc([B], 'i32', 'labels');
  e.write(labels, batch.labels);
  return { patches, labels };
}

export class VitStepRunner extends TaskStepRunner<ViT, ImageBatch, VitDeviceBatch> {
  /**
   * Records and submits one optimizer step over `batches` (one per micro-batch) with their layer plans; with
   * `taylor` (L), each layer that runs adds its online sensitivity there. Returns the mean-loss reader (a sync point).
   */
  step(batches: readonly ImageBatch[], plans: readonly LayerPlan[], lr: number, taylor?: Tensor): StepReader {
    return this.record(batches, plans, lr, taylor);
  }

  protected upload(batch: ImageBatch): VitDeviceBatch {
    return uploadImages(this.e, batch, this.model.T, this.model.K);
  }
}

/** Classification metrics over a set of images. */
export interface ClassifierMetrics {
  /** Mean cross-entropy (nats) over the images. */
  loss: number;
  /** Fraction whose label has the highest logit (ties count for the label). */
  top1: number;
  /** Fraction whose label is among the 5 highest logits (all of them when there are fewer than 5 classes). */
  top5: number;
  /** Images counted (padding rows excluded). */
  n: number;
}

/** Loss and top-1 / top-5 of logits (rows, NC) against labels (rows); rows with a label outside [0, NC) are skipped. */
export function classifierMetrics(logits: ArrayLike<number>, labels: ArrayLike<number>, NC: number): ClassifierMetrics {
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  let n = 0;
  for (let r = 0; r < labels.length; r++) {
    const y = labels[r]!;
    if (!(y >= 0 && y < NC)) continue;
    let max = -Infinity;
    for (let c = 0; c < NC; c++) max = Math.max(max, logits[r * NC + c]!);
    let sum = 0;
    let above = 0;
    const target = logits[r * NC + y]!;
    for (let c = 0; c < NC; c++) {
      const v = logits[r * NC + c]!;
      sum += Math.exp(v - max);
      if (v > target) above++;
    }
    loss += max + Math.log(sum) - target;
    if (above === 0) top1++;
    if (above < 5) top5++;
    n++;
  }
  return n === 0 ? { loss: NaN, top1: NaN, top5: NaN, n } : { loss: loss / n, top1: top1 / n, top5: top5 / n, n };
}

/** The logits of every batch under each plan, recorded forward only and read back once; and the labels. */
async function logitsPerPlan(e: Engine, model: ViT, batches: readonly ImageBatch[], plans: readonly (LayerPlan | undefined)[]) {
  if (batches.length === 0) throw new Error('evaluate: no batches');
  const B = batches[0]!.labels.length;
  const NC = model.config.n_classes;
  e.resetArena();
  const out = e.alloc([plans.length * batches.length * B * NC], 'f32', 'eval.logits');
  e.noGrad(() => {
    let i = 0;
    for (const plan of plans) {
      for (const batch of batches) {
        if (batch.labels.length !== B) throw new Error(`evaluate: batches of ${B} and ${batch.labels.length} images`);
        const mark = e.arenaMark();
        const dev = uploadImages(e, batch, model.T, model.K);
        const { logits } = model.forward({ patches: dev.patches, labels: null }, plan);
        e.copy(logits, new Tensor(out.buffer, [B, NC], 'f32', i * B * NC * 4, 'logits'));
        e.releaseArena(mark);
        i++;
      }
    }
  });
  const all = await e.readFloat(out);
  const labels = new Int32Array(batches.length * B);
  batches.forEach((b, i) => labels.set(b.labels, i * B));
  /** The logits of batch `b` (all batches when omitted) under plan `p`, with their labels. */
  return (p: number, b?: number) => {
    const per = B * NC;
    const start = (p * batches.length + (b ?? 0)) * per;
    const n = b === undefined ? batches.length : 1;
    return { logits: all.subarray(start, start + n * per), labels: b === undefined ? labels : labels.subarray(b * B, (b + 1) * B), NC };
  };
}

/**
 * Metrics over `batches` (all of one size B) for each plan (undefined: every layer, unscaled). All forwards are
 * recorded first, then one readback. No tape entries. Cost: plans x batches forwards.
 */
export async function evaluateVitMany(e: Engine, model: ViT, batches: readonly ImageBatch[], plans: readonly (LayerPlan | undefined)[]): Promise<ClassifierMetrics[]> {
  const of = await logitsPerPlan(e, model, batches, plans);
  return plans.map((_, p) => {
    const { logits, labels, NC } = of(p);
    return classifierMetrics(logits, labels, NC);
  });
}

/** Metrics over `batches` with every layer running (or with `plan`). */
export async function evaluateVit(e: Engine, model: ViT, batches: readonly ImageBatch[], plan?: LayerPlan): Promise<ClassifierMetrics> {
  return (await evaluateVitMany(e, model, batches, [plan]))[0]!;
}

/** The mean loss of each batch under each plan ([plan][batch]), one readback. */
export async function vitLossesPerBatch(e: Engine, model: ViT, batches: readonly ImageBatch[], plans: readonly (LayerPlan | undefined)[]): Promise<number[][]> {
  const of = await logitsPerPlan(e, model, batches, plans);
  return plans.map((_, p) =>
    batches.map((_, b) => {
      const { logits, labels, NC } = of(p, b);
      return classifierMetrics(logits, labels, NC).loss;
    }),
  );
}

/** SBLD's skip_loss over the ViT's probe batches (src/train/sensitivity.ts): (L + 1) x probes forwards, one readback. */
export function measureVitSkipLoss(e: Engine, model: ViT, probes: readonly ImageBatch[]): Promise<SkipLossResult> {
  return measureSkipLossWith(model.config.n_layer, (plans) => vitLossesPerBatch(e, model, probes, plans));
}
