/**
 * The comparison's analysis (bench/compare/analysis.ts, metrics.ts, runs.ts) on synthetic curves: no GPU.
 * Curves are built so every expected number can be worked out by hand in the comments; the ViT's accuracy
 * figures (--task vit) on curves with val_top1/val_top5 and a test line.
 */
import { describe, expect, it } from 'vitest';
import {
  ablationDeltas,
  accuracyTable,
  fmtPct,
  fmtReached,
  fmtStat,
  hasAccuracy,
  interpolate,
  isClear,
  markdownTable,
  meanCurve,
  meanStderr,
  summarize,
  summaryTable,
  timeToTarget,
  type RunCurves,
} from '../bench/compare/analysis.js';
import { accuracyCurveSpec, lossCurveSpec, renderSvg } from '../bench/compare/charts.js';
import { keepHistoryMismatch, parseMetrics, runCurves, sbldKeepHistory } from '../bench/compare/metrics.js';
import { fmtDuration } from '../bench/compare/progress.js';
import { DEEP_COSTS, estimateRunSeconds, parsePolicies, planRuns, planVariants, VIT_DEEP_COSTS } from '../bench/compare/runs.js';
import { DEFAULT_STEPS, EVALS_PER_RUN, stampOf, VIT_DEFAULT_STEPS } from '../bench/compare/main.js';
import { resolveDropConfig } from '../src/drop/resolve.js';
import { keepProbabilities } from '../src/drop/policy.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { resolveVitConfig } from '../src/tasks/vit/config.js';

/** Loss falling linearly from y0 at the first eval to y1 at the last, `n` evals over `steps` steps taking `secs`. */
function linearRun(variant: string, seed: number, y0: number, y1: number, secs: number, extra: Partial<RunCurves> = {}, n = 5, steps = 100): RunCurves {
  const evals = Array.from({ length: n }, (_, i) => ({
    steps: ((i + 1) * steps) / n,
    train_s: ((i + 1) * secs) / n,
    val_loss: y0 + ((y1 - y0) * i) / (n - 1),
  }));
  return { variant, seed, evals, train_s: secs, measure_s: 0, tokens_per_s: 1000, expected_kept: 1, skipped_fraction: 0, ...extra };
}

/**
 * A ViT run: linearRun's loss, with top-1 rising linearly from a0 to a1 over the evals (top-5 = top-1 + 0.1) and
 * a test line (top-1 t1, top-5 t1 + 0.1, loss t1 + 1).
 */
function vitRun(variant: string, seed: number, a0: number, a1: number, secs: number, t1: number, n = 5): RunCurves {
  const r = linearRun(variant, seed, 4, 2, secs, {}, n);
  r.evals.forEach((e, i) => {
    e.val_top1 = a0 + ((a1 - a0) * i) / (n - 1);
    e.val_top5 = e.val_top1 + 0.1;
  });
  return { ...r, test: { top1: t1, top5: t1 + 0.1, loss: t1 + 1 } };
}

describe('interpolate', () => {
  const c = [
    { x: 0, y: 4 },
    { x: 10, y: 2 },
    { x: 20, y: 1 },
  ];
  it('is linear between points and exact at them', () => {
    expect(interpolate(c, 5)).toBeCloseTo(3, 12);
    expect(interpolate(c, 15)).toBeCloseTo(1.5, 12);
    expect(interpolate(c, 10)).toBe(2);
    expect(interpolate(c, 0)).toBe(4);
    expect(interpolate(c, 20)).toBe(1);
  });
  it('never extrapolates', () => {
    expect(interpolate(c, -1)).toBeNaN();
    expect(interpolate(c, 20.0001)).toBeNaN();
    expect(interpolate([], 0)).toBeNaN();
    expect(interpolate(c, NaN)).toBeNaN();
  });
  it('handles one point', () => {
    expect(interpolate([{ x: 3, y: 7 }], 3)).toBe(7);
  });
});

