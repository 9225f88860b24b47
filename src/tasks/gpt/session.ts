/**
 * GPT's training session: the task-independent part (optimizer, schedule, layer dropper, measure / plan /
 * step) is src/train/task-session.ts; this adds the corpus, the GPT model, how its batches are uploaded, and
 * what the run loop prints, saves and validates.
 */
import { prepareTransformerKernels } from '../../model/kernels.js';
import { Engine } from '../../runtime/engine.js';
import { checkBatchFits } from '../../train/batch-limit.js';
import type { TrainConfig } from '../../train/config.js';
import type { CheckpointParts } from '../../train/loop.js';
import type { StepReader } from '../../train/step.js';
import { TaskSession } from '../../train/task-session.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { loadCorpus, type Corpus } from './data/corpus.js';
import { BatchLoader, validationBatches, type Batch } from './data/loader.js';
import { VOCAB_SIZE } from './data/tokenizer.js';
import { GPT, type GptConfig, type LayerPlan } from './model.js';
import { evaluate, measureSkipLoss, StepRunner } from './step.js';

export function modelConfigOf(cfg: TrainConfig): GptConfig {
  return { n_layer: cfg.n_layer, n_head: cfg.n_head, n_embd: cfg.n_embd, vocab_size: VOCAB_SIZE, n_positions: cfg.seqLen };
}

/** GPT's session: the Brown corpus (or --data) in windows of T tokens, the GPT model and its step runner. */
export class TrainingSession extends TaskSession<GPT, Batch, number> {
  readonly B: number;
  readonly T: number;
  readonly modelConfig: GptConfig;
  readonly runner: StepRunner;
  readonly corpus: Corpus;
  readonly loader: BatchLoader;
  readonly valBatches: Batch[];
  /** Fixed windows of the training split for sensitivity probes. */
  readonly probes: Batch[];

  constructor(e: Engine, cfg: TrainConfig, corpus?: Corpus) {
    // Before anything is allocated: the widest activation is the MLP's hidden layer (B, T, 4C) or the logits (B, T, V).
    checkBatchFits(e, cfg.batchSize, cfg.seqLen * Math.max(4 * cfg.n_embd, VOCAB_SIZE), `an activation of (B, T, ${Math.max(4 * cfg.n_embd, VOCAB_SIZE)}) floats`);
    const modelConfig = modelConfigOf(cfg);
    super(e, cfg, new GPT(e, modelConfig));
    this.B = cfg.batchSize;
    this.T = cfg.seqLen;
    this.modelConfig = modelConfig;
    this.corpus = corpus ?? loadCorpus({ data: cfg.data, seqLen: this.T });
    this.runner = new StepRunner(e, this.model, this.optimizer, cfg.gradAccum);
    this.loader = new BatchLoader(this.corpus.train, this.B, this.T, cfg.seed);
    this.valBatches = validationBatches(this.corpus.val, this.B, this.T, cfg.evalBatches);
    this.probes = validationBatches(this.corpus.train, this.B, this.T, this.drop.probeBatches);
  }

  /** Opens an engine (unless given) and builds the session. */
  static async open(cfg: TrainConfig, engine?: Engine): Promise<TrainingSession> {
    // Data first: a bad --data path is reported before a device is opened.
    const corpus = loadCorpus({ data: cfg.data, seqLen: cfg.seqLen });
    const session = new TrainingSession(engine ?? (await Engine.create()), cfg, corpus);
    await prepareTransformerKernels(session.e, { headSize: cfg.n_embd / cfg.n_head, seqLen: cfg.seqLen });
    return session;
  }

  protected recordStep(batches: readonly Batch[], plans: readonly LayerPlan[], lr: number): StepReader {
    return this.runner.step(batches, plans, lr, this.B, this.T);
  }

  protected skipLoss(): Promise<{ values: number[]; ms: number }> {
    return measureSkipLoss(this.e, this.model, this.probes, this.B, this.T);
  }

  header(): string[] {
    const { cfg, T, model } = this;
    return [
      `data: ${this.corpus.description}`,
      `model: GPT L${cfg.n_layer} C${cfg.n_embd} H${cfg.n_head} T${T}, ${(model.parameterCount / 1e6).toFixed(2)}M parameters; ` +
        `batch ${this.B}x${cfg.gradAccum} | ${this.dropper.describe()}`,
    ];
  }

  loadCheckpoint(dir: string): Promise<CheckpointParts> {
    return loadCheckpoint(dir, { modelConfig: this.modelConfig });
  }

  saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void> {
    return saveCheckpoint(dir, { modelConfig: this.modelConfig, ...parts });
  }

  rates(ms: number): { tokensPerS: number; fields: Record<string, number> } {
    const tokensPerS = (this.B * this.T * this.cfg.gradAccum) / (ms / 1000);
    return { tokensPerS, fields: { tokens_per_s: +tokensPerS.toFixed(1) } };
  }

  /** The validation loss over the fixed validation windows. */
  validate(): Promise<number> {
    return evaluate(this.e, this.model, this.valBatches, this.B, this.T);
  }

  evalFields(valLoss: number): Record<string, number> {
    return { val_loss: valLoss };
  }

  describeEval(valLoss: number): string {
    return `val loss ${valLoss.toFixed(4)} (${(valLoss / Math.LN2).toFixed(3)} bits/byte)`;
  }
}
