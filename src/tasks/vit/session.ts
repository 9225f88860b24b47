/**
 * The ViT's training session: the task-independent part (optimizer, schedule, layer dropper, measure / plan /
 * step) is src/train/task-session.ts, the one GPT uses; this adds the images, the ViT, how its batches are
 * uploaded, and what the run loop prints, saves and validates.
 */
import { DataError } from '../../io/data-errors.js';
import type { LayerPlan } from '../../model/trunk.js';
import { prepareTransformerKernels } from '../../model/kernels.js';
import { Engine } from '../../runtime/engine.js';
import type { StepReader } from '../../train/step.js';
import { TaskSession } from '../../train/task-session.js';
import type { VitTrainConfig } from './config.js';
import {
  DEFAULT_AUGMENT,
  FASHION_MNIST_CLASSES,
  ImageLoader,
  loadFashionMnist,
  NO_AUGMENT,
  orderedBatches,
  patchGeometry,
  splitTrainVal,
  type ImageBatch,
  type ImageSet,
  type PatchGeometry,
  type VisionData,
} from './data.js';
import { checkBatchFits } from '../../train/batch-limit.js';
import { ViT, type VitConfig } from './model.js';
import { evaluateVit, measureVitSkipLoss, VitStepRunner, type ClassifierMetrics } from './step.js';
import { loadVitCheckpoint, saveVitCheckpoint } from './checkpoint.js';
import type { CheckpointParts } from '../../train/loop.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export class VitSession extends TaskSession<ViT, ImageBatch, ClassifierMetrics> {
  declare readonly cfg: VitTrainConfig;
  readonly B: number;
  readonly geometry: PatchGeometry;
  readonly modelConfig: VitConfig;
  readonly runner: VitStepRunner;
  readonly data: VisionData;
  readonly train: ImageSet;
  readonly val: ImageSet;
  readonly loader: ImageLoader;
  /** The fixed validation images of a periodic evaluation: the first `evalBatches` batches of the split. */
  readonly valBatches: ImageBatch[];
  /** Fixed training images for sensitivity probes (not augmented). */
  readonly probes: ImageBatch[];

  /** `data` defaults to `loadFashionMnist(cfg.data)`; tests pass their own. */
  constructor(e: Engine, cfg: VitTrainConfig, data: VisionData = loadFashionMnist(cfg.data)) {
    const { train: full } = data;
    if (full.H !== full.W) throw new DataError(`${data.dir}: images are ${full.H}x${full.W}; the ViT takes square images`);
    const geometry = patchGeometry(full.H, full.W, cfg.patchSize);
    // The widest activation: the MLP's hidden layer (B, T, 4C), or the patch pixels (B, T, P²) for large patches.
    const rowWidth = Math.max(4 * cfg.n_embd, cfg.patchSize * cfg.patchSize);
    checkBatchFits(e, cfg.batchSize, geometry.T * rowWidth, `an activation of (B, ${geometry.T}, ${rowWidth}) floats`);
    const modelConfig: VitConfig = { n_layer: cfg.n_layer, n_head: cfg.n_head, n_embd: cfg.n_embd, image_size: full.H, patch_size: cfg.patchSize, n_classes: FASHION_MNIST_CLASSES.length };
    super(e, cfg, new ViT(e, modelConfig));
    this.B = cfg.batchSize;
    this.data = data;
    this.geometry = geometry;
    this.modelConfig = modelConfig;
    ({ train: this.train, val: this.val } = splitTrainVal(full, cfg.seed));
    this.runner = new VitStepRunner(e, this.model, this.optimizer, cfg.gradAccum);
    this.loader = new ImageLoader(this.train, this.B, this.geometry, cfg.seed, cfg.augment ? DEFAULT_AUGMENT : NO_AUGMENT);
    this.valBatches = [...orderedBatches(this.val, this.B, this.geometry, cfg.evalBatches * this.B)];
    this.probes = [...orderedBatches(this.train, this.B, this.geometry, this.drop.probeBatches * this.B)];
  }

  static async open(cfg: VitTrainConfig, engine?: Engine, data?: VisionData): Promise<VitSession> {
    const session = new VitSession(engine ?? (await Engine.create()), cfg, data);
    await prepareTransformerKernels(session.e, { headSize: cfg.n_embd / cfg.n_head, seqLen: session.model.T });
    return session;
  }

  /** Every validation image, in batches (the last one padded): the final evaluation. */
  allValBatches(): ImageBatch[] {
    return [...orderedBatches(this.val, this.B, this.geometry)];
  }

  /** Every test image, in batches: evaluated once, at the end of a run. */
  testBatches(): ImageBatch[] {
    return [...orderedBatches(this.data.test, this.B, this.geometry)];
  }

  protected recordStep(batches: readonly ImageBatch[], plans: readonly LayerPlan[], lr: number): StepReader {
    return this.runner.step(batches, plans, lr);
  }

  protected skipLoss(): Promise<{ values: number[]; ms: number; stderr?: number[] }> {
    return measureVitSkipLoss(this.e, this.model, this.probes);
  }

  header(): string[] {
    const { cfg, model } = this;
    return [
      `data: ${this.data.description}; split ${this.train.N} train / ${this.val.N} validation (seed ${cfg.seed})${cfg.augment ? '; augmented (crop 2 px, flip)' : ''}`,
      `model: ViT L${cfg.n_layer} C${cfg.n_embd} H${cfg.n_head}, ${cfg.patchSize}x${cfg.patchSize} patches (T${this.geometry.T}), ` +
        `${(model.parameterCount / 1e6).toFixed(2)}M parameters; batch ${this.B}x${cfg.gradAccum} | ${this.dropper.describe()}`,
    ];
  }

  loadCheckpoint(dir: string): Promise<CheckpointParts> {
    return loadVitCheckpoint(dir, { expected: this.modelConfig });
  }

  saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void> {
    return saveVitCheckpoint(dir, { modelConfig: this.modelConfig, ...parts });
  }

  /** Images/s and patch tokens/s. */
  rates(ms: number): { tokensPerS: number; fields: Record<string, number> } {
    const imagesPerS = (this.B * this.cfg.gradAccum) / (ms / 1000);
    const tokensPerS = imagesPerS * this.geometry.T;
    return { tokensPerS, fields: { tokens_per_s: +tokensPerS.toFixed(1), images_per_s: +imagesPerS.toFixed(1) } };
  }

  /** The periodic evaluations use the first `evalBatches` batches of the validation split; the last, all of it. */
  validate(last: boolean): Promise<ClassifierMetrics> {
    return evaluateVit(this.e, this.model, last ? this.allValBatches() : this.valBatches);
  }

  evalFields(val: ClassifierMetrics): Record<string, number> {
    return { val_loss: val.loss, val_top1: val.top1, val_top5: val.top5, val_images: val.n };
  }

  describeEval(val: ClassifierMetrics): string {
    return `val loss ${val.loss.toFixed(4)}, top-1 ${pct(val.top1)}, top-5 ${pct(val.top5)} (${val.n} images)`;
  }
}