describe('timeToTarget', () => {
  const c = [
    { x: 10, y: 3 },
    { x: 20, y: 2 },
    { x: 30, y: 2.5 }, // noise: goes back up
    { x: 40, y: 1 },
  ];
  it('interpolates inside the first crossing segment', () => {
    expect(timeToTarget(c, 2.5)).toBeCloseTo(15, 12); // 3 -> 2 over 10..20
    expect(timeToTarget(c, 1.5)).toBeCloseTo(30 + (1 / 1.5) * 10, 12); // 2.5 -> 1 over 30..40
  });
  it('takes the first crossing, not a later one', () => {
    expect(timeToTarget(c, 2)).toBe(20);
  });
  it('returns the first point when already below, null when never reached', () => {
    expect(timeToTarget(c, 5)).toBe(10);
    expect(timeToTarget(c, 0.5)).toBeNull();
    expect(timeToTarget([], 1)).toBeNull();
  });
  it('ignores NaN losses (a NaN never reaches the target)', () => {
    expect(timeToTarget([{ x: 1, y: NaN }, { x: 2, y: 1 }], 1.5)).toBe(2);
  });
});

describe('meanStderr', () => {
  it('gives the mean and sd/sqrt(n) with the sample sd', () => {
    // 1, 2, 3, 4: mean 2.5, sample variance 5/3, s.e. = sqrt(5/3 / 4)
    const s = meanStderr([1, 2, 3, 4]);
    expect(s.mean).toBe(2.5);
    expect(s.stderr).toBeCloseTo(Math.sqrt(5 / 12), 12);
    expect(s.n).toBe(4);
  });
  it('has no spread for one value and nothing for none; skips non-finite values', () => {
    expect(meanStderr([2])).toEqual({ mean: 2, stderr: NaN, n: 1 });
    expect(meanStderr([]).n).toBe(0);
    expect(meanStderr([1, NaN, 3, Infinity]).mean).toBe(2);
  });
  it('isClear needs two seeds and |mean| > 2 s.e.', () => {
    expect(isClear({ mean: 1, stderr: 0.4, n: 3 })).toBe(true);
    expect(isClear({ mean: -1, stderr: 0.6, n: 3 })).toBe(false);
    expect(isClear({ mean: 1, stderr: NaN, n: 1 })).toBe(false);
  });
});

