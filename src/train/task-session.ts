/**
 * What every task's training session shares, so a task brings only what differs: its model (built on the
 * trunk), its data and loader, how a micro-batch is recorded (its step runner's upload) and its skip_loss
 * probe forwards. The shared part builds the optimizer, the learning-rate schedule and the `LayerDropper`
 * from the config, initialises the model, and offers the three things the run loop, the profiler and the
 * benchmarks drive: `measureIfDue`, `plan` and `step`. A task's session also says what the loop prints, saves
 * and validates (`RunSession`, src/train/loop.ts).
 */
import type { ResolvedDropConfig } from '../drop/config.js';
import { LayerDropper, type StepPlans } from '../drop/dropper.js';
import type { SbldMeasurement } from '../drop/sbld.js';
import type { LayerPlan } from '../model/plan.js';
import type { TrunkParams } from '../model/trunk.js';
import type { Engine } from '../runtime/engine.js';
import type { TrainConfig } from './config.js';
import type { CheckpointParts, RunSession } from './loop.js';
import { AdamW } from './optimizer.js';
import { DYNAMIC_LOSS_SCALE, NO_LOSS_SCALE, type LossScaler } from './loss-scale.js';
import { applyPrecision } from './precision.js';
import type { Precision } from '../runtime/choice.js';
import { learningRate, type LrSchedule } from './schedule.js';
import { readLossTellingDropper, type StepReader } from './step.js';

export abstract class TaskSession<M extends TrunkParams, HB, Ev> implements RunSession<Ev> {
  readonly optimizer: AdamW;
  /** The one owner of layer-dropping state (src/drop/dropper.ts). */
  readonly dropper: LayerDropper;
  readonly schedule: LrSchedule;
  /** The matmuls' precision this session runs (config's, or the adapter's rule for 'auto'). */
  readonly precision: Precision;

  constructor(
    readonly e: Engine,
    readonly cfg: TrainConfig,
    readonly model: M,
  ) {
    this.dropper = LayerDropper.create(e, cfg.drop, { nLayer: cfg.n_layer, totalSteps: cfg.steps, seed: cfg.seed, gradAccum: cfg.gradAccum });
    model.initialize(cfg.seed);
    this.precision = applyPrecision(e, cfg.precision);
    const adamw = { beta1: cfg.beta1, beta2: cfg.beta2, eps: 1e-8, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip };
    this.optimizer = new AdamW(e, model.blocks, adamw, this.precision === 'f16' ? DYNAMIC_LOSS_SCALE : NO_LOSS_SCALE);
    this.schedule = { lr: cfg.lr, minLr: cfg.lr * cfg.minLrFrac, warmupSteps: cfg.warmupSteps, totalSteps: cfg.steps };
  }

  /** The training data in order; checkpoints hold its position. */
  abstract readonly loader: { next(): HB; readonly state: unknown; setState(state: unknown): void };

  /** Records and submits one optimizer step over `batches` with their plans (the task's step runner). */
  protected abstract recordStep(batches: readonly HB[], plans: readonly LayerPlan[], lr: number): StepReader;

  /** SBLD's skip_loss measurement over the task's probe batches. */
  protected abstract skipLoss(): Promise<{ values: number[]; ms: number; stderr?: number[] }>;

  // What the run loop asks of the task (src/train/loop.ts, `RunSession`).
  abstract header(): string[];
  abstract loadCheckpoint(dir: string): Promise<CheckpointParts>;
  abstract saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void>;
  abstract rates(ms: number): { tokensPerS: number; fields: Record<string, number> };
  abstract validate(last: boolean): Promise<Ev>;
  abstract evalFields(ev: Ev): Record<string, number>;
  abstract describeEval(ev: Ev): string;

  /** The optimizer's loss scaler (S = 1 and fixed in f32); the loop checkpoints it and logs its overflows. */
  get lossScaler(): LossScaler {
    return this.optimizer.lossScaler;
  }

  /** The resolved layer-dropping config (the dropper's). */
  get drop(): ResolvedDropConfig {
    return this.dropper.config;
  }

  /** SBLD's measurement at `step`, if due; skip_loss runs the task's probe forwards. */
  measureIfDue(step: number): Promise<SbldMeasurement | null> {
    return this.dropper.measureIfDue(step, () => this.skipLoss());
  }

  /** Keep probabilities at `step` and the drawn plan of each micro-batch (the dropper's). */
  plan(step: number): StepPlans {
    return this.dropper.plan(step);
  }

  /**
   * Records and submits optimizer step `step` with the given plans; returns the mean-loss reader. Reading the
   * loss tells the dropper the step ran (in taylor mode, with the layers' online sensitivities).
   */
  step(step: number, plans: readonly LayerPlan[]): { lr: number; readLoss: () => Promise<number> } {
    this.e.choice.force('precision', this.precision); // another session on the same engine may have set its own
    const batches = plans.map(() => this.loader.next());
    const lr = learningRate(this.schedule, step);
    return { lr, readLoss: readLossTellingDropper(this.dropper, plans, this.recordStep(batches, plans, lr)) };
  }
}
