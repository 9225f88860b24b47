/**
 * `npm run bench -- step [--preset P | --config FILE] [model and batch flags] [--drop POLICY] [--steps N]
 * [--warmup N] [--max-seconds S] [--quick] [--json]`: steady-state cost of one training step.
 *
 * Builds a `TrainingSession` from the training flags (src/cli/options.ts), with layer-dropping policy `none`
 * (full depth) unless --drop / --drop-policy says otherwise. Runs --warmup steps untimed (pipelines, arena
 * buffers, bind groups), then N timed steps, each as the trainer runs it: plan, record and submit the step,
 * read the loss back (`session.step` + `readLoss`), wall time from before the plan to after the readback.
 * Reports the median ms per step, tokens/s (B T micro-batches / step time), and per step the deltas of
 * `e.counters`: dispatches, submits, readbacks, and what should be zero in the steady state (bind groups
 * created, bytes allocated). Then one more step is profiled (`e.beginTiming` / `e.endTiming`, each dispatch in
 * its own timestamped pass, or serialized host timing where the adapter has no timestamps) for each layer's
 * share of the step's GPU time. Last, memory (`e.memory()`, src/runtime/buffers.ts): the GPU memory the engine
 * holds (all of it allocated by then, so also the peak), and the step arena's high-water mark (activations and
 * their gradients) of the timed steps, of one full-depth step and of one step with the odd layers skipped (half
 * of them, rounded down): a skipped layer saves its activations as well as its time.
 *
 * The GPT "vocab 96, C 128, 4 heads, L 4, T 64, B 16" case is `--n-layer 4 --n-head 4 --n-embd 128 --seq-len 64
 * --batch-size 16` (= preset small); the trainer's vocabulary is fixed at 256 byte values, so it runs with
 * V = 256 (only the tied head and the cross-entropy grow with V, about 1% of the step here).
 */
import { VOCAB_SIZE } from '../src/tasks/gpt/data/tokenizer.js';
import { planBitString } from '../src/drop/policy.js';
import type { LayerPlan } from '../src/model/plan.js';
import { kindTotals, layerTotals, profileRows, type LayerTotal } from '../src/profile/report.js';
import { profileStep as profileOneStep } from '../src/profile/step.js';
import type { Counters, TimingMode } from '../src/runtime/engine.js';
import type { TrainConfig } from '../src/train/config.js';
import { TrainingSession } from '../src/tasks/gpt/session.js';
import { configFromOptions } from '../src/cli/options.js';
import { describeMachine, fmt, machineLoad, median, pct, round, spread, Table } from './util.js';

export interface StepBenchOptions {
  json: boolean;
  quick: boolean;
  /** Timed steps (the report is their median). */
  steps?: number;
  warmup?: number;
  /** Stop timing once the whole run has taken this long (at least 3 timed steps still run). */
  maxSeconds?: number;
  timing?: TimingMode;
  /** Schedule step of the first benchmarked step (matters only for a dropping policy). */
  fromStep?: number;
}

/** Training flags with policy `none` unless the user chose one; `--steps` is ours, not the schedule's. */
export function benchConfig(o: Record<string, unknown>, defaults: Record<string, unknown> = {}): TrainConfig {
  const chosen = o.drop ?? o.dropPolicy;
  // Our defaults (skip's preset deep) give way to flags and to a --config file.
  const merged: Record<string, unknown> = o.config === undefined ? { ...defaults } : {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) merged[k] = v;
  return configFromOptions({ ...merged, steps: undefined, evalBatches: 1, drop: chosen ?? 'none' });
}

type CounterDelta = Pick<Counters, 'dispatches' | 'submits' | 'readbacks' | 'bindGroupsCreated' | 'bytesAllocated'>;

function snapshot(c: Counters): CounterDelta {
  return { dispatches: c.dispatches, submits: c.submits, readbacks: c.readbacks, bindGroupsCreated: c.bindGroupsCreated, bytesAllocated: c.bytesAllocated };
}

function delta(a: CounterDelta, b: CounterDelta): CounterDelta {
  return {
    dispatches: b.dispatches - a.dispatches,
    submits: b.submits - a.submits,
    readbacks: b.readbacks - a.readbacks,
    bindGroupsCreated: b.bindGroupsCreated - a.bindGroupsCreated,
    bytesAllocated: b.bytesAllocated - a.bytesAllocated,
  };
}

