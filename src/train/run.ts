/**
 * The training program, top to bottom: config, build, data, then the step loop (plan which layers run,
 * forward, backward, update, log), with periodic evaluation and checkpoints, and a summary at the end.
 *
 * Run folder: config.json (the resolved TrainConfig), metrics.jsonl (one line per step, plus eval and
 * sensitivity lines), checkpoint/ (model.safetensors + HF config.json, optimizer.safetensors,
 * trainer_state.json), written atomically every `checkpointEvery` steps and at the end.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BatchLoaderState } from '../data/loader.js';
import { decode } from '../data/tokenizer.js';
import { planBitString } from '../drop/policy.js';
import { SbldState, type SbldMeasurement } from '../drop/sbld.js';
import { loadCheckpoint, saveCheckpoint } from '../io/checkpoint.js';
import { generate } from '../model/sample.js';
import { readWeights, writeWeights } from '../model/weights.js';
import type { Engine } from '../runtime/engine.js';
import { ConfigError, type TrainConfig } from './config.js';
import { Progress } from './progress.js';
import { TrainingSession } from './session.js';
import { evaluate } from './step.js';

/** Logs one SBLD measurement to metrics.jsonl (values, lists, time) and prints it for the user. */
export function reportSensitivity(rec: SbldMeasurement, log: (obj: object) => void, say: (line: string) => void): void {
  log({ type: 'sensitivity', step: rec.step, values: rec.values, sensitivities: rec.sensitivities, block: rec.block, allow: rec.allow, ms: rec.ms });
  say(
    `sensitivity at step ${rec.step} (${rec.ms.toFixed(0)} ms): [${rec.sensitivities.map((s) => s.toFixed(4)).join(', ')}] ` +
      `block ${JSON.stringify(rec.block)} allow ${JSON.stringify(rec.allow)}`,
  );
}

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
}

export interface RunSummary {
  steps: number;
  wall_s: number;
  tokens_per_s: number;
  train_loss: number;
  val_loss: number;
  out: string;
  /** Fraction of layer-steps (layer x micro-batch) skipped. */
  skipped_fraction: number;
  /** Estimated wall time saved against running every layer, from the median full-depth step time. */
  est_saved_s: number | null;
  adapter: string;
  parameters: number;
  policy: string;
  sample?: string;
  losses: number[];
}

interface TrainerState {
  step: number;
  loader: BatchLoaderState;
  sbld: unknown;
  blockSteps: number[];
  elapsedMs: number;
  layerSteps: { run: number; total: number };
}

