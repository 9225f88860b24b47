/**
 * A training session: everything a run builds from its config (engine, model, optimizer, layer-dropping
 * policy, data), with the three things a step needs: measure sensitivities when SBLD asks, plan which layers
 * run in each micro-batch, and run the step. The trainer, the profiler and the benchmarks all drive this.
 */
import { loadCorpus, type Corpus } from '../data/corpus.js';
import { BatchLoader, validationBatches, type Batch } from '../data/loader.js';
import { VOCAB_SIZE } from '../data/tokenizer.js';
import type { ResolvedDropConfig } from '../drop/config.js';
import { LayerDropper, type StepPlans } from '../drop/dropper.js';
import type { SbldMeasurement } from '../drop/sbld.js';
import { GPT, type GptConfig, type LayerPlan } from '../model/gpt.js';
import { prepareTransformerKernels } from '../model/kernels.js';
import { Engine } from '../runtime/engine.js';
import type { TrainConfig } from './config.js';
import { checkBatchFits } from './batch-limit.js';
import { AdamW } from './optimizer.js';
import { learningRate, type LrSchedule } from './schedule.js';
import { measureSkipLoss } from './sensitivity.js';
import { readLossTellingDropper, StepRunner } from './step.js';

export function modelConfigOf(cfg: TrainConfig): GptConfig {
  return { n_layer: cfg.n_layer, n_head: cfg.n_head, n_embd: cfg.n_embd, vocab_size: VOCAB_SIZE, n_positions: cfg.seqLen };
}

export class TrainingSession {
  readonly B: number;
  readonly T: number;
  readonly modelConfig: GptConfig;
  readonly model: GPT;
  readonly optimizer: AdamW;
  readonly runner: StepRunner;
  /** The one owner of layer-dropping state (src/drop/dropper.ts). */
  readonly dropper: LayerDropper;
  readonly schedule: LrSchedule;
  readonly corpus: Corpus;
  readonly loader: BatchLoader;
  readonly valBatches: Batch[];
  /** Fixed windows of the training split for sensitivity probes. */
  readonly probes: Batch[];

  constructor(
    readonly e: Engine,
    readonly cfg: TrainConfig,
    corpus?: Corpus,
  ) {
    this.B = cfg.batchSize;
    this.T = cfg.seqLen;
    this.modelConfig = modelConfigOf(cfg);
    // Before anything is allocated: the widest activation is the MLP's hidden layer (B, T, 4C) or the logits (B, T, V).
    checkBatchFits(e, this.B, this.T * Math.max(4 * cfg.n_embd, VOCAB_SIZE), `an activation of (B, T, ${Math.max(4 * cfg.n_embd, VOCAB_SIZE)}) floats`);
    this.dropper = LayerDropper.create(e, cfg.drop, { nLayer: cfg.n_layer, totalSteps: cfg.steps, seed: cfg.seed, gradAccum: cfg.gradAccum });
    this.corpus = corpus ?? loadCorpus({ data: cfg.data, seqLen: this.T });
    this.model = new GPT(e, this.modelConfig);
    this.model.initialize(cfg.seed);
    this.optimizer = new AdamW(e, this.model.blocks, {
      beta1: cfg.beta1,
      beta2: cfg.beta2,
      eps: 1e-8,
      weightDecay: cfg.weightDecay,
      gradClip: cfg.gradClip,
    });
    this.runner = new StepRunner(e, this.model, this.optimizer, cfg.gradAccum);
    this.schedule = { lr: cfg.lr, minLr: cfg.lr * cfg.minLrFrac, warmupSteps: cfg.warmupSteps, totalSteps: cfg.steps };
    this.loader = new BatchLoader(this.corpus.train, this.B, this.T, cfg.seed);
    this.valBatches = validationBatches(this.corpus.val, this.B, this.T, cfg.evalBatches);
    this.probes = validationBatches(this.corpus.train, this.B, this.T, this.drop.probeBatches);
  }

  /** The resolved layer-dropping config (the dropper's). */
  get drop(): ResolvedDropConfig {
    return this.dropper.config;
  }

  /** Opens an engine (unless given) and builds the session. */
  static async open(cfg: TrainConfig, engine?: Engine): Promise<TrainingSession> {
    // Data first: a bad --data path is reported before a device is opened.
    const corpus = loadCorpus({ data: cfg.data, seqLen: cfg.seqLen });
    const session = new TrainingSession(engine ?? (await Engine.create()), cfg, corpus);
    await prepareTransformerKernels(session.e, { headSize: cfg.n_embd / cfg.n_head, seqLen: cfg.seqLen });
    return session;
  }

  /** SBLD's measurement at `step`, if due; skip_loss runs the probe forwards. */
  measureIfDue(step: number): Promise<SbldMeasurement | null> {
    return this.dropper.measureIfDue(step, () => measureSkipLoss(this.e, this.model, this.probes, this.B, this.T));
  }

  /** Keep probabilities at `step` and the drawn plan of each micro-batch (the dropper's). */
  plan(step: number): StepPlans {
    return this.dropper.plan(step);
  }

  /**
   * Records and submits optimizer step `step` with the given plans; returns the mean-loss reader. In taylor mode
   * reading the loss also reads the layers' online sensitivities and feeds those of the layers that ran to SBLD.
   */
  step(step: number, plans: readonly LayerPlan[]): { lr: number; readLoss: () => Promise<number> } {
    const batches = plans.map(() => this.loader.next());
    const lr = learningRate(this.schedule, step);
    const read = this.runner.step(batches, plans, lr, this.B, this.T);
    return { lr, readLoss: readLossTellingDropper(this.dropper, plans, read) };
  }
}
