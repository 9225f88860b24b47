/**
 * A ViT training session: everything a run builds from its config (engine, model, optimizer, layer-dropping
 * policy, data), with the three things a step needs, as `TrainingSession` has for GPT: measure sensitivities
 * when SBLD asks, plan which layers run in each micro-batch, and run the step. The policies (src/drop/*), the
 * optimizer and the learning-rate schedule are the same code GPT uses.
 */
import { DataError } from '../data/errors.js';
import type { ResolvedDropConfig } from '../drop/config.js';
import { LayerDropper, type StepPlans } from '../drop/dropper.js';
import type { SbldMeasurement } from '../drop/sbld.js';
import type { LayerPlan } from '../model/trunk.js';
import { prepareTransformerKernels } from '../model/kernels.js';
import { Engine } from '../runtime/engine.js';
import { AdamW } from '../train/optimizer.js';
import { learningRate, type LrSchedule } from '../train/schedule.js';
import { readLossTellingDropper } from '../train/step.js';
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
import { checkBatchFits } from '../train/batch-limit.js';
import { ViT, type VitConfig } from './model.js';
import { measureVitSkipLoss, VitStepRunner } from './step.js';

export class VitSession {
  readonly B: number;
  readonly geometry: PatchGeometry;
  readonly modelConfig: VitConfig;
  readonly model: ViT;
  readonly optimizer: AdamW;
  readonly runner: VitStepRunner;
  /** The one owner of layer-dropping state (src/drop/dropper.ts). */
  readonly dropper: LayerDropper;
  readonly schedule: LrSchedule;
  readonly data: VisionData;
  readonly train: ImageSet;
  readonly val: ImageSet;
  readonly loader: ImageLoader;
  /** The fixed validation images of a periodic evaluation: the first `evalBatches` batches of the split. */
  readonly valBatches: ImageBatch[];
  /** Fixed training images for sensitivity probes (not augmented). */
  readonly probes: ImageBatch[];

  /** `data` defaults to `loadFashionMnist(cfg.data)`; tests pass their own. */
  constructor(
    readonly e: Engine,
    readonly cfg: VitTrainConfig,
    data?: VisionData,
  ) {
    this.B = cfg.batchSize;
    this.data = data ?? loadFashionMnist(cfg.data);
    const { train: full } = this.data;
    if (full.H !== full.W) throw new DataError(`${this.data.dir}: images are ${full.H}x${full.W}; the ViT takes square images`);
    this.geometry = patchGeometry(full.H, full.W, cfg.patchSize);
    // The widest activation: the MLP's hidden layer (B, T, 4C), or the patch pixels (B, T, P²) for large patches.
    const rowWidth = Math.max(4 * cfg.n_embd, cfg.patchSize * cfg.patchSize);
    checkBatchFits(e, this.B, this.geometry.T * rowWidth, `an activation of (B, ${this.geometry.T}, ${rowWidth}) floats`);
    this.modelConfig = { n_layer: cfg.n_layer, n_head: cfg.n_head, n_embd: cfg.n_embd, image_size: full.H, patch_size: cfg.patchSize, n_classes: FASHION_MNIST_CLASSES.length };
    this.dropper = LayerDropper.create(e, cfg.drop, { nLayer: cfg.n_layer, totalSteps: cfg.steps, seed: cfg.seed, gradAccum: cfg.gradAccum });
    ({ train: this.train, val: this.val } = splitTrainVal(full, cfg.seed));
    this.model = new ViT(e, this.modelConfig);
    this.model.initialize(cfg.seed);
    this.optimizer = new AdamW(e, this.model.blocks, { beta1: cfg.beta1, beta2: cfg.beta2, eps: 1e-8, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip });
    this.runner = new VitStepRunner(e, this.model, this.optimizer, cfg.gradAccum);
    this.schedule = { lr: cfg.lr, minLr: cfg.lr * cfg.minLrFrac, warmupSteps: cfg.warmupSteps, totalSteps: cfg.steps };
    this.loader = new ImageLoader(this.train, this.B, this.geometry, cfg.seed, cfg.augment ? DEFAULT_AUGMENT : NO_AUGMENT);
    this.valBatches = [...orderedBatches(this.val, this.B, this.geometry, cfg.evalBatches * this.B)];
    this.probes = [...orderedBatches(this.train, this.B, this.geometry, this.drop.probeBatches * this.B)];
  }

  /** The resolved layer-dropping config (the dropper's). */
  get drop(): ResolvedDropConfig {
    return this.dropper.config;
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

  /** SBLD's measurement at `step`, if due (src/drop/dropper.ts); skip_loss runs the probe forwards. */
  measureIfDue(step: number): Promise<SbldMeasurement | null> {
    return this.dropper.measureIfDue(step, () => measureVitSkipLoss(this.e, this.model, this.probes));
  }

  /** Keep probabilities at `step` and the drawn plan of each micro-batch (the policy code GPT uses). */
  plan(step: number): StepPlans {
    return this.dropper.plan(step);
  }

  /** Records and submits optimizer step `step`; returns the mean-loss reader (taylor mode also feeds SBLD). */
  step(step: number, plans: readonly LayerPlan[]): { lr: number; readLoss: () => Promise<number> } {
    const batches = plans.map(() => this.loader.next());
    const lr = learningRate(this.schedule, step);
    const read = this.runner.step(batches, plans, lr);
    return { lr, readLoss: readLossTellingDropper(this.dropper, plans, read) };
  }
}
