/**
 * `npm run bench -- precision [training flags] [--pairs N] [--quick] [--json]`: f32 against f16 mixed precision,
 * whole training steps, side by side in one process: the measurement the adapter's precision rule
 * (src/runtime/choice.ts) is made from.
 *
 * Two training sessions of the same config (`--task gpt` or `vit`, preset `small` unless given; policy none), one per precision, on
 * one engine. After two untimed steps each (pipelines, arena, bind groups, the first casts), N pairs of steps,
 * one of each precision in alternating order, each timed by wall clock (plan to loss readback, as the trainer
 * runs it) and by process CPU time (user + system: lavapipe's threads are this process's). A pair sees nearly
 * the same machine, so the median of the per-pair ratios f32 / f16 is steadier on a noisy host than medians
 * of separate runs; also reported: in how many pairs f16 was the faster, the dispatches of each precision's
 * step, and each session's last loss (the two train the same model from the same seed).
 * The verdict: f16 pays on this adapter when the median wall ratio is above 1 and f16 won more than half the
 * pairs; otherwise f32.
 */
import type { Precision } from '../src/runtime/choice.js';
import type { Engine } from '../src/runtime/engine.js';
import { TrainingSession } from '../src/tasks/gpt/session.js';
import { isVitConfig } from '../src/tasks/vit/config.js';
import { VitSession } from '../src/tasks/vit/session.js';
import type { TrainConfig } from '../src/train/config.js';
import { benchConfig } from './step.js';
import { describeMachine, fmt, machineLoad, median, round, timedTrainingStep } from './util.js';

export interface PrecisionBenchOptions {
  json: boolean;
  quick: boolean;
  /** Timed pairs (default 20; --quick 4). */
  pairs?: number;
}

interface Timed {
  wall: number;
  cpu: number;
  dispatches: number;
  loss: number;
}

/** A training session of `cfg`'s task (GPT or the ViT) on `engine` (a new one when absent). */
function openSession(cfg: TrainConfig, engine?: Engine): Promise<TrainingSession | VitSession> {
  return isVitConfig(cfg) ? VitSession.open(cfg, engine) : TrainingSession.open(cfg, engine);
}

export async function benchPrecision(o: PrecisionBenchOptions, trainingFlags: Record<string, unknown>): Promise<void> {
  const load0 = machineLoad().load1;
  const base = benchConfig(trainingFlags, { preset: 'small' });
  const f32 = await openSession({ ...base, precision: 'f32' });
  const { e } = f32;
  if (!e.choice.halfAvailable) throw new Error(`bench precision: this adapter (${e.gpu.adapterName}) has no shader-f16, so only f32 can run here`);
  const f16 = await openSession({ ...base, precision: 'f16' }, e);
  const sessions: Record<Precision, TrainingSession | VitSession> = { f32, f16 };
  const steps: Record<Precision, number> = { f32: 0, f16: 0 };
  const pairs = o.pairs ?? (o.quick ? 4 : 20);

  const timedStep = (p: Precision): Promise<Timed> => timedTrainingStep(sessions[p], steps[p]++, `bench precision: ${p}`);

  for (const p of ['f32', 'f16', 'f32', 'f16'] as const) await timedStep(p);
  const rows: Record<Precision, Timed>[] = [];
  for (let i = 0; i < pairs; i++) {
    const order: Precision[] = i % 2 === 0 ? ['f32', 'f16'] : ['f16', 'f32'];
    const r: Partial<Record<Precision, Timed>> = {};
    for (const p of order) r[p] = await timedStep(p);
    rows.push(r as Record<Precision, Timed>);
  }
  const ratio = (f: 'wall' | 'cpu') => median(rows.map((r) => r.f32[f] / r.f16[f]));
  const wins = (f: 'wall' | 'cpu') => rows.filter((r) => r.f16[f] < r.f32[f]).length;
  const verdict: Precision = ratio('wall') > 1 && wins('wall') > pairs / 2 ? 'f16' : 'f32';
  const summary = {
    adapter: e.gpu.adapterName,
    task: base.task ?? 'gpt',
    preset: base.preset,
    pairs,
    ms_f32: round(median(rows.map((r) => r.f32.wall)), 2),
    ms_f16: round(median(rows.map((r) => r.f16.wall)), 2),
    cpu_ms_f32: round(median(rows.map((r) => r.f32.cpu)), 2),
    cpu_ms_f16: round(median(rows.map((r) => r.f16.cpu)), 2),
    ratio_wall: round(ratio('wall'), 4),
    ratio_cpu: round(ratio('cpu'), 4),
    f16_faster_wall: wins('wall'),
    f16_faster_cpu: wins('cpu'),
    dispatches_f32: rows[0]!.f32.dispatches,
    dispatches_f16: rows[0]!.f16.dispatches,
    last_loss_f32: round(rows[pairs - 1]!.f32.loss, 5),
    last_loss_f16: round(rows[pairs - 1]!.f16.loss, 5),
    verdict,
    load1_before: load0,
    load1_after: machineLoad().load1,
  };
  if (o.json) {
    console.log(JSON.stringify({ ...summary, pairs_ms: rows.map((r) => ({ f32: [round(r.f32.wall, 2), round(r.f32.cpu, 2)], f16: [round(r.f16.wall, 2), round(r.f16.cpu, 2)] })) }));
  } else {
    console.log(describeMachine(e));
    console.log(`${base.task ?? 'gpt'} preset ${base.preset} (L${base.n_layer} C${base.n_embd} T${base.seqLen} B${base.batchSize}), policy none; ${pairs} pairs of steps, f32 and f16 in alternating order`);
    console.log(`dispatches per step: f32 ${summary.dispatches_f32}, f16 ${summary.dispatches_f16}`);
    for (const f of ['wall', 'cpu'] as const) {
      const [a, b] = f === 'wall' ? [summary.ms_f32, summary.ms_f16] : [summary.cpu_ms_f32, summary.cpu_ms_f16];
      console.log(`${f} ms per step: f32 median ${fmt(a, 1)}, f16 median ${fmt(b, 1)}; median of per-pair ratios f32 / f16 ${fmt(ratio(f), 3)}; f16 faster in ${wins(f)} of ${pairs} pairs`);
    }
    console.log(`last step's loss: f32 ${fmt(summary.last_loss_f32, 4)}, f16 ${fmt(summary.last_loss_f16, 4)} (same model and data)`);
    console.log(`verdict: ${verdict} on this adapter (f16 needs a median ratio above 1 and more than half the pairs)`);
    console.log('pairs (f32 wall / cpu ms, f16 wall / cpu ms):');
    for (const r of rows) console.log(`  ${r.f32.wall.toFixed(1)} / ${r.f32.cpu.toFixed(1)}    ${r.f16.wall.toFixed(1)} / ${r.f16.cpu.toFixed(1)}`);
    console.log(`load average: ${load0.toFixed(2)} before, ${summary.load1_after.toFixed(2)} after`);
  }
  e.destroy();
}
