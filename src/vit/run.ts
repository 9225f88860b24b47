/**
 * The ViT training program, top to bottom as GPT's (src/train/run.ts): config, build, data, then the step loop
 * (plan which layers run, forward, backward, update, log), periodic evaluation and checkpoints, a summary.
 * The layer-dropping policy, optimizer, schedule and progress display are GPT's code.
 *
 * Run folder: config.json (the config; --resume reads it back), drop_resolved.json (the layer-dropping config as
 * resolved), metrics.jsonl (one line per step: loss, lr, ms, tokens/s (patch
 * tokens), images/s, which layers ran, expected fraction kept; `eval` lines with val_loss, val_top1, val_top5;
 * `sensitivity` lines; a final `test` line; the `summary`), checkpoint/ (src/vit/checkpoint.ts).
 *
 * Evaluation: periodic evaluations use the first `evalBatches` batches of the validation split; the last step
 * evaluates the whole validation split, and the test set is evaluated once, after training (its time is
 * reported as test_s, outside wall_s).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { planBitString } from '../drop/policy.js';
import { SbldState } from '../drop/sbld.js';
import { readWeights, writeWeights } from '../model/weights.js';
import type { Engine } from '../runtime/engine.js';
import { Progress } from '../train/progress.js';
import { reportSensitivity, type RunOptions, type RunSummary } from '../train/run.js';
import { loadVitCheckpoint, saveVitCheckpoint } from './checkpoint.js';
import type { VitTrainConfig } from './config.js';
import type { ImageLoaderState, VisionData } from './data.js';
import { VitSession } from './session.js';
import { evaluateVit, type ClassifierMetrics } from './step.js';

export interface VitRunOptions extends RunOptions {
  /** The images to train on (tests); default `loadFashionMnist(cfg.data)`. */
  data?: VisionData;
}

/**
 * `runTraining`'s summary (tokens are patch tokens; `sample` is never set) plus accuracies. `val_loss`, `top1`
 * and `top5` are on the whole validation split at the end; the `test_*` fields are on the test set, null when
 * the run stopped early (`stopAfter`).
 */
export interface VitRunSummary extends RunSummary {
  task: 'vit';
  top1: number;
  top5: number;
  val_images: number;
  test_loss: number | null;
  test_top1: number | null;
  test_top5: number | null;
  test_images: number;
  /** Seconds spent evaluating the test set (not in wall_s). */
  test_s: number;
  images_per_s: number;
}

interface VitTrainerState {
  step: number;
  loader: ImageLoaderState;
  sbld: unknown;
  blockSteps: number[];
  elapsedMs: number;
  layerSteps: { run: number; total: number };
}

