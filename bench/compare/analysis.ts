/**
 * The numbers of `npm run bench -- compare`, as pure functions of the runs' curves (no GPU, no files), so
 * `test/compare.test.ts` checks them on synthetic curves: linear interpolation on an eval curve, the time at
 * which a curve first reaches a target loss, mean and standard error over seeds, the per-policy summary
 * (time to the baseline's final loss, loss at equal steps and equal wall time, layer-steps skipped; for the ViT
 * also validation top-1/top-5 accuracy at equal steps and equal wall time and the test figures), the paired
 * ablation-vs-SBLD differences, and markdown tables.
 *
 * Conventions. A curve is a list of points with increasing x (train seconds or steps) and the validation loss
 * as y. Between evaluations the loss is interpolated linearly; nothing is extrapolated before the first or after
 * the last evaluation. Everything is computed per seed first, with the baseline of the *same* seed (same
 * initialisation and data order), and only then averaged: mean ± standard error over seeds, s.e. = sample
 * standard deviation / sqrt(n) (NaN for one seed: no spread can be given).
 */

/** One evaluation of one run. */
export interface EvalPoint {
  /** Optimizer steps done when evaluated (1-based: the eval after step index 99 has steps 100). */
  steps: number;
  /** Training wall time up to this eval, seconds: steps and sensitivity measurements, no evaluation time. */
  train_s: number;
  val_loss: number;
  /** --task vit: validation top-1 / top-5 accuracy in [0, 1]; absent for GPT. */
  val_top1?: number;
  val_top5?: number;
}

/** --task vit: the test set's figures, evaluated once after the last step. */
export interface TestFigures {
  loss: number;
  /** Accuracies in [0, 1]. */
  top1: number;
  top5: number;
}

/** What the analysis needs of one finished run. */
export interface RunCurves {
  /** Variant name: a policy (`none`, `pld`, ...) or an ablation (`sbld-no-lists`, ...). */
  variant: string;
  seed: number;
  /** Evaluations in step order; the last one is at the final step. */
  evals: EvalPoint[];
  /** Training wall time of the whole run, seconds (= the last eval's train_s). */
  train_s: number;
  /** SBLD's sensitivity measurements, s (inside train_s). */
  measure_s: number;
  /** Step throughput: B·T·gradAccum·steps / (train_s - measure_s), the measurements left out. */
  tokens_per_s: number;
  /** Mean over steps of the policy's expected fraction of layers run (metrics' expected_kept). */
  expected_kept: number;
  /** Fraction of layer-steps (layer x micro-batch) actually skipped. */
  skipped_fraction: number;
  /** --task vit: the test set after the last step; absent or null for GPT (or a ViT run without its test line). */
  test?: TestFigures | null;
}

/** x -> y points of a curve, x increasing. */
export interface Point {
  x: number;
  y: number;
}

/**
 * y at `x` by linear interpolation between the two points around it; the end values at exactly x0 or xn;
 * NaN outside [x0, xn] or for an empty curve. O(n).
 */
export function interpolate(curve: readonly Point[], x: number): number {
  if (curve.length === 0 || !(x >= curve[0]!.x) || !(x <= curve[curve.length - 1]!.x)) return NaN;
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1]!;
    const b = curve[i]!;
    if (x <= b.x) return b.x === a.x ? b.y : a.y + ((x - a.x) / (b.x - a.x)) * (b.y - a.y);
  }
  return curve[0]!.y; // one point, x equal to it
}

/**
 * The first x at which the curve reaches y <= target: linear interpolation inside the segment where it first
 * crosses; the point's own x if the first point (or the one after a non-finite loss) is already there (nothing
 * earlier is known, so this is an upper bound); null if it never does. O(n).
 */
export function timeToTarget(curve: readonly Point[], target: number): number | null {
  for (let i = 0; i < curve.length; i++) {
    const b = curve[i]!;
    if (!(b.y <= target)) continue;
    const a = curve[i - 1];
    if (!a || !Number.isFinite(a.y)) return b.x;
    return a.x + ((a.y - target) / (a.y - b.y)) * (b.x - a.x);
  }
  return null;
}