export async function runTraining(cfg: TrainConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const say = (line: string) => progress ? progress.log(line) : opts.quiet || console.log(line);
  let progress: Progress | null = null;
  const out = resolve(cfg.out);
  mkdirSync(out, { recursive: true });
  const metricsPath = join(out, 'metrics.jsonl');
  const ckptDir = join(out, 'checkpoint');

  // ---- build and data
  const session = await TrainingSession.open(cfg, opts.engine);
  const { e, model, drop, loader, valBatches, corpus, B, T, modelConfig } = session;

  let start = 0;
  let elapsedMs = 0;
  const layerSteps = { run: 0, total: 0 };
  if (opts.resume) {
    const ckpt = await loadCheckpoint(join(resolve(opts.resume), 'checkpoint'), { modelConfig });
    const state = ckpt.trainerState as TrainerState;
    writeWeights(e, model, ckpt.params, ckpt.optimizer, state.blockSteps);
    loader.setState(state.loader);
    if (session.sbld && state.sbld) session.sbld = SbldState.fromJSON(drop, state.sbld);
    start = state.step;
    elapsedMs = state.elapsedMs;
    Object.assign(layerSteps, state.layerSteps);
    if (start >= cfg.steps) throw new ConfigError(`--resume ${opts.resume}: the checkpoint is at step ${start}, which is already --steps ${cfg.steps}; pass a larger --steps`);
    // Steps logged after the checkpoint are run again: drop their lines so metrics.jsonl has each step once.
    if (existsSync(metricsPath)) {
      const kept = readFileSync(metricsPath, 'utf8').split('\n').filter((line) => line && (JSON.parse(line) as { step?: number }).step! < start);
      writeFileSync(metricsPath, kept.map((l) => l + '\n').join(''));
    }
  } else {
    writeFileSync(metricsPath, '');
  }
  // The config as given (so `--resume` can read it back as a config file), and the resolved policy beside it.
  writeFileSync(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeFileSync(join(out, 'drop_resolved.json'), JSON.stringify(drop, null, 2) + '\n');
  const log = (obj: object) => appendFileSync(metricsPath, JSON.stringify(obj) + '\n');

  if (!opts.quiet) {
    console.log(`adapter: ${e.gpu.adapterName}`);
    console.log(`data: ${corpus.description}`);
    console.log(
      `model: GPT L${cfg.n_layer} C${cfg.n_embd} H${cfg.n_head} T${T}, ${(model.parameterCount / 1e6).toFixed(2)}M parameters; ` +
        `batch ${B}x${cfg.gradAccum} | policy ${drop.policy}${drop.rhoMatch ? ` (rho_peak ${drop.rhoPeak.toFixed(3)}: ${drop.rhoMatch.note ?? 'equal expected compute to PLD'})` : ''}`,
    );
    if (start > 0) console.log(`resuming at step ${start} from ${opts.resume}`);
  }

  const saveCkpt = async (step: number) => {
    const w = await readWeights(e, model);
    const trainerState: TrainerState = {
      step,
      loader: loader.state,
      sbld: session.sbld ? session.sbld.toJSON() : null,
      blockSteps: w.blockSteps,
      elapsedMs,
      layerSteps: { ...layerSteps },
    };
    await saveCheckpoint(ckptDir, { modelConfig, params: w.params, optimizer: w.optimizer, trainerState });
  };

  // ---- the step loop
  const elapsedAtStart = elapsedMs;
  const end = opts.stopAfter !== undefined ? Math.min(cfg.steps, start + opts.stopAfter) : cfg.steps;
  progress = new Progress({ total: cfg.steps, start, plain: !!opts.plain || !process.stderr.isTTY, quiet: !!opts.quiet, every: Math.max(1, cfg.evalEvery / 4) });
  const losses: number[] = [];
  const fullStepMs: number[] = [];
  let stepMsTotal = 0;
  let valLoss = NaN;
  for (let step = start; step < end; step++) {
    const t0 = performance.now();
    // Plan which layers run (measuring sensitivities first when SBLD asks).
    const rec = await session.measureIfDue(step);
    if (rec) reportSensitivity(rec, log, say);
    const { keep, plans } = session.plan(step);
    // Forward, backward, update.
    const { lr, readLoss } = session.step(step, plans);
    const loss = await readLoss();
    if (!Number.isFinite(loss)) throw new TrainingError(`training diverged at step ${step}: loss is ${loss}. Try a lower --lr.`);
    const ms = performance.now() - t0;
    elapsedMs += ms;
    // Log.
    const ran = plans.reduce((n, p) => n + p.run.filter(Boolean).length, 0);
    layerSteps.run += ran;
    layerSteps.total += cfg.n_layer * cfg.gradAccum;
    if (ran === cfg.n_layer * cfg.gradAccum) fullStepMs.push(ms);
    stepMsTotal += ms;
    losses.push(loss);
    const tokensPerS = (B * T * cfg.gradAccum) / (ms / 1000);
    const layers = plans.map((p) => planBitString(p.run)).join(' ');
    log({ step, loss, lr, ms: +ms.toFixed(2), tokens_per_s: +tokensPerS.toFixed(1), layers, expected_kept: +keep.expectedKeptFraction.toFixed(4) });
    progress.update({ step, loss, tokensPerS, layers, lr });
    const last = step === cfg.steps - 1;
    if ((cfg.evalEvery > 0 && (step + 1) % cfg.evalEvery === 0) || last) {
      const te = performance.now();
      valLoss = await evaluate(e, model, valBatches, B, T);
      elapsedMs += performance.now() - te;
      log({ type: 'eval', step, val_loss: valLoss, elapsed_s: elapsedMs / 1000 });
      say(`step ${step + 1}: val loss ${valLoss.toFixed(4)} (${(valLoss / Math.LN2).toFixed(3)} bits/byte), train loss ${loss.toFixed(4)}`);
      progress.resume(step + 1);
    }
    if ((cfg.checkpointEvery > 0 && (step + 1) % cfg.checkpointEvery === 0) || step + 1 === end) await saveCkpt(step + 1);
  }
  progress.stop();

  // ---- summary
  const finished = end === cfg.steps;
  if (Number.isNaN(valLoss)) valLoss = await evaluate(e, model, valBatches, B, T);
  let sample: string | undefined;
  if (finished && cfg.sampleTokens > 0) {
    const tokens = await generate(e, model, { prompt: 'The ', tokens: cfg.sampleTokens, temperature: 0.8, topK: 40, seed: cfg.seed });
    sample = decode(tokens);
  }
  const stepsRun = end - start;
  const wall_s = elapsedMs / 1000; // the whole run's, resumed parts included
  const medianFull = median(fullStepMs);
  const summary: RunSummary = {
    steps: end,
    wall_s,
    tokens_per_s: (stepsRun * B * T * cfg.gradAccum) / Math.max(1e-9, (elapsedMs - elapsedAtStart) / 1000),
    train_loss: losses.length ? mean(losses.slice(-Math.min(20, losses.length))) : NaN,
    val_loss: valLoss,
    out,
    skipped_fraction: layerSteps.total ? 1 - layerSteps.run / layerSteps.total : 0,
    // Time a full-depth run would have spent in the same steps, minus what these steps took.
    est_saved_s: medianFull !== null ? (medianFull * stepsRun - stepMsTotal) / 1000 : null,
    adapter: e.gpu.adapterName,
    parameters: model.parameterCount,
    policy: drop.policy,
    losses,
  };
  if (sample !== undefined) summary.sample = sample;
  log({ type: 'summary', ...summary, losses: undefined });
  if (!opts.engine) e.destroy();
  return summary;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
