/**
 * Helpers shared by the benchmarks (`bench/main.ts`): statistics, the timing loop, fixed-width tables and the
 * machine-load line every report starts with. Nothing here is a test: benchmarks measure and print, they never
 * assert.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { Engine } from '../src/runtime/engine.js';
import type { LayerPlan } from '../src/model/plan.js';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function min(xs: readonly number[]): number {
  return xs.reduce((a, b) => Math.min(a, b), Infinity);
}

/** (max - min) / median: how far apart the trials were (0.05 = 5%). */
export function spread(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  return (Math.max(...xs) - min(xs)) / median(xs);
}

export interface TimeOptions {
  /** Timed trials; the report is their median. */
  trials: number;
  /** Aim for trials of about this long: R = ceil(targetMs / ms of one call), clamped to [1, maxReps]. */
  targetMs: number;
  maxReps: number;
}

export interface Timing {
  /** Median over trials of (trial wall time / R): ms per call. */
  ms: number;
  /** Fastest trial / R. */
  minMs: number;
  /** Spread of the trials (see `spread`). */
  spread: number;
  reps: number;
  trials: number;
}

/**
 * Times `record`, which records one call's dispatches (no submit, no readback). Untimed: one call synced, to
 * compile late pipelines and create bind groups and arena buffers; then one more to size R (skipped when the
 * first already took over 4x targetMs: R = 1). Timed, per trial: record R calls into the engine's one open
 * encoder, then `await e.sync()` (submit and wait for the GPU). The host's recording time is inside the timed
 * region, as it is in training. Calls of a second or more get 3 trials at most, to bound the run time.
 */
export async function timeCalls(e: Engine, record: () => void, opts: TimeOptions): Promise<Timing> {
  await e.sync();
  let t0 = performance.now();
  record(); // warm
  await e.sync();
  let once = performance.now() - t0;
  if (once <= 4 * opts.targetMs) {
    t0 = performance.now();
    record(); // sizing
    await e.sync();
    once = performance.now() - t0;
  }
  const reps = Math.max(1, Math.min(opts.maxReps, Math.ceil(opts.targetMs / Math.max(once, 1e-3))));
  const trials = once >= 1000 ? Math.min(opts.trials, 3) : opts.trials;
  const perCall: number[] = [];
  for (let t = 0; t < trials; t++) {
    t0 = performance.now();
    for (let r = 0; r < reps; r++) record();
    await e.sync();
    perCall.push((performance.now() - t0) / reps);
  }
  return { ms: median(perCall), minMs: min(perCall), spread: spread(perCall), reps, trials };
}

// ---------------------------------------------------------------- tables

export interface Column {
  title: string;
  width: number;
  /** Right-align (numbers). */
  right?: boolean;
}

/** A fixed-width table printed row by row as results arrive. */
export class Table {
  constructor(private readonly columns: readonly Column[]) {}

  header(): void {
    console.log(this.line(this.columns.map((c) => c.title)));
    console.log(this.columns.map((c) => '-'.repeat(c.width)).join('  '));
  }

  row(cells: readonly string[]): void {
    console.log(this.line(cells));
  }

  private line(cells: readonly string[]): string {
    return this.columns
      .map((c, i) => {
        const s = cells[i] ?? '';
        return c.right ? s.padStart(c.width) : s.padEnd(c.width);
      })
      .join('  ')
      .trimEnd();
  }
}

/** A number with `digits` decimals, or '-' when not finite. */
export function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(digits)}%`;
}

/** Rounds for JSON output (keeps lines short and diffable). */
export function round(x: number, digits = 4): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x;
}

// ---------------------------------------------------------------- machine state

/** The 1-minute load average and core count: a load well above 0 before the run means other work shares the CPU. */
export function machineLoad(): { load1: number; cores: number } {
  return { load1: round(loadavg()[0]!, 2), cores: availableParallelism() };
}

/** One line for the report header: adapter, optional features and the machine's load. */
export function describeMachine(e: Engine): string {
  const { load1, cores } = machineLoad();
  return `adapter: ${e.gpu.adapterName} [${[...e.features].join(', ') || 'no optional features'}]; load average ${load1.toFixed(2)} on ${cores} cores`;
}

/** Which layers to skip when skipping k of L "evenly": the centres of k equal slices of [0, L). */
export function evenSkips(L: number, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < k; i++) out.push(Math.min(L - 1, Math.floor(((i + 0.5) * L) / k)));
  return [...new Set(out)];
}

/**
 * One timed trial of the kernel variants' benchmarks: `reps` calls recorded, then submit and wait. Wall and
 * process CPU ms per call (CPU time stays meaningful when other work shares the cores).
 */
export async function timedTrial(e: Engine, record: () => void, reps: number): Promise<{ wall: number; cpu: number }> {
  await e.sync();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) record();
  await e.sync();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / reps, cpu: (c.user + c.system) / 1000 / reps };
}

/** A training session as the step timers drive it (src/train/task-session.ts). */
export interface TimedSession {
  e: Engine;
  plan(step: number): { plans: readonly LayerPlan[] };
  step(step: number, plans: readonly LayerPlan[]): { readLoss(): Promise<number> };
}

/**
 * One training step of `s` as the trainer runs it (plan, record, submit, loss readback), timed by wall clock and
 * by process CPU time (user + system: lavapipe's threads are this process's), with the dispatches it made and
 * its loss. A non-finite loss is an error naming `what`.
 */
export async function timedTrainingStep(s: TimedSession, step: number, what: string): Promise<{ wall: number; cpu: number; dispatches: number; loss: number }> {
  const d0 = s.e.counters.dispatches;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const loss = await s.step(step, s.plan(step).plans).readLoss();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (!Number.isFinite(loss)) throw new Error(`${what}: step ${step} has loss ${loss}`);
  return { wall, cpu: (c.user + c.system) / 1000, dispatches: s.e.counters.dispatches - d0, loss };
}