/** Mean, standard error of the mean and count of the finite values among `xs`. */
export interface Stat {
  mean: number;
  /** Sample standard deviation / sqrt(n); NaN when n < 2. */
  stderr: number;
  n: number;
}

export function meanStderr(xs: readonly number[]): Stat {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { mean: NaN, stderr: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, stderr: NaN, n };
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, stderr: Math.sqrt(variance / n), n };
}

/** One run's figures, against the baseline of the same seed. */
export interface SeedResult {
  seed: number;
  /** Training wall time, s. */
  wall_s: number;
  /** Train seconds to first reach the baseline's final validation loss; null: never. */
  time_to_baseline_loss_s: number | null;
  /** time_to_baseline_loss_s / the baseline's own time to it (same seed); null: never. */
  time_ratio_vs_baseline: number | null;
  /** Validation loss after the last step (equal steps for every policy). */
  final_val_loss: number;
  /** Validation loss interpolated at the seed's equal wall time (`equal_time_s`). */
  val_loss_at_equal_time: number;
  equal_time_s: number;
  skipped_fraction: number;
  expected_kept: number;
  tokens_per_s: number;
  /**
   * --task vit, else null: validation top-1 / top-5 accuracy after the last step (equal steps), the same
   * interpolated at `equal_time_s` (null when an eval lacks it), and the test set's top-1, top-5 and loss.
   */
  top1: number | null;
  top5: number | null;
  top1_at_equal_time: number | null;
  top5_at_equal_time: number | null;
  test_top1: number | null;
  test_top5: number | null;
  test_loss: number | null;
}

/** One variant's figures over seeds. */
export interface VariantSummary {
  policy: string;
  seeds: number[];
  per_seed: SeedResult[];
  wall_s: Stat;
  /** Over the seeds that reached the target; `reached` of `seeds.length` did. */
  time_to_baseline_loss_s: Stat;
  time_ratio_vs_baseline: Stat;
  reached: number;
  final_val_loss: Stat;
  val_loss_at_equal_time: Stat;
  skipped_fraction: Stat;
  expected_kept: Stat;
  tokens_per_s: Stat;
  /** --task vit: over seeds, as in SeedResult (n = 0 for GPT). */
  top1: Stat;
  top5: Stat;
  top1_at_equal_time: Stat;
  top5_at_equal_time: Stat;
  test_top1: Stat;
  test_top5: Stat;
  test_loss: Stat;
}

/** What an eval curve plots: the validation loss or (ViT) an accuracy. */
export type EvalMetric = 'val_loss' | 'val_top1' | 'val_top5';

const curveOf = (r: RunCurves, x: 'train_s' | 'steps', y: EvalMetric = 'val_loss'): Point[] => r.evals.map((e) => ({ x: e[x], y: e[y] ?? NaN }));
const lastLoss = (r: RunCurves): number => r.evals[r.evals.length - 1]?.val_loss ?? NaN;

/** The last eval's accuracy, null when the run has none (GPT). */
function lastAccuracy(r: RunCurves, y: 'val_top1' | 'val_top5'): number | null {
  return r.evals[r.evals.length - 1]?.[y] ?? null;
}

/**
 * An accuracy interpolated on the train-seconds curve at `t`; null for GPT (no eval has it) or when some eval
 * lacks it (no interpolation across a hole) or `t` is outside the curve.
 */
function accuracyAt(r: RunCurves, y: 'val_top1' | 'val_top5', t: number): number | null {
  if (r.evals.length === 0 || r.evals.some((e) => e[y] === undefined)) return null;
  const v = interpolate(curveOf(r, 'train_s', y), t);
  return Number.isFinite(v) ? v : null;
}

/**
 * Per-variant summary, variants in the order first seen in `runs`. Per seed: the target is the baseline's final
 * validation loss; the equal wall time is the shortest run's training time among that seed's runs (so every
 * curve reaches it without extrapolation; it is the baseline's own time when the baseline is the shortest).
 * A seed without a baseline run gives NaN/null for the baseline-relative figures.
 */