export interface StepProfileSummary {
  mode: TimingMode;
  totalMs: number;
  layers: LayerTotal[];
  /** GPU time per kernel kind (matmul, attention, ...). */
  kinds: { kind: string; dispatches: number; gpu_ms: number }[];
  /** GPU time in layers 0..L-1 over all GPU time of the step. */
  layerShare: number;
}

/** Profiles one step of `session` with `plans` and returns per-layer GPU time. */
export async function profileStep(session: TrainingSession, step: number, plans: Parameters<TrainingSession['step']>[1], mode: TimingMode): Promise<StepProfileSummary> {
  const { cfg } = session;
  const rows = profileRows([await profileOneStep(session, step, plans, mode)]);
  const layers = layerTotals(rows, cfg.n_layer);
  const totalMs = layers.reduce((s, t) => s + t.gpu_ms, 0);
  const inLayers = layers.filter((t) => t.layer !== 'other').reduce((s, t) => s + t.gpu_ms, 0);
  return { mode, totalMs, layers, kinds: kindTotals(rows), layerShare: totalMs > 0 ? inLayers / totalMs : NaN };
}

/** Plans like `plans` with every layer kept (full) or the odd layers skipped (skip), unscaled. */
function fixedPlans(plans: Parameters<TrainingSession['step']>[1], skip: (l: number) => boolean): LayerPlan[] {
  return plans.map((p) => ({ ...p, run: p.run.map((_, l) => !skip(l)), scale: p.scale.map(() => 1), scope: 'layer' }));
}

/**
 * The engine's memory after one more full-depth step and one with the odd layers skipped, with each step's
 * arena high-water mark (these two steps do update the model; the benchmark is done with it by then).
 */
async function memoryWithAndWithoutSkips(session: TrainingSession, step: number, plans: Parameters<TrainingSession['step']>[1]) {
  const { e } = session;
  const L = session.cfg.n_layer;
  const skipped = Array.from({ length: L }, (_, l) => l).filter((l) => l % 2 === 1);
  await session.step(step, fixedPlans(plans, () => false)).readLoss();
  const fullHighWater = e.memory().arenaHighWaterBytes;
  await session.step(step + 1, fixedPlans(plans, (l) => skipped.includes(l))).readLoss();
  const skipHighWater = e.memory().arenaHighWaterBytes;
  return { total: e.memory(), fullHighWater, skipHighWater, skipped };
}

/** A bench's training session, its timing mode (timestamps where the adapter has them) and the load average before it opened. */
export async function openBench(cfg: TrainConfig, timing?: TimingMode): Promise<{ session: TrainingSession; mode: TimingMode; load0: number }> {
  const load0 = machineLoad().load1;
  const session = await TrainingSession.open(cfg);
  return { session, mode: timing ?? (session.e.timestampsSupported ? 'timestamps' : 'serialized'), load0 };
}

/** The closing line of a bench: the load average before and after (lavapipe timings are noisy under load). */
export function loadLine(load0: number): string {
  return `load average: ${load0.toFixed(2)} before, ${machineLoad().load1.toFixed(2)} after (other work on the CPU makes lavapipe timings noisy)`;
}

