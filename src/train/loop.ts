/**
 * The run loop both training programs share (GPT: src/tasks/gpt/run.ts, ViT: src/tasks/vit/run.ts), top to bottom: the run
 * folder, resume, then the step loop (plan which layers run, forward, backward, update, log) with periodic
 * evaluation and checkpoints. It returns the totals each program builds its summary from.
 *
 * What differs between the tasks comes with the task's session (a `RunSession`, built on ./task-session.ts):
 * its header lines, checkpoint format, the throughput fields of a step line, and validation.
 *
 * Run folder: config.json (the config as given; --resume reads it back), drop_resolved.json (the layer-dropping
 * config as resolved), metrics.jsonl (one line per step, `eval` and `sensitivity` lines, the task's own lines,
 * and the `summary`), checkpoint/ (the task's format, with trainer_state.json as below), written atomically every
 * `checkpointEvery` steps and when the loop stops.
 */
import { join, resolve } from 'node:path';
import { planBitString, type KeepPlan } from '../drop/policy.js';
import type { LayerDropper, StepPlans } from '../drop/dropper.js';
import type { AllocatorNotesSummary } from '../drop/notes.js';
import type { SbldMeasurement } from '../drop/sbld.js';
import type { LayerPlan } from '../model/trunk.js';
import { readWeights, writeWeights, type HasBlocks } from '../model/weights.js';
import type { Engine } from '../runtime/engine.js';
import { writeFileAtomic } from '../io/atomic.js';
import { MetricsFile } from '../io/metrics-file.js';
import type { RunLock } from '../io/runlock.js';
import { ConfigError, type TrainConfig } from './config.js';
import { Progress } from './progress.js';
import { claimRunFolder, METRICS_FILE } from './run-folder.js';
import { armStop, RunInterrupted, stopRequested } from './stop.js';
import type { LossScaler } from './loss-scale.js';
import type { Precision } from '../runtime/choice.js';

/** A run that cannot go on (divergence): reported as one line by the CLI. */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

export interface RunOptions {
  /** Continue from this run folder's checkpoint. */
  resume?: string;
  /** Plain progress lines instead of a bar. */
  plain?: boolean;
  /** No progress output at all (library use, tests). */
  quiet?: boolean;
  /** Reuse an engine (tests); otherwise one is opened and closed here. */
  engine?: Engine;
  /** Stop after this many steps of this invocation (tests of resume); the schedule still spans cfg.steps. */
  stopAfter?: number;
  /** Replace a run already in cfg.out (otherwise a new run there is refused). */
  overwrite?: boolean;
  /** The run folder's lock when the caller took it already (the CLI, to read a checkpoint before resuming). */
  lock?: RunLock;
}

/**
 * What the loop drives: a task's session (GPT's `TrainingSession`, the ViT's `VitSession`). `Ev` is its
 * validation result (GPT: the loss; ViT: loss and accuracies).
 */
export interface RunSession<Ev = unknown> {
  readonly e: Engine;
  readonly model: HasBlocks;
  /** The one owner of layer-dropping state; the loop checkpoints and restores it. */
  readonly dropper: LayerDropper;
  /** The training data's position; checkpoints hold it as opaque JSON. */
  readonly loader: { readonly state: unknown; setState(state: unknown): void };
  /** The matmuls' precision (src/train/precision.ts) and the loss scaler that goes with it. */
  readonly precision: Precision;
  readonly lossScaler: LossScaler;
  measureIfDue(step: number): Promise<SbldMeasurement | null>;
  plan(step: number): StepPlans;
  step(step: number, plans: readonly LayerPlan[]): { lr: number; readLoss: () => Promise<number> };
  /** Printed after the adapter line: the data and the model. */
  header(): string[];
  /** Reads a checkpoint folder, refusing one whose model config is not the session's. */
  loadCheckpoint(dir: string): Promise<CheckpointParts>;
  saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void>;
  /** Throughput of a step that took `ms`: tokens/s for the progress display, and the step line's rate fields. */
  rates(ms: number): { tokensPerS: number; fields: Record<string, number> };
  /** Validation after a step; `last` is the run's final step. */
  validate(last: boolean): Promise<Ev>;
  /** An eval line's metric fields. */
  evalFields(ev: Ev): Record<string, number>;
  /** The printed evaluation, e.g. `val loss 4.6235 (6.670 bits/byte)`. */
  describeEval(ev: Ev): string;
}