export function summarize(runs: readonly RunCurves[], baseline: string): VariantSummary[] {
  const bySeed = new Map<number, RunCurves[]>();
  for (const r of runs) bySeed.set(r.seed, [...(bySeed.get(r.seed) ?? []), r]);
  const perSeed = new Map<string, SeedResult[]>();
  for (const [seed, rs] of bySeed) {
    const base = rs.find((r) => r.variant === baseline);
    const target = base ? lastLoss(base) : NaN;
    const baseTime = base ? timeToTarget(curveOf(base, 'train_s'), target) : null;
    const equalTime = Math.min(...rs.map((r) => r.train_s));
    for (const r of rs) {
      const ttt = Number.isFinite(target) ? timeToTarget(curveOf(r, 'train_s'), target) : null;
      const res: SeedResult = {
        seed,
        wall_s: r.train_s,
        time_to_baseline_loss_s: ttt,
        time_ratio_vs_baseline: ttt !== null && baseTime !== null && baseTime > 0 ? ttt / baseTime : null,
        final_val_loss: lastLoss(r),
        val_loss_at_equal_time: interpolate(curveOf(r, 'train_s'), equalTime),
        equal_time_s: equalTime,
        skipped_fraction: r.skipped_fraction,
        expected_kept: r.expected_kept,
        tokens_per_s: r.tokens_per_s,
        top1: lastAccuracy(r, 'val_top1'),
        top5: lastAccuracy(r, 'val_top5'),
        top1_at_equal_time: accuracyAt(r, 'val_top1', equalTime),
        top5_at_equal_time: accuracyAt(r, 'val_top5', equalTime),
        test_top1: r.test?.top1 ?? null,
        test_top5: r.test?.top5 ?? null,
        test_loss: r.test?.loss ?? null,
      };
      perSeed.set(r.variant, [...(perSeed.get(r.variant) ?? []), res]);
    }
  }
  const order = [...new Set(runs.map((r) => r.variant))];
  return order.map((policy) => {
    const rs = perSeed.get(policy)!;
    const stat = (f: (s: SeedResult) => number | null) => meanStderr(rs.map((s) => f(s) ?? NaN));
    return {
      policy,
      seeds: rs.map((s) => s.seed),
      per_seed: rs,
      wall_s: stat((s) => s.wall_s),
      time_to_baseline_loss_s: stat((s) => s.time_to_baseline_loss_s),
      time_ratio_vs_baseline: stat((s) => s.time_ratio_vs_baseline),
      reached: rs.filter((s) => s.time_to_baseline_loss_s !== null).length,
      final_val_loss: stat((s) => s.final_val_loss),
      val_loss_at_equal_time: stat((s) => s.val_loss_at_equal_time),
      skipped_fraction: stat((s) => s.skipped_fraction),
      expected_kept: stat((s) => s.expected_kept),
      tokens_per_s: stat((s) => s.tokens_per_s),
      top1: stat((s) => s.top1),
      top5: stat((s) => s.top5),
      top1_at_equal_time: stat((s) => s.top1_at_equal_time),
      top5_at_equal_time: stat((s) => s.top5_at_equal_time),
      test_top1: stat((s) => s.test_top1),
      test_top5: stat((s) => s.test_top5),
      test_loss: stat((s) => s.test_loss),
    };
  });
}

/** True when some variant has validation accuracies (a ViT comparison); the report then adds them. */
export function hasAccuracy(summaries: readonly VariantSummary[]): boolean {
  return summaries.some((s) => s.top1.n > 0);
}

/** An ablation against full SBLD: per-seed paired differences (ablation - sbld), averaged. */
export interface AblationDelta {
  policy: string;
  /** Δ time to the baseline's final loss, s, over seeds where both reached it. */
  d_time_s: Stat;
  /** Seeds where only one of the two reached it: 'ablation' or 'sbld' reached, the other never did. */
  only_reached: { ablation: number; sbld: number };
  /** Δ final validation loss at equal steps. */
  d_final_loss: Stat;
  /** Δ validation loss at equal wall time. */
  d_equal_time_loss: Stat;
  /** Plain-words reading of the deltas (see `judge`). */
  verdict: string;
}

