/**
 * The GPT training program: config, build, data, then the step loop (plan which layers run, forward, backward,
 * update, log) with periodic evaluation and checkpoints, and a summary at the end. The loop, resume and the run
 * folder are the trainer every task shares (src/train/loop.ts); GPT's session (./session.ts) says what the loop
 * prints, saves and validates; this file adds the summary (with a text sample).
 *
 * Run folder: config.json (the config as given), drop_resolved.json, metrics.jsonl (one line per step, plus eval
 * and sensitivity lines and the summary), checkpoint/ (model.safetensors + HF config.json, optimizer.safetensors,
 * trainer_state.json), written atomically every `checkpointEvery` steps and at the end.
 */
import { decode } from './data/tokenizer.js';
import { generate } from './sample.js';
import type { TrainConfig } from '../../train/config.js';
import type { RunSummary } from '../../train/task.js';
import { runTrainingLoop, type RunOptions } from '../../train/loop.js';
import { TrainingSession } from './session.js';
import { evaluate } from './step.js';

export { TrainingError, type RunOptions } from '../../train/loop.js';

/** GPT's summary is the summary every task reports, with a text sample when asked for. */
export type { RunSummary } from '../../train/task.js';

export async function runTraining(cfg: TrainConfig, opts: RunOptions = {}): Promise<RunSummary> {
  const run = await runTrainingLoop(cfg, opts, () => TrainingSession.open(cfg, opts.engine));

  // ---- summary
  const { e, model, valBatches, B, T } = run.session;
  const t = run.totals;
  let valLoss = run.lastEval ?? NaN;
  if (Number.isNaN(valLoss)) valLoss = await evaluate(e, model, valBatches, B, T);
  let sample: string | undefined;
  if (run.finished && cfg.sampleTokens > 0) {
    const tokens = await generate(e, model, { prompt: 'The ', tokens: cfg.sampleTokens, temperature: 0.8, topK: 40, seed: cfg.seed });
    sample = decode(tokens);
  }
  const summary: RunSummary = {
    steps: run.end,
    wall_s: t.wall_s,
    tokens_per_s: (t.stepsRun * B * T * cfg.gradAccum) / t.runS,
    train_loss: t.train_loss,
    val_loss: valLoss,
    ...run.closingFields(model.parameterCount),
  };
  if (sample !== undefined) summary.sample = sample;
  return run.finish(summary);
}
