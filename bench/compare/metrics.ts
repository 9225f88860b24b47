/**
 * Reading one run's `metrics.jsonl` (written by `runTraining`, src/tasks/gpt/run.ts, or `runVitTraining`,
 * src/tasks/vit/run.ts: the same step, eval and sensitivity lines, the ViT's evals adding `val_top1`/`val_top5` and a
 * final `test` line) into what the comparison needs: the eval curve against steps and against training wall
 * time, the run's totals and test figures, and SBLD's keep probabilities per step rebuilt from its sensitivity
 * lines.
 *
 * Training wall time is the sum of the per-step `ms` up to a step: each step's time runs from before SBLD's
 * sensitivity measurement (when one is due) to after the loss readback, so measurements count, while the
 * benchmark's own evaluations (the same full-depth forwards for every policy, `elapsed_s` includes them) and
 * checkpoint writes do not.
 */
import type { ResolvedDropConfig } from '../../src/drop/config.js';
import { keepProbabilities } from '../../src/drop/policy.js';
import type { SbldView } from '../../src/drop/sbld.js';
import type { EvalPoint, RunCurves } from './analysis.js';

export interface StepLine {
  step: number;
  loss: number;
  lr: number;
  ms: number;
  tokens_per_s: number;
  layers: string;
  expected_kept: number;
}

export interface EvalLine {
  type: 'eval';
  step: number;
  val_loss: number;
  elapsed_s: number;
  /** --task vit: validation top-1 / top-5 accuracy in [0, 1]. */
  val_top1?: number;
  val_top5?: number;
}

/** --task vit: the test set, evaluated once after the last step (its time is not training time). */
export interface TestLine {
  type: 'test';
  step: number;
  test_loss: number;
  test_top1: number;
  test_top5: number;
  test_images: number;
  ms: number;
}

export interface SensitivityLine {
  type: 'sensitivity';
  step: number;
  values: number[];
  sensitivities: number[];
  block: number[];
  allow: number[];
  ms: number;
}

export interface SummaryLine {
  type: 'summary';
  steps: number;
  wall_s: number;
  skipped_fraction: number;
  val_loss: number;
  /** --task vit: accuracies on the whole validation split at the end, and on the test set (null if not run). */
  top1?: number;
  top5?: number;
  test_top1?: number | null;
  test_top5?: number | null;
}

export interface Metrics {
  steps: StepLine[];
  evals: EvalLine[];
  sensitivity: SensitivityLine[];
  /** --task vit only; null for GPT. */
  test: TestLine | null;
  summary: SummaryLine | null;
}

/** Splits metrics.jsonl text by line type. Throws naming the line number on bad JSON. */
export function parseMetrics(text: string, source = 'metrics.jsonl'): Metrics {
  const m: Metrics = { steps: [], evals: [], sensitivity: [], test: null, summary: null };
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: { type?: string };
    try {
      o = JSON.parse(line) as { type?: string };
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (o.type === undefined) m.steps.push(o as StepLine);
    else if (o.type === 'eval') m.evals.push(o as EvalLine);
    else if (o.type === 'sensitivity') m.sensitivity.push(o as SensitivityLine);
    else if (o.type === 'test') m.test = o as TestLine;
    else if (o.type === 'summary') m.summary = o as SummaryLine;
  });
  return m;
}

/**
 * RunCurves of one run: evals with the training wall time at each (cumulative step ms) and, for the ViT, their
 * top-1/top-5 accuracies; tokens/s over the step time without sensitivity measurements (what skipping saves per
 * step; the measurements stay in the wall times), mean expected_kept, the skipped fraction counted from the
 * logged layer bit strings, and the test line's figures (null for GPT). `tokensPerStep` = B·T·gradAccum (patch
 * tokens for the ViT).
 */
export function runCurves(m: Metrics, variant: string, seed: number, tokensPerStep: number): RunCurves {
  const cum: number[] = [];
  let total = 0;
  for (const s of m.steps) {
    total += s.ms;
    cum[s.step] = total / 1000;
  }
  const evals: EvalPoint[] = m.evals.map((e) => {
    const p: EvalPoint = { steps: e.step + 1, train_s: cum[e.step] ?? NaN, val_loss: e.val_loss };
    if (e.val_top1 !== undefined) p.val_top1 = e.val_top1;
    if (e.val_top5 !== undefined) p.val_top5 = e.val_top5;
    return p;
  });
  let bits = 0;
  let zeros = 0;
  for (const s of m.steps) {
    const b = s.layers.replace(/ /g, '');
    bits += b.length;
    for (const ch of b) if (ch === '0') zeros++;
  }
  const measureMs = m.sensitivity.reduce((a, x) => a + x.ms, 0);
  return {
    variant,
    seed,
    evals,
    train_s: total / 1000,
    measure_s: measureMs / 1000,
    tokens_per_s: (m.steps.length * tokensPerStep) / Math.max(1e-9, (total - measureMs) / 1000),
    expected_kept: m.steps.reduce((a, s) => a + s.expected_kept, 0) / Math.max(1, m.steps.length),
    skipped_fraction: bits ? zeros / bits : 0,
    test: m.test ? { loss: m.test.test_loss, top1: m.test.test_top1, top5: m.test.test_top5 } : null,
  };
}

/**
 * SBLD's keep probabilities p[t][l] for t = 0..T-1, rebuilt as the run computed them: the state seen at step t
 * is the last sensitivity line at or before t (its `sensitivities`, `block`, `allow` are what `SbldState` held
 * after applying that measurement), and `keepProbabilities(drop, t, state)` is pure. Cost O(T·L) (O(T·L²) worst).
 */
export function sbldKeepHistory(drop: ResolvedDropConfig, sens: readonly SensitivityLine[]): number[][] {
  const sorted = [...sens].sort((a, b) => a.step - b.step);
  const out: number[][] = [];
  let view: SbldView = { sensitivities: null, block: [], allow: [] };
  let next = 0;
  for (let t = 0; t < drop.totalSteps; t++) {
    while (next < sorted.length && sorted[next]!.step <= t) {
      const s = sorted[next++]!;
      view = { sensitivities: s.sensitivities, block: s.block, allow: s.allow };
    }
    out.push(keepProbabilities(drop, t, view).keep);
  }
  return out;
}

/**
 * Largest |mean_l p[t][l] - expected_kept(t)| over the logged steps: a check that the rebuilt history is the
 * one the run used (metrics round expected_kept to 4 decimals, so anything under ~1e-4 agrees).
 */
export function keepHistoryMismatch(history: readonly number[][], steps: readonly StepLine[]): number {
  let worst = 0;
  for (const s of steps) {
    const p = history[s.step];
    if (!p) continue;
    worst = Math.max(worst, Math.abs(p.reduce((a, b) => a + b, 0) / p.length - s.expected_kept));
  }
  return worst;
}