export async function benchStep(o: StepBenchOptions, trainingFlags: Record<string, unknown>): Promise<void> {
  const cfg = benchConfig(trainingFlags);
  const nSteps = o.steps ?? (o.quick ? 3 : 10);
  const nWarmup = o.warmup ?? (o.quick ? 1 : 2);
  const maxMs = (o.maxSeconds ?? (o.quick ? 30 : 120)) * 1000;
  const tStart = performance.now();
  const { session, mode, load0 } = await openBench(cfg, o.timing);
  const { e } = session;
  const L = cfg.n_layer;
  const tokensPerStep = session.B * session.T * cfg.gradAccum;

  // Where in the schedule to run: step 0 for `none`; for a dropping policy, where it actually drops.
  let step = o.fromStep ?? 0;
  if (o.fromStep === undefined && session.drop.policy === 'sbld') step = session.drop.warmupSteps + 1;
  else if (o.fromStep === undefined && session.drop.policy !== 'none') step = Math.floor(session.drop.totalSteps / 2);
  if (session.dropper.state) await session.measureIfDue(session.drop.warmupSteps); // SBLD's measurement, outside the timing

  if (!o.json) {
    console.log(describeMachine(e));
    console.log(
      `model: GPT L${L} C${cfg.n_embd} H${cfg.n_head} T${session.T} V${VOCAB_SIZE} (vocabulary fixed at 256 bytes), ` +
        `${(session.model.parameterCount / 1e6).toFixed(2)}M parameters; batch ${session.B} x ${cfg.gradAccum} micro-batch(es) = ${tokensPerStep} tokens/step; ` +
        `policy ${session.drop.policy}${session.drop.policy !== 'none' ? ` from schedule step ${step}` : ''}; precision ${session.precision}`,
    );
  }

  for (let i = 0; i < nWarmup; i++, step++) await session.step(step, session.plan(step).plans).readLoss();

  const ms: number[] = [];
  const highWater: number[] = [];
  const deltas: CounterDelta[] = [];
  const layersRun: number[] = [];
  for (let i = 0; i < nSteps && (i < 3 || performance.now() - tStart < maxMs); i++, step++) {
    const before = snapshot(e.counters);
    const ts = performance.now();
    const { plans } = session.plan(step);
    const { readLoss } = session.step(step, plans);
    const loss = await readLoss();
    ms.push(performance.now() - ts);
    highWater.push(e.memory().arenaHighWaterBytes);
    deltas.push(delta(before, snapshot(e.counters)));
    layersRun.push(plans.reduce((n, p) => n + p.run.filter(Boolean).length, 0) / plans.length);
    if (!Number.isFinite(loss)) throw new Error(`step ${step}: loss is ${loss}`);
  }
  const msPerStep = median(ms);
  const per = (k: keyof CounterDelta) => median(deltas.map((d) => d[k]));

  const { plans } = session.plan(step);
  const prof = await profileStep(session, step, plans, mode);
  const planBits = plans.map((p) => planBitString(p.run)).join(' ');
  const mem = await memoryWithAndWithoutSkips(session, step + 1, plans);
  const load1 = machineLoad().load1;

  const summary = {
    preset: cfg.preset,
    n_layer: L,
    n_head: cfg.n_head,
    n_embd: cfg.n_embd,
    T: session.T,
    B: session.B,
    grad_accum: cfg.gradAccum,
    V: VOCAB_SIZE,
    policy: session.drop.policy,
    ms_per_step: round(msPerStep, 2),
    min_ms: round(Math.min(...ms), 2),
    spread: round(spread(ms), 3),
    tokens_per_s: round(tokensPerStep / (msPerStep / 1000), 1),
    steps_timed: ms.length,
    layers_run_mean: round(layersRun.reduce((a, b) => a + b, 0) / layersRun.length, 2),
    dispatches_per_step: per('dispatches'),
    submits_per_step: per('submits'),
    readbacks_per_step: per('readbacks'),
    bind_groups_created_per_step: per('bindGroupsCreated'),
    bytes_allocated_per_step: per('bytesAllocated'),
    memory_total_bytes: mem.total.totalBytes,
    memory_persistent_bytes: mem.total.persistentBytes,
    memory_arena_bytes: mem.total.arenaBytes,
    memory_pools_bytes: mem.total.uploadBytes + mem.total.readbackBytes + mem.total.uniformBytes,
    arena_high_water_bytes: median(highWater),
    arena_high_water_full_bytes: mem.fullHighWater,
    arena_high_water_skip_bytes: mem.skipHighWater,
    skip_layers: mem.skipped,
    profile_timing: prof.mode,
    profile_gpu_ms: round(prof.totalMs, 2),
    layer_share: round(prof.layerShare, 4),
    layers: prof.layers.map((t) => ({ layer: t.layer, dispatches: t.dispatches, gpu_ms: round(t.gpu_ms, 3), share: round(t.gpu_ms / prof.totalMs, 4) })),
    kinds: prof.kinds.map((k) => ({ kind: k.kind, dispatches: k.dispatches, gpu_ms: round(k.gpu_ms, 3), share: round(k.gpu_ms / prof.totalMs, 4) })),
    precision: session.precision,
    adapter: e.gpu.adapterName,
    load1_before: load0,
    load1_after: load1,
  };
  if (o.json) {
    console.log(JSON.stringify(summary));
    e.destroy();
    return;
  }

  console.log(`\nsteady state over ${ms.length} steps after ${nWarmup} warm-up (wall time: plan + record + submit + loss readback):`);
  const t = new Table([
    { title: 'ms/step', width: 9, right: true },
    { title: 'min ms', width: 9, right: true },
    { title: 'spread', width: 6, right: true },
    { title: 'tokens/s', width: 9, right: true },
    { title: 'dispatches', width: 10, right: true },
    { title: 'submits', width: 7, right: true },
    { title: 'readbacks', width: 9, right: true },
    { title: 'new bind groups', width: 15, right: true },
    { title: 'bytes alloc', width: 11, right: true },
  ]);
  t.header();
  t.row([
    fmt(msPerStep, 1),
    fmt(summary.min_ms, 1),
    pct(summary.spread, 0),
    fmt(summary.tokens_per_s, 0),
    String(summary.dispatches_per_step),
    String(summary.submits_per_step),
    String(summary.readbacks_per_step),
    String(summary.bind_groups_created_per_step),
    String(summary.bytes_allocated_per_step),
  ]);
  if (session.drop.policy !== 'none') console.log(`layers run per micro-batch: ${summary.layers_run_mean} of ${L} on average`);

  const mb = (bytes: number) => (bytes < 2 ** 10 ? `${bytes} B` : bytes < 2 ** 20 ? `${(bytes / 2 ** 10).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(2)} MiB`);
  const m = mem.total;
  console.log(
    `\nGPU memory held (all allocated by now, so the peak): ${mb(m.totalBytes)} = persistent ${mb(m.persistentBytes)} ` +
      `(parameters, gradients, optimizer state, scratch) + arena ${mb(m.arenaBytes)} + pools ${mb(summary.memory_pools_bytes)} ` +
      `(upload ${mb(m.uploadBytes)}, readback ${mb(m.readbackBytes)}, uniforms ${mb(m.uniformBytes)})`,
  );
  console.log(
    `arena high-water mark per step (activations and their gradients): ${mb(summary.arena_high_water_bytes)} in the timed steps; ` +
      `full depth ${mb(mem.fullHighWater)}, layers [${mem.skipped.join(', ')}] skipped ${mb(mem.skipHighWater)} ` +
      `(${pct(1 - mem.skipHighWater / mem.fullHighWater)} less)`,
  );

  const how = prof.mode === 'timestamps' ? 'timestamp queries, one pass per dispatch' : 'SERIALIZED host timing (no timestamp-query; over-states small kernels)';
  console.log(`\nper-layer share of one profiled step (schedule step ${step}, layers ${planBits}; GPU time from ${how}):`);
  const lt = new Table([
    { title: 'layer', width: 6 },
    { title: 'dispatches', width: 10, right: true },
    { title: 'gpu ms', width: 9, right: true },
    { title: 'share', width: 7, right: true },
  ]);
  lt.header();
  for (const r of prof.layers) lt.row([String(r.layer), String(r.dispatches), fmt(r.gpu_ms, 2), pct(r.gpu_ms / prof.totalMs)]);
  console.log(`\nshare of the step per kernel kind:`);
  const kt = new Table([
    { title: 'kind', width: 12 },
    { title: 'dispatches', width: 10, right: true },
    { title: 'gpu ms', width: 9, right: true },
    { title: 'share', width: 7, right: true },
  ]);
  kt.header();
  for (const k of prof.kinds) kt.row([k.kind, String(k.dispatches), fmt(k.gpu_ms, 2), pct(k.gpu_ms / prof.totalMs)]);
  console.log(
    `total GPU ${fmt(prof.totalMs, 1)} ms (${pct(prof.totalMs / msPerStep, 0)} of the median wall step); layers ${pct(prof.layerShare)}, ` +
      `embedding / head / loss / optimizer bookkeeping ${pct(1 - prof.layerShare)}`,
  );
  console.log(loadLine(load0));
  e.destroy();
}