/** A difference is called real when |mean| > 2 s.e. (about 95% for many seeds; rough for 2-3). */
export function isClear(d: Stat): boolean {
  return d.n >= 2 && Number.isFinite(d.stderr) && Math.abs(d.mean) > 2 * d.stderr;
}

function judge(d: Omit<AblationDelta, 'verdict'>, seeds: number): string {
  const parts: string[] = [];
  const word = (s: Stat, worse: string, better: string, same: string) => {
    if (s.n === 0) return null;
    if (s.mean === 0 && !(s.stderr > 0)) return same;
    const dir = s.mean > 0 ? worse : better;
    if (s.n < 2) return `${dir} (${seeds > 1 ? 'one paired seed' : 'one seed'}: no spread)`;
    return isClear(s) ? `clearly ${dir}` : `${dir}, within 2 s.e.`;
  };
  const t = word(d.d_time_s, 'slower to the baseline loss', 'faster to the baseline loss', 'same time to the baseline loss');
  if (t) parts.push(t);
  if (d.only_reached.sbld > 0) parts.push(`never reached it in ${d.only_reached.sbld}/${seeds} seed(s) where SBLD did`);
  if (d.only_reached.ablation > 0) parts.push(`reached it in ${d.only_reached.ablation}/${seeds} seed(s) where SBLD never did`);
  const l = word(d.d_final_loss, 'higher final loss', 'lower final loss', 'identical final loss');
  if (l) parts.push(l);
  return parts.join('; ');
}

/** Paired ablation - sbld differences per seed for every variant except `sbld` and those in `exclude`. */
export function ablationDeltas(summaries: readonly VariantSummary[], sbld = 'sbld', exclude: readonly string[] = []): AblationDelta[] {
  const ref = summaries.find((s) => s.policy === sbld);
  if (!ref) return [];
  const refBySeed = new Map(ref.per_seed.map((s) => [s.seed, s]));
  return summaries
    .filter((s) => s.policy !== sbld && !exclude.includes(s.policy))
    .map((s) => {
      const dt: number[] = [];
      const dl: number[] = [];
      const de: number[] = [];
      const only = { ablation: 0, sbld: 0 };
      for (const a of s.per_seed) {
        const r = refBySeed.get(a.seed);
        if (!r) continue;
        const ta = a.time_to_baseline_loss_s;
        const tr = r.time_to_baseline_loss_s;
        if (ta !== null && tr !== null) dt.push(ta - tr);
        else if (ta !== null) only.ablation++;
        else if (tr !== null) only.sbld++;
        dl.push(a.final_val_loss - r.final_val_loss);
        de.push(a.val_loss_at_equal_time - r.val_loss_at_equal_time);
      }
      const d = { policy: s.policy, d_time_s: meanStderr(dt), only_reached: only, d_final_loss: meanStderr(dl), d_equal_time_loss: meanStderr(de) };
      return { ...d, verdict: judge(d, s.per_seed.length) };
    });
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

/** "2.345 ± 0.012" (s.e.), or "2.345" for one seed, "—" when there is no value. */
export function fmtStat(s: Stat, digits: number, signed = false): string {
  if (s.n === 0 || !Number.isFinite(s.mean)) return '—';
  const m = (signed && s.mean > 0 ? '+' : '') + s.mean.toFixed(digits);
  return Number.isFinite(s.stderr) ? `${m} ± ${s.stderr.toFixed(digits)}` : m;
}

/** A fraction as a percentage: "83.25 ± 0.40%" (the s.e. scaled alike), "—" when there is no value. */
export function fmtPct(s: Stat, digits: number): string {
  const v = fmtStat({ ...s, mean: 100 * s.mean, stderr: 100 * s.stderr }, digits);
  return v === '—' ? v : v + '%';
}

/** Time to target over seeds: 'never', the mean ± s.e., and '(k/K seeds)' when only some seeds reached it. */
export function fmtReached(s: Stat, reached: number, seeds: number, digits: number): string {
  if (reached === 0) return 'never';
  const v = fmtStat(s, digits);
  return reached < seeds ? `${v} (${reached}/${seeds} seeds; never in the rest)` : v;
}

/** A GitHub markdown table; `align` per column: 'l' or 'r' (default: first column left, the rest right). */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const a = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(esc).join(' | ')} |`;
  const rule = `|${a.map((x) => (x === 'r' ? '---:' : ':---')).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n') + '\n';
}