describe('summarize', () => {
  // Seed 1: baseline falls 4 -> 2 over 100 s (evals at 20, 40, 60, 80, 100 s: 4, 3.5, 3, 2.5, 2).
  // fast: falls 4 -> 1.8 over 80 s (evals at 16, 32, 48, 64, 80: 4, 3.45, 2.9, 2.35, 1.8):
  //   reaches 2 between 64 s (2.35) and 80 s (1.8): 64 + (0.35/0.55)·16.
  // slow: 4 -> 2.5 over 90 s: never reaches 2.
  // Seed 2: the same shapes, the baseline ending at 2.1 instead.
  const runs: RunCurves[] = [
    linearRun('none', 1, 4, 2, 100),
    linearRun('fast', 1, 4, 1.8, 80, { skipped_fraction: 0.25, expected_kept: 0.75 }),
    linearRun('slow', 1, 4, 2.5, 90),
    linearRun('none', 2, 4, 2.1, 100),
    linearRun('fast', 2, 4, 1.8, 80, { skipped_fraction: 0.23, expected_kept: 0.77 }),
    linearRun('slow', 2, 4, 2.5, 90),
  ];
  const s = summarize(runs, 'none');
  const by = (p: string) => s.find((x) => x.policy === p)!;

  it('keeps the variants in order, with their seeds', () => {
    expect(s.map((x) => x.policy)).toEqual(['none', 'fast', 'slow']);
    expect(by('fast').seeds).toEqual([1, 2]);
  });
  it('the baseline reaches its own final loss at its end: ratio 1', () => {
    expect(by('none').per_seed[0]!.time_to_baseline_loss_s).toBeCloseTo(100, 12);
    expect(by('none').time_ratio_vs_baseline.mean).toBeCloseTo(1, 12);
    expect(by('none').reached).toBe(2);
  });
  it('time to the same seed baseline loss is interpolated on the eval curve', () => {
    const t1 = 64 + (0.35 / 0.55) * 16;
    const t2 = 64 + (0.25 / 0.55) * 16; // target 2.1
    expect(by('fast').per_seed[0]!.time_to_baseline_loss_s).toBeCloseTo(t1, 10);
    expect(by('fast').per_seed[1]!.time_to_baseline_loss_s).toBeCloseTo(t2, 10);
    expect(by('fast').time_to_baseline_loss_s.mean).toBeCloseTo((t1 + t2) / 2, 10);
    expect(by('fast').time_ratio_vs_baseline.mean).toBeCloseTo((t1 + t2) / 200, 10);
  });
  it('never is null per seed and no value over seeds', () => {
    expect(by('slow').per_seed[0]!.time_to_baseline_loss_s).toBeNull();
    expect(by('slow').reached).toBe(0);
    expect(by('slow').time_to_baseline_loss_s.n).toBe(0);
    expect(fmtReached(by('slow').time_to_baseline_loss_s, 0, 2, 1)).toBe('never');
  });
  it('equal wall time is the shortest run of the seed, every curve interpolated there', () => {
    const none = by('none').per_seed[0]!;
    expect(none.equal_time_s).toBe(80);
    expect(none.val_loss_at_equal_time).toBeCloseTo(2.5, 12); // baseline eval at 80 s
    expect(by('fast').per_seed[0]!.val_loss_at_equal_time).toBeCloseTo(1.8, 12);
    // slow at 80 s: between 72 s (2.875) and 90 s (2.5)
    expect(by('slow').per_seed[0]!.val_loss_at_equal_time).toBeCloseTo(2.875 - (8 / 18) * 0.375, 12);
  });
  it('averages the run totals', () => {
    expect(by('fast').skipped_fraction.mean).toBeCloseTo(0.24, 12);
    expect(by('fast').skipped_fraction.stderr).toBeCloseTo(0.01, 12);
    expect(by('fast').final_val_loss.mean).toBeCloseTo(1.8, 12);
    expect(by('fast').wall_s.mean).toBe(80);
  });
  it('counts seeds that reach the target when only some do', () => {
    const mixed = summarize([linearRun('none', 1, 4, 2, 100), linearRun('x', 1, 4, 1.9, 100), linearRun('none', 2, 4, 2, 100), linearRun('x', 2, 4, 2.2, 100)], 'none');
    const x = mixed[1]!;
    expect(x.reached).toBe(1);
    expect(fmtReached(x.time_to_baseline_loss_s, x.reached, 2, 1)).toMatch(/\(1\/2 seeds; never in the rest\)$/);
  });
  it('prints a table with one row per variant', () => {
    const t = summaryTable(s, 'none');
    const lines = t.trim().split('\n');
    expect(lines).toHaveLength(2 + 3);
    expect(lines[2]).toMatch(/^\| none \| 100\.0 ± 0\.0 \|/);
    expect(lines[4]).toContain('never');
  });
});