/** The validation result of a session. */
export type EvalOf<S extends RunSession> = Awaited<ReturnType<S['validate']>>;

/** What a checkpoint holds besides the model config (which the task adds): weights, moments, trainer state. */
export interface CheckpointParts {
  params: Record<string, Float32Array>;
  optimizer: Record<string, Float32Array>;
  trainerState: unknown;
}

/** trainer_state.json: what resuming needs besides the weights and moments. */
interface TrainerState {
  step: number;
  /** The run's config (resume uses it, not flags: src/cli/resume.ts); absent in checkpoints of older versions. */
  config?: unknown;
  loader: unknown;
  sbld: unknown;
  blockSteps: number[];
  elapsedMs: number;
  layerSteps: { run: number; total: number };
  /** The loss scaler's state (absent in checkpoints of older versions: S = 1, as they ran). */
  lossScale?: LossScaler['state'];
}

/** What both summaries report the same way (fields named as the summaries name them). */
export interface RunTotals {
  /** Steps run by this invocation. */
  stepsRun: number;
  /** This invocation's training time, s (never 0: rates divide by it). */
  runS: number;
  /** The whole run's training time, resumed parts included, s. */
  wall_s: number;
  /** Mean loss of this invocation's last 20 steps. */
  train_loss: number;
  /** Fraction of layer-steps (layer x micro-batch) skipped over the whole run. */
  skipped_fraction: number;
  /** Estimated wall time saved against running every layer, from the median full-depth step time. */
  est_saved_s: number | null;
  /** This invocation's step losses. */
  losses: number[];
  /** What the SBLD allocator could not do (caps, clamp), this invocation. */
  allocator_notes: AllocatorNotesSummary;
  /** Steps whose update was skipped for non-finite gradients, this invocation. */
  overflow_steps: number;
}

export interface LoopResult<S extends RunSession> {
  readonly session: S;
  /** The run folder, absolute. */
  readonly out: string;
  /** The step the loop stopped before: cfg.steps, or earlier with `stopAfter`. */
  readonly end: number;
  readonly finished: boolean;
  /** The loop's last validation; null when no step of this invocation validated. */
  readonly lastEval: EvalOf<S> | null;
  readonly totals: RunTotals;
  /** Appends one line to metrics.jsonl. */
  log(obj: object): void;
  /** The summary fields every task ends with, in their order (`parameters`: the model's parameter count). */
  closingFields(parameters: number): ClosingFields;
  /** Logs the summary line, closes the engine unless the caller lent it, and returns the summary. */
  finish<T extends object>(summary: T): T;
}

/** The last fields of every task's summary. */
export interface ClosingFields {
  out: string;
  /** Fraction of layer-steps (layer x micro-batch) skipped. */
  skipped_fraction: number;
  /** Estimated wall time saved against running every layer, from the median full-depth step time. */
  est_saved_s: number | null;
  adapter: string;
  parameters: number;
  policy: string;
  allocator_notes: AllocatorNotesSummary;
  /** The matmuls' precision the run trained in. */
  precision: Precision;
  /** Steps whose update was skipped for non-finite gradients (an f16 overflow, or a NaN), this invocation. */
  overflow_steps: number;
  losses: number[];
}

/** Opens the task's session (after claiming the run folder), resumes or starts fresh, and runs the steps. */
export async function runTrainingLoop<S extends RunSession>(cfg: TrainConfig, opts: RunOptions, open: () => Promise<S>): Promise<LoopResult<S>> {
  const say = (line: string) => (progress ? progress.log(line) : opts.quiet || console.log(line));
  let progress: Progress | null = null;
  const out = resolve(cfg.out);
  // ---- the run folder: ours alone for the whole run (src/train/run-folder.ts)
  const lock = claimRunFolder(out, { resume: !!opts.resume, overwrite: opts.overwrite, lock: opts.lock, say });
  try {
    return await runLocked(cfg, opts, open, out, lock, (line) => say(line), (p) => (progress = p));
  } catch (err) {
    armStop(false);
    lock.release();
    throw err;
  }
}