/** The main table of report.md: one row per variant. */
export function summaryTable(summaries: readonly VariantSummary[], baseline: string): string {
  const headers = [
    'policy',
    'wall s',
    `time to ${baseline}'s final loss, s`,
    'ratio',
    'val loss, equal steps',
    'val loss, equal wall time',
    'layer-steps skipped',
    'tokens/s (steps)',
  ];
  const rows = summaries.map((s) => {
    const K = s.seeds.length;
    return [
      s.policy,
      fmtStat(s.wall_s, 1),
      fmtReached(s.time_to_baseline_loss_s, s.reached, K, 1),
      fmtReached(s.time_ratio_vs_baseline, s.reached, K, 3),
      fmtStat(s.final_val_loss, 4),
      fmtStat(s.val_loss_at_equal_time, 4),
      fmtPct(s.skipped_fraction, 1),
      fmtStat(s.tokens_per_s, 0),
    ];
  });
  return markdownTable(headers, rows);
}

/**
 * The ViT's accuracy table, beside the main one: per variant the validation top-1 and top-5 after the last step
 * (equal steps) and interpolated at the seed's equal wall time, then the test set's top-1, top-5 and loss.
 * A separate table rather than more columns in the main one, which already has eight.
 */
export function accuracyTable(summaries: readonly VariantSummary[]): string {
  const headers = [
    'policy',
    'val top-1, equal steps',
    'val top-5, equal steps',
    'val top-1, equal wall time',
    'val top-5, equal wall time',
    'test top-1',
    'test top-5',
    'test loss',
  ];
  const rows = summaries.map((s) => [
    s.policy,
    fmtPct(s.top1, 2),
    fmtPct(s.top5, 2),
    fmtPct(s.top1_at_equal_time, 2),
    fmtPct(s.top5_at_equal_time, 2),
    fmtPct(s.test_top1, 2),
    fmtPct(s.test_top5, 2),
    fmtStat(s.test_loss, 4),
  ]);
  return markdownTable(headers, rows);
}

/** The ablation table: deltas against full SBLD (positive = worse), with the verdict. */
export function ablationTable(deltas: readonly AblationDelta[]): string {
  const headers = ['ablation', 'Δ time to baseline loss, s', 'Δ val loss, equal steps', 'Δ val loss, equal wall time', 'reading'];
  const rows = deltas.map((d) => [d.policy, fmtStat(d.d_time_s, 1, true), fmtStat(d.d_final_loss, 4, true), fmtStat(d.d_equal_time_loss, 4, true), d.verdict]);
  return markdownTable(headers, rows, ['l', 'r', 'r', 'r', 'l']);
}

/** Mean curve over seeds at each eval index (seeds evaluate at the same steps), with min and max of y. */
export interface MeanCurvePoint {
  steps: number;
  /** Mean over seeds of train_s at this eval. */
  train_s: number;
  mean: number;
  lo: number;
  hi: number;
}

/** Mean over seeds of `y` (validation loss by default, or a ViT accuracy: NaN where an eval lacks it). */
export function meanCurve(runs: readonly RunCurves[], y: EvalMetric = 'val_loss'): MeanCurvePoint[] {
  const n = Math.min(...runs.map((r) => r.evals.length));
  const out: MeanCurvePoint[] = [];
  for (let i = 0; i < n; i++) {
    const pts = runs.map((r) => r.evals[i]!);
    const ys = pts.map((p) => p[y] ?? NaN);
    out.push({
      steps: pts[0]!.steps,
      train_s: pts.reduce((a, p) => a + p.train_s, 0) / pts.length,
      mean: ys.reduce((a, b) => a + b, 0) / ys.length,
      lo: Math.min(...ys),
      hi: Math.max(...ys),
    });
  }
  return out;
}
