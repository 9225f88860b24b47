/**
 * The numbers of `npm run bench -- frontier`, as pure functions of the finished runs (tested on synthetic runs
 * in test/frontier.test.ts).
 *
 * The baseline's frontier of a seed: its runs at the baseline budgets as points (wall time, final validation
 * loss), ordered by time, joined by straight lines in log time. A policy run's **compute-equivalent speed-up**
 * is t* ÷ t, where t is its wall time and t* the time at which the same seed's baseline frontier first reaches
 * the run's final loss; the same with FLOPs executed instead of seconds. Two cases give no number:
 *   - 'never': the run's loss is below every point of the frontier (the baseline does not reach it within its
 *     largest budget; the speed-up is larger than the largest budget's cost over the run's, not measured);
 *   - 'above': the run's loss is above every point of the frontier (worse than the smallest budget's baseline;
 *     t* is below the smallest budget and is not extrapolated).
 * Over seeds: mean ± standard error of the finite per-seed values (compare's meanStderr), with the count of
 * seeds that gave one.
 */
import { meanStderr, timeToTarget, type Stat } from '../compare/analysis.js';

/** One finished run of the frontier. */
export interface FrontierRun {
  policy: string;
  budget: number;
  seed: number;
  steps: number;
  /** Training wall time (steps and SBLD's measurements; no evaluation), s. */
  wall_s: number;
  /** FLOPs executed by the training steps (counted per dispatch; measurements included). */
  flops: number;
  final_val_loss: number;
  /** --task vit: validation top-1 on the whole split at the end, in [0, 1]; null for GPT. */
  final_top1: number | null;
  skipped_fraction: number;
  /** SBLD: each measurement's step, lists and what the no-signal guard did (from its sensitivity lines). */
  sbld_measurements?: { step: number; block: number[]; allow: number[]; action: string }[];
}

export type SpeedupStatus = 'ok' | 'never' | 'above';

export interface Speedup {
  value: number | null;
  status: SpeedupStatus;
}

/**
 * t* ÷ x for a run at cost `x` (s or FLOPs) with final loss `loss`, against the frontier points (cost, loss):
 * the first crossing of the loss along increasing cost, linear in log cost. Points need not be monotone.
 */
export function frontierSpeedup(frontier: readonly { x: number; loss: number }[], x: number, loss: number): Speedup {
  const pts = frontier.filter((p) => p.x > 0 && Number.isFinite(p.loss)).sort((a, b) => a.x - b.x);
  if (pts.length === 0 || !(x > 0) || !Number.isFinite(loss)) return { value: null, status: 'never' };
  if (pts.every((p) => p.loss > loss)) return { value: null, status: 'never' };
  if (pts.every((p) => p.loss < loss) || pts[0]!.loss <= loss) {
    // Reached at (or before) the smallest budget: not measured below it.
    if (pts[0]!.loss === loss) return { value: pts[0]!.x / x, status: 'ok' };
    return { value: null, status: 'above' };
  }
  // A frontier point at exactly this loss (e.g. the baseline's own run): its cost, without log/exp rounding.
  const hit = pts.find((p) => p.loss <= loss);
  if (hit && hit.loss === loss) return { value: hit.x / x, status: 'ok' };
  const logT = timeToTarget(pts.map((p) => ({ x: Math.log(p.x), y: p.loss })), loss);
  return logT === null ? { value: null, status: 'never' } : { value: Math.exp(logT) / x, status: 'ok' };
}

export interface SeedRow extends FrontierRun {
  speedup_time: number | null;
  speedup_time_status: SpeedupStatus;
  speedup_flops: number | null;
  speedup_flops_status: SpeedupStatus;
}

/** One row per (policy, budget): means over seeds and the per-seed values. */
export interface FrontierRow {
  policy: string;
  budget: number;
  /** Steps of the first seed's run (every seed trains the same count). */
  steps: number;
  seeds: number[];
  wall_s: number;
  wall_s_se: number;
  flops: number;
  flops_se: number;
  final_val_loss: number;
  final_val_loss_se: number;
  /** --task vit; null for GPT. */
  final_top1: number | null;
  final_top1_se: number | null;
  /** Mean over the seeds with a finite speed-up; null when none had one. */
  speedup_time: number | null;
  speedup_time_se: number | null;
  /** How many seeds gave a number, and how many were 'never' / 'above'. */
  speedup_time_counts: Record<SpeedupStatus, number>;
  speedup_flops: number | null;
  speedup_flops_se: number | null;
  speedup_flops_counts: Record<SpeedupStatus, number>;
  skipped_fraction: number;
  per_seed: SeedRow[];
}