export async function runVitTraining(cfg: VitTrainConfig, opts: VitRunOptions = {}): Promise<VitRunSummary> {
  const say = (line: string) => (progress ? progress.log(line) : opts.quiet || console.log(line));
  let progress: Progress | null = null;
  const out = resolve(cfg.out);
  mkdirSync(out, { recursive: true });
  const metricsPath = join(out, 'metrics.jsonl');
  const ckptDir = join(out, 'checkpoint');

  // ---- build and data
  const session = await VitSession.open(cfg, opts.engine, opts.data);
  const { e, model, drop, loader, valBatches, B, modelConfig, geometry } = session;
  const tokensPerImage = geometry.T;

  let start = 0;
  let elapsedMs = 0;
  const layerSteps = { run: 0, total: 0 };
  if (opts.resume) {
    const ckpt = await loadVitCheckpoint(join(resolve(opts.resume), 'checkpoint'), { expected: modelConfig });
    const state = ckpt.trainerState as VitTrainerState;
    writeWeights(e, model, ckpt.params, ckpt.optimizer, state.blockSteps);
    loader.setState(state.loader);
    if (session.sbld && state.sbld) session.sbld = SbldState.fromJSON(drop, state.sbld);
    start = state.step;
    elapsedMs = state.elapsedMs;
    Object.assign(layerSteps, state.layerSteps);
    if (start >= cfg.steps) throw new Error(`--resume ${opts.resume}: the checkpoint is at step ${start}, which is already --steps ${cfg.steps}`);
    // Steps logged after the checkpoint are run again: drop their lines so metrics.jsonl has each step once.
    if (existsSync(metricsPath)) {
      const kept = readFileSync(metricsPath, 'utf8').split('\n').filter((line) => line && (JSON.parse(line) as { step?: number }).step! < start);
      writeFileSync(metricsPath, kept.map((l) => l + '\n').join(''));
    }
  } else {
    writeFileSync(metricsPath, '');
  }
  // As GPT's run: the config as given (what --resume reads back), and the layer-dropping config as resolved.
  writeFileSync(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeFileSync(join(out, 'drop_resolved.json'), JSON.stringify(drop, null, 2) + '\n');
  const log = (obj: object) => appendFileSync(metricsPath, JSON.stringify(obj) + '\n');

  if (!opts.quiet) {
    console.log(`adapter: ${e.gpu.adapterName}`);
    console.log(`data: ${session.data.description}; split ${session.train.N} train / ${session.val.N} validation (seed ${cfg.seed})${cfg.augment ? '; augmented (crop 2 px, flip)' : ''}`);
    console.log(
      `model: ViT L${cfg.n_layer} C${cfg.n_embd} H${cfg.n_head}, ${cfg.patchSize}x${cfg.patchSize} patches (T${tokensPerImage}), ` +
        `${(model.parameterCount / 1e6).toFixed(2)}M parameters; batch ${B}x${cfg.gradAccum} | policy ${drop.policy}` +
        (drop.rhoMatch ? ` (rho_peak ${drop.rhoPeak.toFixed(3)}: ${drop.rhoMatch.note ?? 'equal expected compute to PLD'})` : ''),
    );
    if (start > 0) console.log(`resuming at step ${start} from ${opts.resume}`);
  }

  const saveCkpt = async (step: number) => {
    const w = await readWeights(e, model);
    const trainerState: VitTrainerState = {
      step,
      loader: loader.state,
      sbld: session.sbld ? session.sbld.toJSON() : null,
      blockSteps: w.blockSteps,
      elapsedMs,
      layerSteps: { ...layerSteps },
    };
    await saveVitCheckpoint(ckptDir, { modelConfig, params: w.params, optimizer: w.optimizer, trainerState });
  };

  // ---- the step loop
  const elapsedAtStart = elapsedMs;
  const end = opts.stopAfter !== undefined ? Math.min(cfg.steps, start + opts.stopAfter) : cfg.steps;
  progress = new Progress({ total: cfg.steps, start, plain: !!opts.plain || !process.stderr.isTTY, quiet: !!opts.quiet, every: Math.max(1, cfg.evalEvery / 4) });
  const losses: number[] = [];
  const fullStepMs: number[] = [];
  let stepMsTotal = 0;
  let val: ClassifierMetrics | null = null;
  for (let step = start; step < end; step++) {
    const t0 = performance.now();
    // Plan which layers run (measuring sensitivities first when SBLD asks).
    const rec = await session.measureIfDue(step);
    if (rec) reportSensitivity(rec, log, say);
    const { keep, plans } = session.plan(step);
    // Forward, backward, update.
    const { lr, readLoss } = session.step(step, plans);
    const loss = await readLoss();
    if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step}: loss is ${loss}. Try a lower --lr.`);
    const ms = performance.now() - t0;
    elapsedMs += ms;
    // Log.
    const ran = plans.reduce((n, p) => n + p.run.filter(Boolean).length, 0);
    layerSteps.run += ran;
    layerSteps.total += cfg.n_layer * cfg.gradAccum;
    if (ran === cfg.n_layer * cfg.gradAccum) fullStepMs.push(ms);
    stepMsTotal += ms;
    losses.push(loss);
    const imagesPerS = (B * cfg.gradAccum) / (ms / 1000);
    const tokensPerS = imagesPerS * tokensPerImage;
    const layers = plans.map((p) => planBitString(p.run)).join(' ');
    log({ step, loss, lr, ms: +ms.toFixed(2), tokens_per_s: +tokensPerS.toFixed(1), images_per_s: +imagesPerS.toFixed(1), layers, expected_kept: +keep.expectedKeptFraction.toFixed(4) });
    progress.update({ step, loss, tokensPerS, layers, lr });
    const last = step === cfg.steps - 1;
    if ((cfg.evalEvery > 0 && (step + 1) % cfg.evalEvery === 0) || last) {
      const te = performance.now();
      val = await evaluateVit(e, model, last ? session.allValBatches() : valBatches);
      elapsedMs += performance.now() - te;
      log({ type: 'eval', step, val_loss: val.loss, val_top1: val.top1, val_top5: val.top5, val_images: val.n, elapsed_s: elapsedMs / 1000 });
      say(`step ${step + 1}: val loss ${val.loss.toFixed(4)}, top-1 ${pct(val.top1)}, top-5 ${pct(val.top5)} (${val.n} images), train loss ${loss.toFixed(4)}`);
      progress.resume(step + 1);
    }
    if ((cfg.checkpointEvery > 0 && (step + 1) % cfg.checkpointEvery === 0) || step + 1 === end) await saveCkpt(step + 1);
  }
  progress.stop();

  // ---- summary: the whole validation split, then (for a finished run) the test set, once
  const finished = end === cfg.steps;
  if (!finished || val === null || val.n !== session.val.N) val = await evaluateVit(e, model, session.allValBatches());
  let test: ClassifierMetrics | null = null;
  let testMs = 0;
  if (finished) {
    const tt = performance.now();
    test = await evaluateVit(e, model, session.testBatches());
    testMs = performance.now() - tt;
    log({ type: 'test', step: end - 1, test_loss: test.loss, test_top1: test.top1, test_top5: test.top5, test_images: test.n, ms: +testMs.toFixed(1) });
  }
  const stepsRun = end - start;
  const wall_s = elapsedMs / 1000; // the whole run's, resumed parts included
  const runS = Math.max(1e-9, (elapsedMs - elapsedAtStart) / 1000); // this invocation's
  const medianFull = median(fullStepMs);
  const images = stepsRun * B * cfg.gradAccum;
  const summary: VitRunSummary = {
    task: 'vit',
    steps: end,
    wall_s,
    tokens_per_s: (images * tokensPerImage) / runS,
    images_per_s: images / runS,
    train_loss: losses.length ? mean(losses.slice(-Math.min(20, losses.length))) : NaN,
    val_loss: val.loss,
    top1: val.top1,
    top5: val.top5,
    val_images: val.n,
    test_loss: test?.loss ?? null,
    test_top1: test?.top1 ?? null,
    test_top5: test?.top5 ?? null,
    test_images: test?.n ?? 0,
    test_s: testMs / 1000,
    out,
    skipped_fraction: layerSteps.total ? 1 - layerSteps.run / layerSteps.total : 0,
    est_saved_s: medianFull !== null ? (medianFull * stepsRun - stepMsTotal) / 1000 : null,
    adapter: e.gpu.adapterName,
    parameters: model.parameterCount,
    policy: drop.policy,
    losses,
  };
  log({ type: 'summary', ...summary, losses: undefined });
  if (!opts.engine) e.destroy();
  return summary;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