describe('accuracy (--task vit)', () => {
  // Seed 1: none 0.5 -> 0.8 over 100 s (evals at 20..100 s: 0.5, 0.575, 0.65, 0.725, 0.8), test top-1 0.79;
  //         sbld 0.5 -> 0.78 over 80 s (evals at 16..80 s: 0.5, 0.57, 0.64, 0.71, 0.78), test top-1 0.77.
  // Seed 2: none 0.5 -> 0.82 over 100 s, test 0.81; sbld 0.5 -> 0.76 over 80 s, test 0.75.
  // Equal wall time is 80 s (sbld's end) in both seeds: none's eval at 80 s is its 4th, 0.5 + 3/4 of the rise.
  const runs = [vitRun('none', 1, 0.5, 0.8, 100, 0.79), vitRun('sbld', 1, 0.5, 0.78, 80, 0.77), vitRun('none', 2, 0.5, 0.82, 100, 0.81), vitRun('sbld', 2, 0.5, 0.76, 80, 0.75)];
  const s = summarize(runs, 'none');
  const by = (p: string) => s.find((x) => x.policy === p)!;

  it('takes validation top-1/top-5 after the last step (equal steps), per seed and over seeds', () => {
    expect(by('none').per_seed.map((p) => p.top1)).toEqual([0.8, 0.82]);
    expect(by('none').top1.mean).toBeCloseTo(0.81, 12);
    expect(by('none').top1.stderr).toBeCloseTo(0.01, 12); // sd of 0.80, 0.82 = 0.01414, / sqrt(2)
    expect(by('sbld').top5.mean).toBeCloseTo(0.87, 12); // 0.88, 0.86
    expect(by('sbld').top5.stderr).toBeCloseTo(0.01, 12);
  });
  it('interpolates them at the equal wall time of the seed', () => {
    expect(by('none').per_seed[0]!.top1_at_equal_time).toBeCloseTo(0.5 + 0.75 * 0.3, 12); // 0.725
    expect(by('none').per_seed[1]!.top1_at_equal_time).toBeCloseTo(0.5 + 0.75 * 0.32, 12); // 0.74
    expect(by('none').top1_at_equal_time.mean).toBeCloseTo(0.7325, 12);
    expect(by('sbld').top1_at_equal_time.mean).toBeCloseTo(0.77, 12); // its own ends: 0.78, 0.76
    expect(by('sbld').top5_at_equal_time.mean).toBeCloseTo(0.87, 12);
  });
  it('between evaluations, linearly', () => {
    // Seed 3: sbld ends at 70 s, so none (evals every 20 s) is read between 60 s (0.65) and 80 s (0.725).
    const r = summarize([vitRun('none', 3, 0.5, 0.8, 100, 0.8), vitRun('sbld', 3, 0.5, 0.8, 70, 0.8)], 'none');
    expect(r[0]!.per_seed[0]!.top1_at_equal_time).toBeCloseTo(0.65 + 0.5 * 0.075, 12);
  });
  it('averages the test figures', () => {
    expect(by('none').test_top1.mean).toBeCloseTo(0.8, 12);
    expect(by('none').test_top1.stderr).toBeCloseTo(0.01, 12);
    expect(by('sbld').test_top5.mean).toBeCloseTo(0.86, 12);
    expect(by('sbld').test_loss.mean).toBeCloseTo(1.76, 12);
  });
  it('gives null per seed and no value over seeds for GPT runs', () => {
    const g = summarize([linearRun('none', 1, 4, 2, 100), linearRun('pld', 1, 4, 2.1, 90)], 'none');
    expect(hasAccuracy(g)).toBe(false);
    expect(hasAccuracy(s)).toBe(true);
    const p = g[1]!.per_seed[0]!;
    expect([p.top1, p.top5, p.top1_at_equal_time, p.top5_at_equal_time, p.test_top1, p.test_top5, p.test_loss]).toEqual([null, null, null, null, null, null, null]);
    expect(g[1]!.top1.n).toBe(0);
    expect(fmtPct(g[1]!.test_top1, 2)).toBe('—');
  });
  it('does not interpolate across an evaluation without accuracy', () => {
    const r = vitRun('x', 1, 0.5, 0.8, 100, 0.8);
    delete r.evals[2]!.val_top1;
    const t = summarize([r, vitRun('y', 1, 0.5, 0.8, 90, 0.8)], 'x')[0]!.per_seed[0]!;
    expect(t.top1_at_equal_time).toBeNull();
    expect(t.top1).toBe(0.8); // the last evaluation still has it
    expect(t.top5_at_equal_time).toBeCloseTo(0.725 + 0.5 * 0.075 + 0.1, 12); // 90 s: between 80 and 100 s
  });
  it('prints the accuracy table in percent with ± s.e.', () => {
    const lines = accuracyTable(s).trim().split('\n');
    expect(lines).toHaveLength(2 + 2);
    expect(lines[0]).toBe('| policy | val top-1, equal steps | val top-5, equal steps | val top-1, equal wall time | val top-5, equal wall time | test top-1 | test top-5 | test loss |');
    expect(lines[2]).toBe('| none | 81.00 ± 1.00% | 91.00 ± 1.00% | 73.25 ± 0.75% | 83.25 ± 0.75% | 80.00 ± 1.00% | 90.00 ± 1.00% | 1.8000 ± 0.0100 |');
    expect(fmtPct({ mean: 0.5, stderr: NaN, n: 1 }, 1)).toBe('50.0%');
  });
  it('meanCurve follows the chosen metric', () => {
    const m = meanCurve([vitRun('a', 1, 0.5, 0.8, 100, 0.8), vitRun('a', 2, 0.5, 0.9, 100, 0.8)], 'val_top1');
    expect(m[4]!.mean).toBeCloseTo(0.85, 12);
    expect([m[4]!.lo, m[4]!.hi]).toEqual([0.8, 0.9]);
    expect(meanCurve([linearRun('g', 1, 4, 2, 100)], 'val_top1')[0]!.mean).toBeNaN(); // GPT: no accuracy
  });
});

