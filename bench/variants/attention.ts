/**
 * The attention kernels side by side: `npx tsx bench/variants/attention.ts [--trials N] [--target-ms MS] [--quick]
 * [--no-step]`.
 *
 * Kernel sets (src/ops/attention.ts picks one per dispatch; here each is forced with useAttentionKernels):
 *   before    the portable kernels dispatched as they were before the subgroup kernels: foldGrid(rows) workgroups
 *             of 64, i.e. 64x the workgroups needed, all but 1/64 of them exiting at once
 *   portable  kernels/attention.wgsl, attention_backward.wgsl: one invocation per row, every lane loading every
 *             row it visits; now ceil(rows / 64) workgroups. The path of GPUs and of HS % 4 != 0
 *   subgroup  kernels/attention_subgroup.wgsl, attention_backward_subgroup.wgsl: 8 lanes x R rows per workgroup,
 *             the other side's rows loaded once per subgroup and shared by subgroupBroadcast (CPU adapters)
 * Shapes: the default GPT's heads, B=16 NH=4 HS=32, at T = 64 (its sequence length), 128, 256, 512, causal; and
 * T = 64 not causal (ViT-style). Then one training step of the default model (preset small, L4 C128 NH4 T64 B16)
 * with each set.
 *
 * Method: inputs are created and filled outside the timed region; every set runs once untimed per shape (late
 * pipeline compile, bind groups). Per shape and set, R calls per trial (R from one untimed call, so a trial lasts
 * about --target-ms; slow sets get R = 1), recorded in one command encoder and awaited with `e.sync()`. The sets'
 * trials are interleaved in a fresh random order per trial round: process CPU time right after a long call carries
 * a few ms of the previous call's tail, which a fixed order would always charge to the same set. Reported: the
 * median over trials of wall ms per call, GFLOP/s from it, "cpu GF/s" = flops / (process CPU time / cores) (what
 * the wall rate would be with the cores to ourselves; on a shared machine wall times stretch with the load while
 * CPU time mostly does not), the trials' spread, and the speed-up over `before` in CPU time.
 * FLOPs count visible (query, key) pairs (T (T + 1) / 2 per (b, h) when causal): forward 4 HS per pair (q . k and
 * p v), backward 10 HS per pair (the five products S, dP, dV, dQ, dK; the kernels execute 14 HS, as both backward
 * kernels recompute S and dP). The step comparison alternates the sets step by step (random order per pair) and
 * reports median wall and CPU ms per step.
 */
import { availableParallelism } from 'node:os';
import { attention_backward, attention_forward, attentionKernelsFor, useAttentionKernels, type AttentionKernels } from '../../src/ops/attention.js';
import { foldGrid, Engine } from '../../src/runtime/engine.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { TrainingSession } from '../../src/tasks/gpt/session.js';
import { Rng } from '../../src/util/rng.js';
import { benchConfig } from '../step.js';
import { describeMachine, fmt, machineLoad, median, pct, spread, Table, timedTrial } from '../util.js';

const args = process.argv.slice(2);
const argValue = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const QUICK = args.includes('--quick');
const TRIALS = argValue('--trials', QUICK ? 3 : 7);
const TARGET_MS = argValue('--target-ms', QUICK ? 20 : 60);
const STEP_PAIRS = argValue('--step-pairs', QUICK ? 3 : 8);
const CORES = availableParallelism();

type Variant = 'before' | AttentionKernels;
const VARIANTS: Variant[] = ['before', 'portable', 'subgroup'];

interface Shape {
  B: number;
  T: number;
  NH: number;
  HS: number;
  causal: boolean;
}

const SHAPES: Shape[] = [
  ...(QUICK ? [64, 256] : [64, 128, 256, 512]).map((T) => ({ B: 16, T, NH: 4, HS: 32, causal: true })),
  { B: 16, T: 64, NH: 4, HS: 32, causal: false },
];

function pairs(s: Shape): number {
  return s.B * s.NH * (s.causal ? (s.T * (s.T + 1)) / 2 : s.T * s.T);
}

function filled(e: Engine, shape: number[], seed: number): Tensor {
  const t = e.persistent(shape, 'f32', 'bench');
  const rng = new Rng(seed);
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform() * 2 - 1;
  e.write(t, data);
  return t;
}

