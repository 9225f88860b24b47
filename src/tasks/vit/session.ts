/**
 * The ViT's training session: the task-independent part (optimizer, schedule, layer dropper, measure / plan /
 * step) is src/train/task-session.ts, the one GPT uses; this adds the images, the ViT and how its batches are
 * uploaded.
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
import { measureVitSkipLoss, VitStepRunner } from './step.js';

export class VitSession extends TaskSession<ViT, ImageBatch> {
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
}