describe('ablationDeltas', () => {
  // Per seed, ablation - sbld final losses: +0.10, +0.12, +0.11 -> mean 0.11, s.e. 0.00577: clearly worse.
  const runs: RunCurves[] = [];
  [0, 1, 2].forEach((k) => {
    runs.push(linearRun('none', k, 4, 2, 100));
    runs.push(linearRun('sbld', k, 4, 1.9, 80));
    runs.push(linearRun('sbld-no-lists', k, 4, 1.9 + [0.1, 0.12, 0.11][k]!, 80));
    runs.push(linearRun('sbld-shuffled', k, 4, 1.9 + [0.01, -0.01, 0.0][k]!, 80));
    runs.push(linearRun('sbld-ordered', k, 4, 1.9, 80)); // identical to sbld
  });
  const d = ablationDeltas(summarize(runs, 'none'), 'sbld', ['none']);
  it('pairs each seed with full SBLD', () => {
    expect(d.map((x) => x.policy)).toEqual(['sbld-no-lists', 'sbld-shuffled', 'sbld-ordered']);
    expect(d[0]!.d_final_loss.mean).toBeCloseTo(0.11, 12);
    expect(d[0]!.d_final_loss.stderr).toBeCloseTo(0.01 / Math.sqrt(3), 12);
    expect(d[0]!.d_time_s.mean).toBeGreaterThan(0); // higher curve: later to the target
    expect(d[0]!.verdict).toContain('clearly higher final loss');
    expect(d[1]!.verdict).toContain('within 2 s.e.');
    expect(d[2]!.verdict).toBe('same time to the baseline loss; identical final loss');
  });
  it('says when one seed gives no spread', () => {
    const one = ablationDeltas(summarize(runs.filter((r) => r.seed === 0), 'none'), 'sbld', ['none']);
    expect(one[0]!.verdict).toContain('one seed: no spread');
  });
});

describe('formatting', () => {
  it('fmtStat prints ± s.e. only with a spread, signs on request', () => {
    expect(fmtStat({ mean: 1.23456, stderr: 0.01, n: 3 }, 3)).toBe('1.235 ± 0.010');
    expect(fmtStat({ mean: 1.5, stderr: NaN, n: 1 }, 2)).toBe('1.50');
    expect(fmtStat({ mean: 0.5, stderr: NaN, n: 1 }, 1, true)).toBe('+0.5');
    expect(fmtStat({ mean: NaN, stderr: NaN, n: 0 }, 1)).toBe('—');
  });
  it('markdownTable escapes pipes and aligns columns', () => {
    expect(markdownTable(['a', 'b'], [['x|y', '1']])).toBe('| a | b |\n|:---|---:|\n| x\\|y | 1 |\n');
  });
  it('fmtDuration', () => {
    expect(fmtDuration(17.4)).toBe('17s');
    expect(fmtDuration(245)).toBe('4:05');
    expect(fmtDuration(3723)).toBe('1:02:03');
    expect(fmtDuration(NaN)).toBe('?');
  });
});

describe('meanCurve', () => {
  it('averages seeds per eval with the min-max band', () => {
    const m = meanCurve([linearRun('a', 1, 4, 2, 100), linearRun('a', 2, 4, 3, 120)]);
    expect(m).toHaveLength(5);
    expect(m[4]).toEqual({ steps: 100, train_s: 110, mean: 2.5, lo: 2, hi: 3 });
  });
});