async function runLocked<S extends RunSession>(
  cfg: TrainConfig,
  opts: RunOptions,
  open: () => Promise<S>,
  out: string,
  lock: RunLock,
  say: (line: string) => void,
  setProgress: (p: Progress) => void,
): Promise<LoopResult<S>> {
  const metricsPath = join(out, METRICS_FILE);
  const ckptDir = join(out, 'checkpoint');

  // ---- build and data
  const session = await open();
  const { e, model, dropper, loader } = session;
  const drop = dropper.config;

  let start = 0;
  let elapsedMs = 0;
  const layerSteps = { run: 0, total: 0 };
  let metrics: MetricsFile;
  if (opts.resume) {
    const ckpt = await session.loadCheckpoint(ckptDir);
    const state = ckpt.trainerState as TrainerState;
    writeWeights(e, model, ckpt.params, ckpt.optimizer, state.blockSteps);
    loader.setState(state.loader);
    dropper.restore(state.sbld);
    if (state.lossScale) session.lossScaler.setState(state.lossScale);
    start = state.step;
    elapsedMs = state.elapsedMs;
    Object.assign(layerSteps, state.layerSteps);
    if (start >= cfg.steps) throw new ConfigError(`--resume ${opts.resume}: the checkpoint is at step ${start}, which is already --steps ${cfg.steps}; pass a larger --steps`);
    // Steps logged after the checkpoint are run again: drop their lines so metrics.jsonl has each step once.
    metrics = MetricsFile.resume(metricsPath, start, (line) => console.error(line));
  } else {
    metrics = MetricsFile.fresh(metricsPath);
  }
  // The config as run (a resume's with its new --steps), and the resolved policy beside it; written only now that
  // any checkpoint has loaded, so a failed resume leaves them as they were.
  await writeFileAtomic(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  await writeFileAtomic(join(out, 'drop_resolved.json'), JSON.stringify(drop, null, 2) + '\n');
  const log = (obj: object) => metrics.append(obj);

  if (!opts.quiet) {
    console.log(`adapter: ${e.gpu.adapterName}`);
    for (const line of session.header()) console.log(line);
    if (start > 0) console.log(`resuming at step ${start} from ${opts.resume}`);
  }

  const saveCkpt = async (step: number) => {
    const w = await readWeights(e, model);
    const trainerState: TrainerState = {
      step,
      config: JSON.parse(JSON.stringify(cfg)) as unknown,
      loader: loader.state,
      sbld: dropper.toJSON(),
      blockSteps: w.blockSteps,
      elapsedMs,
      layerSteps: { ...layerSteps },
      lossScale: session.lossScaler.state,
    };
    await session.saveCheckpoint(ckptDir, { params: w.params, optimizer: w.optimizer, trainerState });
  };

  // ---- the step loop
  const elapsedAtStart = elapsedMs;
  const overflowsAtStart = session.lossScaler.overflows;
  const scaled = session.precision === 'f16';
  const end = opts.stopAfter !== undefined ? Math.min(cfg.steps, start + opts.stopAfter) : cfg.steps;
  const progress = new Progress({ total: cfg.steps, start, plain: !!opts.plain || !process.stderr.isTTY, quiet: !!opts.quiet, every: Math.max(1, cfg.evalEvery / 4) });
  setProgress(progress);
  const losses: number[] = [];
  const fullStepMs: number[] = [];
  const partialStepMs: number[] = [];
  let lastEval: EvalOf<S> | null = null;
  armStop(true);
  for (let step = start; step < end; step++) {
    const t0 = performance.now();
    const flops0 = e.counters.flops; // the step's dispatches, SBLD's measurement included
    // Plan which layers run (measuring sensitivities first when SBLD asks).
    const rec = await session.measureIfDue(step);
    if (rec) {
      const line = dropper.sensitivityLine(rec);
      log(line.log);
      say(line.text);
    }
    const { keep, plans, alloc } = session.plan(step);
    if (alloc) {
      log(alloc);
      say(`step ${step}: ${alloc.note}`);
    }
    // Forward, backward, update.
    const { lr, readLoss } = session.step(step, plans);
    const loss = await readLoss();
    const scaler = session.lossScaler;
    if (scaler.lastOverflow) {
      log({ type: 'overflow', step, loss_scale: scaler.scale });
      say(`step ${step}: gradients not finite, update skipped${scaled ? `; loss scale now ${scaler.scale}` : ''}`);
    }
    if (!Number.isFinite(loss)) throw new TrainingError(`training diverged at step ${step}: loss is ${loss}. Try a lower --lr.`);
    const ms = performance.now() - t0;
    elapsedMs += ms;
    // Log.
    const ran = plans.reduce((n, p) => n + p.run.filter(Boolean).length, 0);
    layerSteps.run += ran;
    layerSteps.total += cfg.n_layer * cfg.gradAccum;
    (ran === cfg.n_layer * cfg.gradAccum ? fullStepMs : partialStepMs).push(ms);
    losses.push(loss);
    const { tokensPerS, fields } = session.rates(ms);
    const layers = plans.map((p) => planBitString(p.run)).join(' ');
    const flops = e.counters.flops - flops0;
    log({ step, loss, lr, ms: +ms.toFixed(2), ...fields, layers, expected_kept: +keep.expectedKeptFraction.toFixed(4), flops, ...(scaled ? { loss_scale: scaler.scale } : {}) });
    progress.update({ step, loss, tokensPerS, layers, lr });
    const last = step === cfg.steps - 1;
    if ((cfg.evalEvery > 0 && (step + 1) % cfg.evalEvery === 0) || last) {
      const te = performance.now();
      lastEval = (await session.validate(last)) as EvalOf<S>;
      elapsedMs += performance.now() - te;
      log({ type: 'eval', step, ...session.evalFields(lastEval), elapsed_s: elapsedMs / 1000 });
      say(`step ${step + 1}: ${session.describeEval(lastEval)}, train loss ${loss.toFixed(4)}`);
      progress.resume(step + 1);
    }
    // A stop asked for by a signal (src/cli/signals.ts): checkpoint this step and stop, unless it was the last.
    const stop = stopRequested();
    if ((cfg.checkpointEvery > 0 && (step + 1) % cfg.checkpointEvery === 0) || step + 1 === end || stop) await saveCkpt(step + 1);
    if (stop && step + 1 < end) {
      progress.stop();
      if (!opts.engine) e.destroy();
      throw new RunInterrupted(stop, step + 1, cfg.steps, out);
    }
  }
  armStop(false);
  progress.stop();

  const stepsRun = end - start;
  const medianFull = median(fullStepMs);
  const totals: RunTotals = {
    stepsRun,
    runS: Math.max(1e-9, (elapsedMs - elapsedAtStart) / 1000),
    wall_s: elapsedMs / 1000,
    train_loss: losses.length ? mean(losses.slice(-Math.min(20, losses.length))) : NaN,
    skipped_fraction: layerSteps.total ? 1 - layerSteps.run / layerSteps.total : 0,
    // Each step that skipped layers against the median full-depth step; null when no step skipped any (nothing
    // to estimate) or none ran full depth (nothing to compare with). Full-depth steps count zero: comparing them
    // with their own median would only add noise, and the first step's pipeline compilation.
    est_saved_s: medianFull !== null && partialStepMs.length > 0 ? partialStepMs.reduce((a, ms) => a + medianFull - ms, 0) / 1000 : null,
    losses,
    allocator_notes: dropper.notes.summary(),
    overflow_steps: session.lossScaler.overflows - overflowsAtStart,
  };
  return {
    session,
    out,
    end,
    finished: end === cfg.steps,
    lastEval,
    totals,
    log,
    closingFields: (parameters) => ({
      out,
      skipped_fraction: totals.skipped_fraction,
      est_saved_s: totals.est_saved_s,
      adapter: e.gpu.adapterName,
      parameters,
      policy: drop.policy,
      allocator_notes: totals.allocator_notes,
      precision: session.precision,
      overflow_steps: totals.overflow_steps,
      losses: totals.losses,
    }),
    finish(summary) {
      log({ type: 'summary', ...summary, losses: undefined });
      if (!opts.engine) e.destroy();
      lock.release();
      return summary;
    },
  };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