/** The dispatches attention_forward / attention_backward made before this change (the portable kernels only). */
function beforeForward(e: Engine, out: Tensor, lse: Tensor, qkv: Tensor, s: Shape): void {
  const C = s.NH * s.HS;
  const p = { B: s.B, T: s.T, C, NH: s.NH, HS: s.HS, causal: s.causal ? 1 : 0, scale: 1 / Math.sqrt(s.HS) };
  e.dispatch('attention_forward', { qkv, out, lse }, p, foldGrid(s.B * s.NH * s.T));
}

function beforeBackward(e: Engine, dqkv: Tensor, qkv: Tensor, out: Tensor, dout: Tensor, lse: Tensor, dsum: Tensor, s: Shape): void {
  const C = s.NH * s.HS;
  const p = { B: s.B, T: s.T, C, NH: s.NH, HS: s.HS, causal: s.causal ? 1 : 0, accumulate: 0, scale: 1 / Math.sqrt(s.HS) };
  const grid = foldGrid(s.B * s.NH * s.T);
  e.dispatch('attention_backward_dq', { qkv, out, dout, lse, dsum, dqkv }, p, grid);
  e.dispatch('attention_backward_dkv', { qkv, dout, lse, dsum, dqkv }, p, grid);
}

interface Sample {
  wall: number[];
  cpu: number[];
}

function shuffled<T>(xs: readonly T[], rng: Rng): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates
  }
  return m;
}

async function benchKernels(e: Engine): Promise<void> {
  const table = new Table([
    { title: 'shape', width: 24 },
    { title: 'pass', width: 4 },
    { title: 'kernels', width: 8 },
    { title: 'ms', width: 9, right: true },
    { title: 'cpu ms', width: 9, right: true },
    { title: 'GFLOP/s', width: 7, right: true },
    { title: 'cpu GF/s', width: 8, right: true },
    { title: 'spread', width: 6, right: true },
    { title: 'x before', width: 8, right: true },
    { title: 'max|diff|', width: 9, right: true },
  ]);
  table.header();
  const rng = new Rng(7);
  for (const s of SHAPES) {
    const { B, T, NH, HS, causal } = s;
    const C = NH * HS;
    const qkv = filled(e, [B, T, 3 * C], 1);
    const dout = filled(e, [B, T, C], 2);
    const dsum = filled(e, [B, NH, T], 3);
    const bufs = new Map<Variant, { out: Tensor; lse: Tensor; dqkv: Tensor }>();
    for (const v of VARIANTS) bufs.set(v, { out: filled(e, [B, T, C], 4), lse: filled(e, [B, NH, T], 5), dqkv: filled(e, [B, T, 3 * C], 6) });
    const record = new Map<string, () => void>();
    for (const v of VARIANTS) {
      const b = bufs.get(v)!;
      if (v === 'before') {
        record.set(`${v} fwd`, () => beforeForward(e, b.out, b.lse, qkv, s));
        record.set(`${v} bwd`, () => beforeBackward(e, b.dqkv, qkv, b.out, dout, b.lse, dsum, s));
      } else {
        record.set(`${v} fwd`, () => {
          useAttentionKernels(e, v);
          attention_forward(e, b.out, b.lse, qkv, B, T, C, NH, causal);
        });
        record.set(`${v} bwd`, () => {
          useAttentionKernels(e, v);
          e.resetArena(); // the backward's dsum scratch comes from the arena
          attention_backward(e, b.dqkv, false, qkv, b.out, dout, b.lse, B, T, C, NH, causal);
        });
      }
    }
    // Untimed: compile, bind groups; size R per entry from one call; results for the check column.
    const reps = new Map<string, number>();
    for (const [k, f] of record) {
      await timedTrial(e, f, 1);
      const once = (await timedTrial(e, f, 1)).wall;
      reps.set(k, Math.max(1, Math.min(50, Math.ceil(TARGET_MS / Math.max(once, 1e-3)))));
    }
    const results = new Map<Variant, { out: Float32Array; dqkv: Float32Array }>();
    for (const v of VARIANTS) results.set(v, { out: await e.readFloat(bufs.get(v)!.out), dqkv: await e.readFloat(bufs.get(v)!.dqkv) });

    const samples = new Map<string, Sample>([...record.keys()].map((k) => [k, { wall: [], cpu: [] }]));
    for (let t = 0; t < TRIALS; t++) {
      for (const k of shuffled([...record.keys()], rng)) {
        const r = await timedTrial(e, record.get(k)!, reps.get(k)!);
        samples.get(k)!.wall.push(r.wall);
        samples.get(k)!.cpu.push(r.cpu);
      }
    }
    useAttentionKernels(e, null);

    const shapeName = `B${B} NH${NH} HS${HS} T${T}${causal ? '' : ' full'}`;
    for (const pass of ['fwd', 'bwd'] as const) {
      const flops = (pass === 'fwd' ? 4 : 10) * HS * pairs(s);
      const beforeCpu = median(samples.get(`before ${pass}`)!.cpu);
      for (const v of VARIANTS) {
        const smp = samples.get(`${v} ${pass}`)!;
        const ms = median(smp.wall);
        const cpuMs = median(smp.cpu);
        const ran = v === 'before' ? 'before' : forcedKernels(e, v, HS, [qkv]);
        const diff = maxAbsDiff(results.get(v)![pass === 'fwd' ? 'out' : 'dqkv'], results.get('portable')![pass === 'fwd' ? 'out' : 'dqkv']);
        table.row([
          shapeName,
          pass,
          ran,
          fmt(ms, 2),
          fmt(cpuMs, 2),
          fmt(flops / ms / 1e6, 2),
          fmt(flops / (cpuMs / CORES) / 1e6, 2),
          pct(spread(smp.wall), 0),
          fmt(beforeCpu / cpuMs, 2),
          diff.toExponential(1),
        ]);
      }
    }
    for (const t of [qkv, dout, dsum, ...[...bufs.values()].flatMap((b) => [b.out, b.lse, b.dqkv])]) t.buffer.destroy();
  }
}