describe('metrics.jsonl', () => {
  const text = [
    { step: 0, loss: 5, lr: 1e-3, ms: 1000, tokens_per_s: 1, layers: '11', expected_kept: 1 },
    { step: 1, loss: 4, lr: 1e-3, ms: 500, tokens_per_s: 1, layers: '10', expected_kept: 0.75 },
    { type: 'eval', step: 1, val_loss: 4.5, elapsed_s: 9 },
    { type: 'sensitivity', step: 2, values: [1, 2], sensitivities: [1, 2], block: [1], allow: [], ms: 300 },
    { step: 2, loss: 3, lr: 1e-3, ms: 1500, tokens_per_s: 1, layers: '01 11', expected_kept: 0.75 },
    { type: 'eval', step: 2, val_loss: 4, elapsed_s: 12 },
    { type: 'summary', steps: 3, wall_s: 12, skipped_fraction: 0.25, val_loss: 4 },
  ]
    .map((o) => JSON.stringify(o))
    .join('\n');
  it('splits the line types and builds the curve on training time (no eval time)', () => {
    const m = parseMetrics(text);
    expect([m.steps.length, m.evals.length, m.sensitivity.length, m.summary?.steps]).toEqual([3, 2, 1, 3]);
    const c = runCurves(m, 'sbld', 7, 100);
    expect(c.evals).toEqual([
      { steps: 2, train_s: 1.5, val_loss: 4.5 },
      { steps: 3, train_s: 3, val_loss: 4 },
    ]);
    expect(c.train_s).toBe(3);
    expect(c.measure_s).toBeCloseTo(0.3, 12);
    expect(c.tokens_per_s).toBeCloseTo(300 / 2.7, 10); // 3 steps x 100 tokens / (3 s - the 0.3 s measurement)
    expect(c.skipped_fraction).toBeCloseTo(2 / 8, 12); // '11', '10', '01 11'
    expect(c.expected_kept).toBeCloseTo(2.5 / 3, 12);
  });
  it('reads the ViT accuracies of eval lines and its test line', () => {
    const vit = [
      { step: 0, loss: 2.3, lr: 1e-3, ms: 800, tokens_per_s: 1, images_per_s: 1, layers: '11', expected_kept: 1 },
      { type: 'eval', step: 0, val_loss: 2.2, val_top1: 0.25, val_top5: 0.7, val_images: 512, elapsed_s: 2 },
      { step: 1, loss: 2.1, lr: 1e-3, ms: 700, tokens_per_s: 1, images_per_s: 1, layers: '10', expected_kept: 0.5 },
      { type: 'eval', step: 1, val_loss: 2.0, val_top1: 0.3, val_top5: 0.75, val_images: 5000, elapsed_s: 5 },
      { type: 'test', step: 1, test_loss: 2.05, test_top1: 0.29, test_top5: 0.74, test_images: 10000, ms: 20000 },
      { type: 'summary', task: 'vit', steps: 2, wall_s: 5, skipped_fraction: 0.25, val_loss: 2.0, top1: 0.3, top5: 0.75, test_top1: 0.29, test_top5: 0.74 },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n');
    const m = parseMetrics(vit);
    expect(m.test?.test_top1).toBe(0.29);
    const c = runCurves(m, 'pld', 1, 64 * 16);
    expect(c.evals).toEqual([
      { steps: 1, train_s: 0.8, val_loss: 2.2, val_top1: 0.25, val_top5: 0.7 },
      { steps: 2, train_s: 1.5, val_loss: 2.0, val_top1: 0.3, val_top5: 0.75 },
    ]);
    expect(c.test).toEqual({ loss: 2.05, top1: 0.29, top5: 0.74 });
    expect(runCurves(parseMetrics(text), 'none', 1, 100).test).toBeNull(); // GPT: no test line
  });
  it('names the line of bad JSON', () => {
    expect(() => parseMetrics('{}\n{oops', 'm.jsonl')).toThrow(/m\.jsonl:2: not JSON/);
  });
});

describe("SBLD's keep history", () => {
  it('replays keepProbabilities from the sensitivity lines', () => {
    const drop = resolveDropConfig({ policy: 'sbld', warmupFrac: 0.1 }, { nLayer: 8, totalSteps: 50 });
    const s1 = { type: 'sensitivity' as const, step: 5, values: [], sensitivities: [8, 1, 2, 3, 4, 5, 6, 7], block: [0, 7], allow: [1, 2], ms: 1 };
    const s2 = { ...s1, step: 30, sensitivities: [8, 7, 6, 5, 4, 3, 2, 1], block: [0, 1], allow: [6, 7] };
    const h = sbldKeepHistory(drop, [s2, s1]); // any order
    expect(h).toHaveLength(50);
    expect(h[4]).toEqual(new Array(8).fill(1)); // warm-up
    expect(h[10]).toEqual(keepProbabilities(drop, 10, s1).keep);
    expect(h[30]).toEqual(keepProbabilities(drop, 30, s2).keep);
    expect(h[30]![0]).toBe(1); // block list
    const steps = h.map((p, t) => ({ step: t, loss: 0, lr: 0, ms: 1, tokens_per_s: 0, layers: '', expected_kept: +(p.reduce((a, b) => a + b, 0) / 8).toFixed(4) }));
    expect(keepHistoryMismatch(h, steps)).toBeLessThan(1e-4);
  });
});

describe('the run plan', () => {
  const base = resolveConfig({}, { preset: 'tiny', steps: 50, out: '/tmp/x', drop: { policy: 'sbld', qMax: 0.4 } });
  it('parses --policies and refuses unknown names', () => {
    expect(parsePolicies('none, pld,none')).toEqual(['none', 'pld']);
    expect(() => parsePolicies('none,sbd')).toThrow(/unknown policy sbd/);
  });
  it('gives every run of a seed the same config except drop; seeds outermost, order rotated per seed', () => {
    const runs = planRuns(base, planVariants(['none', 'pld', 'sbld'], false, base), 2, '/tmp/cmp');
    expect(runs.map((r) => `${r.seed}:${r.variant.name}`)).toEqual(['1337:none', '1337:pld', '1337:sbld', '1338:pld', '1338:sbld', '1338:none']);
    const strip = (c: (typeof runs)[0]['cfg']) => ({ ...c, drop: undefined, out: undefined });
    expect(strip(runs[0]!.cfg)).toEqual(strip(runs[2]!.cfg));
    expect(runs[2]!.cfg.drop).toMatchObject({ policy: 'sbld', qMax: 0.4 }); // shared --drop-* flags pass through
    expect(runs[3]!.cfg.out).toBe('/tmp/cmp/runs/pld/seed-1338');
  });
  it('plans ViT runs through resolveVitConfig, same config per seed except drop', () => {
    const vit = resolveVitConfig({}, { preset: 'tiny', steps: 40, out: '/tmp/x', drop: { policy: 'none' } });
    const runs = planRuns(vit, planVariants(['none', 'sbld'], false, vit), 1, '/tmp/cmp');
    expect(runs.map((r) => [r.cfg.task, r.cfg.seqLen, r.cfg.drop.policy])).toEqual([
      ['vit', 16, 'none'],
      ['vit', 16, 'sbld'],
    ]);
    const strip = (c: (typeof runs)[0]['cfg']) => ({ ...c, drop: undefined, out: undefined });
    expect(strip(runs[0]!.cfg)).toEqual(strip(runs[1]!.cfg));
    expect(runs[1]!.cfg).toMatchObject({ patchSize: 7, sampleTokens: 0, lr: vit.lr });
  });
  it('ablations add sbld and one switch each', () => {
    const vs = planVariants(['none'], true, base);
    expect(vs.map((v) => v.name)).toEqual([
      'none',
      'sbld',
      'sbld-no-lists',
      'sbld-pld-curve',
      'pld-sbld-curve',
      'sbld-shuffled',
      'sbld-rescale-on',
      'sbld-ordered',
      'sbld-remeasure',
      'sbld-taylor',
    ]);
    expect(vs.find((v) => v.name === 'sbld-remeasure')!.drop.remeasureEvery).toBe(5);
    // every ablation config is valid
    expect(() => planRuns(base, vs, 1, '/tmp/cmp')).not.toThrow();
  });
  it("stamps a run with its resolved drop settings, so --reuse notices a changed default", () => {
    const [run] = planRuns(base, planVariants(['sbld'], false, base), 1, '/tmp/cmp');
    const stamp = JSON.parse(stampOf(run!.cfg));
    expect(stamp.config).toEqual(JSON.parse(JSON.stringify(run!.cfg)));
    // the config holds only the keys that were set; the stamp has every resolved one (defaults included)
    expect(run!.cfg.drop.remeasureEvery).toBeUndefined();
    const resolved = resolveDropConfig(run!.cfg.drop, { nLayer: run!.cfg.n_layer, totalSteps: run!.cfg.steps });
    expect(stamp.resolved_drop).toEqual(JSON.parse(JSON.stringify(resolved)));
    expect(stamp.resolved_drop).toMatchObject({ policy: 'sbld', qMax: 0.4, remeasureEvery: resolved.remeasureEvery });
  });
});

describe('the up-front estimate', () => {
  const deep = (drop: object, steps = 100) => resolveConfig({}, { preset: 'deep', steps, evalEvery: steps, out: '/tmp/x', drop });
  it('is DEEP_COSTS for a full-depth deep run: start + steps + one evaluation', () => {
    expect(estimateRunSeconds(deep({ policy: 'none' }))).toBeCloseTo(DEEP_COSTS.start_s + 100 * DEEP_COSTS.fullStep_s + DEEP_COSTS.eval_s, 9);
  });
  it('scales the steps by the layers run and adds SBLD measurements', () => {
    const none = estimateRunSeconds(deep({ policy: 'none' }));
    expect(estimateRunSeconds(deep({ policy: 'layerdrop', rate: 0.25 }))).toBeCloseTo(none - 25 * DEEP_COSTS.fullStep_s, 9);
    const pld = estimateRunSeconds(deep({ policy: 'pld' }));
    const sbld = estimateRunSeconds(deep({ policy: 'sbld' })); // equal expected compute + one measurement
    expect(sbld - pld).toBeCloseTo(DEEP_COSTS.skipLoss_s, 6);
    expect(estimateRunSeconds(deep({ policy: 'sbld', sensitivity: 'taylor' }))).toBeCloseTo(pld, 6);
  });
  it('estimates the default comparison (one seed, four policies) at 20 to 32 minutes', () => {
    const base = resolveConfig({}, { preset: 'deep', steps: DEFAULT_STEPS, evalEvery: Math.round(DEFAULT_STEPS / EVALS_PER_RUN), out: '/tmp/x' });
    const total = planRuns(base, planVariants(['none', 'layerdrop', 'pld', 'sbld'], false, base), 1, '/tmp/x').reduce((a, r) => a + estimateRunSeconds(r.cfg), 0);
    expect(total / 60).toBeGreaterThan(20);
    expect(total / 60).toBeLessThan(32);
  });
});

describe('the up-front estimate, --task vit', () => {
  const deep = (drop: object, steps = 100, evalEvery = steps) => resolveVitConfig({}, { preset: 'deep', steps, evalEvery, out: '/tmp/x', drop });
  // Deep: 12 layers, B64; 5000 validation images (1/12 of 60000), 10000 test images.
  const perImage = VIT_DEEP_COSTS.evalBatch_s / 64;
  it('is start + steps + the last evaluation (whole validation split) + the test set for one evaluation', () => {
    expect(estimateRunSeconds(deep({ policy: 'none' }))).toBeCloseTo(VIT_DEEP_COSTS.start_s + 100 * VIT_DEEP_COSTS.fullStep_s + perImage * 15000, 9);
  });
  it('adds periodic evaluations of evalBatches x B images and SBLD measurements of (L+1) x 4 batches', () => {
    const none = estimateRunSeconds(deep({ policy: 'none' }));
    expect(estimateRunSeconds(deep({ policy: 'none' }, 100, 25))).toBeCloseTo(none + 3 * perImage * 512, 9);
    expect(estimateRunSeconds(deep({ policy: 'sbld' })) - estimateRunSeconds(deep({ policy: 'pld' }))).toBeCloseTo(13 * 4 * VIT_DEEP_COSTS.evalBatch_s, 6);
  });
  it('puts the default ViT comparison near 30 minutes', () => {
    const base = deep({}, VIT_DEFAULT_STEPS, Math.round(VIT_DEFAULT_STEPS / EVALS_PER_RUN));
    const total = planRuns(base, planVariants(['none', 'layerdrop', 'pld', 'sbld'], false, base), 1, '/tmp/x').reduce((a, r) => a + estimateRunSeconds(r.cfg), 0);
    expect(total / 60).toBeGreaterThan(25);
    expect(total / 60).toBeLessThan(36);
  });
});

describe('charts', () => {
  it('render to SVG headless', async () => {
    const rows = meanCurve([linearRun('a', 1, 4, 2, 100)]).map((p) => ({ ...p, variant: 'a' }));
    const svg = await renderSvg(lossCurveSpec(rows, 'train_s', ['a'], 'title', 'sub', 4));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('validation loss');
  });
  it('render accuracy curves with percent labels', async () => {
    const rows = meanCurve([vitRun('a', 1, 0.5, 0.8, 100, 0.8)], 'val_top1').map((p) => ({ ...p, variant: 'a' }));
    const svg = await renderSvg(accuracyCurveSpec(rows, 'steps', ['a'], 'title', ['sub', 'line 2'], 0.5, 'validation top-1 accuracy'));
    expect(svg).toContain('validation top-1 accuracy');
    expect(svg).toMatch(/>80\.0%</);
  });
});
