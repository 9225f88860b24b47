/**
 * The ViT training program, top to bottom as GPT's (src/tasks/gpt/run.ts): config, build, data, then the step loop
 * (plan which layers run, forward, backward, update, log), periodic evaluation and checkpoints, a summary.
 * The loop, resume and run folder (src/train/loop.ts), the layer-dropping policy, optimizer, schedule and progress
 * display are the trainer every task shares; the ViT's session (./session.ts) says what the loop prints, saves
 * and validates; this file adds the test set and the summary.
 *
 * Run folder: config.json (the config; --resume reads it back), drop_resolved.json (the layer-dropping config as
 * resolved), metrics.jsonl (one line per step: loss, lr, ms, tokens/s (patch
 * tokens), images/s, which layers ran, expected fraction kept; `eval` lines with val_loss, val_top1, val_top5;
 * `sensitivity` lines; a final `test` line; the `summary`), checkpoint/ (./checkpoint.ts).
 *
 * Evaluation: periodic evaluations use the first `evalBatches` batches of the validation split; the last step
 * evaluates the whole validation split, and the test set is evaluated once, after training (its time is
 * reported as test_s, outside wall_s).
 */
import { runTrainingLoop, type RunOptions } from '../../train/loop.js';
import type { RunSummary } from '../../train/task.js';
import type { VitTrainConfig } from './config.js';
import type { VisionData } from './data.js';
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

export async function runVitTraining(cfg: VitTrainConfig, opts: VitRunOptions = {}): Promise<VitRunSummary> {
  const run = await runTrainingLoop(cfg, opts, () => VitSession.open(cfg, opts.engine, opts.data));

  // ---- summary: the whole validation split, then (for a finished run) the test set, once
  const session = run.session;
  const { e, model, B, geometry } = session;
  const t = run.totals;
  let val = run.lastEval;
  if (!run.finished || val === null || val.n !== session.val.N) val = await evaluateVit(e, model, session.allValBatches());
  let test: ClassifierMetrics | null = null;
  let testMs = 0;
  if (run.finished) {
    const tt = performance.now();
    test = await evaluateVit(e, model, session.testBatches());
    testMs = performance.now() - tt;
    run.log({ type: 'test', step: run.end - 1, test_loss: test.loss, test_top1: test.top1, test_top5: test.top5, test_images: test.n, ms: +testMs.toFixed(1) });
  }
  const images = t.stepsRun * B * cfg.gradAccum;
  const summary: VitRunSummary = {
    task: 'vit',
    steps: run.end,
    wall_s: t.wall_s,
    tokens_per_s: (images * geometry.T) / t.runS,
    images_per_s: images / t.runS,
    train_loss: t.train_loss,
    val_loss: val.loss,
    top1: val.top1,
    top5: val.top5,
    val_images: val.n,
    test_loss: test?.loss ?? null,
    test_top1: test?.top1 ?? null,
    test_top5: test?.top5 ?? null,
    test_images: test?.n ?? 0,
    test_s: testMs / 1000,
    ...run.closingFields(model.parameterCount),
  };
  return run.finish(summary);
}