/** The set a forced `v` really runs (the subgroup set falls back where it cannot run). */
function forcedKernels(e: Engine, v: AttentionKernels, HS: number, tensors: Tensor[]): string {
  useAttentionKernels(e, v);
  const r = attentionKernelsFor(e, HS, tensors);
  useAttentionKernels(e, null);
  return r === v ? v : `${v}->${r}`;
}

/** One training step of the default model with each set, alternating; median wall and CPU ms per step. */
async function benchStep(): Promise<void> {
  const session = await TrainingSession.open(benchConfig({}));
  const { e, cfg } = session;
  const sets: AttentionKernels[] = ['portable', 'subgroup'];
  let step = 0;
  for (const v of sets) {
    useAttentionKernels(e, v);
    for (let i = 0; i < 2; i++, step++) await session.step(step, session.plan(step).plans).readLoss();
  }
  const rng = new Rng(11);
  const wall = new Map<AttentionKernels, number[]>(sets.map((v) => [v, []]));
  const cpu = new Map<AttentionKernels, number[]>(sets.map((v) => [v, []]));
  for (let i = 0; i < STEP_PAIRS; i++) {
    for (const v of shuffled(sets, rng)) {
      useAttentionKernels(e, v);
      await e.sync();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const loss = await session.step(step, session.plan(step).plans).readLoss();
      wall.get(v)!.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.get(v)!.push((c.user + c.system) / 1000);
      if (!Number.isFinite(loss)) throw new Error(`step ${step}: loss is ${loss}`);
      step++;
    }
  }
  useAttentionKernels(e, null);
  console.log('');
  console.log(
    `# one training step, preset ${cfg.preset} (L${cfg.n_layer} C${cfg.n_embd} NH${cfg.n_head} T${session.T} B${session.B}), ` +
      `${STEP_PAIRS} steps per set, alternating; medians`,
  );
  const base = median(cpu.get('portable')!);
  for (const v of sets) {
    const w = median(wall.get(v)!);
    const c = median(cpu.get(v)!);
    console.log(`  ${v.padEnd(9)} ${fmt(w, 1).padStart(8)} ms wall  ${fmt(c, 1).padStart(8)} ms cpu  (spread ${pct(spread(wall.get(v)!), 0)}; ${fmt(base / c, 2)}x portable in cpu)`);
  }
  e.destroy();
}

async function main(): Promise<void> {
  const e = await Engine.create();
  console.log(`# attention kernels: ${describeMachine(e)}; ${TRIALS} trials of ~${TARGET_MS} ms per set and shape, random order`);
  await benchKernels(e);
  e.destroy();
  if (!args.includes('--no-step')) await benchStep();
  const { load1 } = machineLoad();
  console.log(`# load average at the end: ${load1.toFixed(2)} on ${CORES} cores`);
}

await main();