const num = (s: Stat): number | null => (Number.isFinite(s.mean) ? s.mean : null);
const se = (s: Stat): number | null => (Number.isFinite(s.stderr) ? s.stderr : null);

function counts(rows: readonly SeedRow[], key: 'speedup_time_status' | 'speedup_flops_status'): Record<SpeedupStatus, number> {
  const c: Record<SpeedupStatus, number> = { ok: 0, never: 0, above: 0 };
  for (const r of rows) c[r[key]]++;
  return c;
}

/**
 * Rows for every (policy, budget) in the order first seen; each run's speed-ups against the frontier of
 * `baseline` runs of its own seed (the baseline's own runs included: they lie on it, speed-up 1).
 */
export function frontierRows(runs: readonly FrontierRun[], baseline = 'none'): FrontierRow[] {
  const seedRows: SeedRow[] = runs.map((r) => {
    const base = runs.filter((b) => b.policy === baseline && b.seed === r.seed);
    const t = frontierSpeedup(base.map((b) => ({ x: b.wall_s, loss: b.final_val_loss })), r.wall_s, r.final_val_loss);
    const f = frontierSpeedup(base.map((b) => ({ x: b.flops, loss: b.final_val_loss })), r.flops, r.final_val_loss);
    return { ...r, speedup_time: t.value, speedup_time_status: t.status, speedup_flops: f.value, speedup_flops_status: f.status };
  });
  const keys: string[] = [];
  for (const r of seedRows) if (!keys.includes(`${r.policy}@${r.budget}`)) keys.push(`${r.policy}@${r.budget}`);
  return keys.map((k) => {
    const rs = seedRows.filter((r) => `${r.policy}@${r.budget}` === k);
    const st = (f: (r: SeedRow) => number | null) => meanStderr(rs.map((r) => f(r) ?? NaN));
    const wall = st((r) => r.wall_s);
    const flops = st((r) => r.flops);
    const loss = st((r) => r.final_val_loss);
    const top1 = st((r) => r.final_top1);
    const sut = st((r) => r.speedup_time);
    const suf = st((r) => r.speedup_flops);
    return {
      policy: rs[0]!.policy,
      budget: rs[0]!.budget,
      steps: rs[0]!.steps,
      seeds: rs.map((r) => r.seed),
      wall_s: wall.mean,
      wall_s_se: wall.stderr,
      flops: flops.mean,
      flops_se: flops.stderr,
      final_val_loss: loss.mean,
      final_val_loss_se: loss.stderr,
      final_top1: num(top1),
      final_top1_se: se(top1),
      speedup_time: num(sut),
      speedup_time_se: se(sut),
      speedup_time_counts: counts(rs, 'speedup_time_status'),
      speedup_flops: num(suf),
      speedup_flops_se: se(suf),
      speedup_flops_counts: counts(rs, 'speedup_flops_status'),
      skipped_fraction: meanStderr(rs.map((r) => r.skipped_fraction)).mean,
      per_seed: rs,
    };
  });
}

/**
 * `a` minus `b` speed-up (time), paired per seed over the seeds where both have a number: e.g. SBLD - PLD at
 * the same budget. Null when no seed has both.
 */
export function pairedSpeedupDelta(a: FrontierRow, b: FrontierRow): (Stat & { seeds: number }) | null {
  const d: number[] = [];
  for (const r of a.per_seed) {
    const o = b.per_seed.find((x) => x.seed === r.seed);
    if (o && r.speedup_time !== null && o.speedup_time !== null) d.push(r.speedup_time - o.speedup_time);
  }
  if (d.length === 0) return null;
  return { ...meanStderr(d), seeds: d.length };
}

/** A speed-up cell: `1.23 ± 0.04`, with the seeds that gave none noted (`never` when none did). */
export function fmtSpeedup(v: number | null, s: number | null, c: Record<SpeedupStatus, number>): string {
  const total = c.ok + c.never + c.above;
  const why = [c.never ? `${c.never} never` : '', c.above ? `${c.above} above` : ''].filter(Boolean).join(', ');
  if (v === null) return c.never === total ? 'never' : c.above === total ? 'above frontier' : why;
  const body = `${v.toFixed(3)}x` + (s !== null ? ` ± ${s.toFixed(3)}` : '');
  return why ? `${body} (${c.ok}/${total}; ${why})` : body;
}
