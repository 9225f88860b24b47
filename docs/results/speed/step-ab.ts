/**
 * The bias + GELU epilogue A/B in one process: preset `small` (policy none), training steps alternating between
 * the adapter choice linearGelu = 'fused' and 'separate' (matmul then gelu), in pairs whose order alternates too,
 * each step timed by wall clock and by process CPU time (user + system, lavapipe's threads included). A pair
 * sees nearly the same load, so the median of the per-pair ratios separate / fused is far steadier on a busy
 * host than medians taken minutes apart. Which fusion is toggled: `gelu` (linearGelu), `residual` (linearResidual)
 * or `both` (the default); the other stays at the adapter's choice.
 * Run from this checkout's root: npx tsx docs/results/speed/step-ab.ts [pairs] [gelu|residual|both]
 */
import { benchConfig } from '../../../bench/step.js';
import { TrainingSession } from '../../../src/tasks/gpt/session.js';
import { machineLoad, timedTrainingStep } from '../../../bench/util.js';

const pairs = Number(process.argv[2] ?? 15);
const which = process.argv[3] ?? 'both';
const choices = (which === 'both' ? ['linearGelu', 'linearResidual'] : [which === 'gelu' ? 'linearGelu' : 'linearResidual']) as ('linearGelu' | 'linearResidual')[];
const session = await TrainingSession.open(benchConfig({ preset: 'small' }));
const { e } = session;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
type Kind = 'fused' | 'separate';
let step = 0;

async function timedStep(kind: Kind): Promise<{ wall: number; cpu: number; dispatches: number }> {
  for (const c of choices) e.choice.force(c, kind);
  return timedTrainingStep(session, step++, kind);
}

const load0 = machineLoad().load1;
for (const kind of ['fused', 'separate', 'fused', 'separate'] as Kind[]) await timedStep(kind); // warm-up: pipelines, arena, bind groups
const rows: { fused: { wall: number; cpu: number; dispatches: number }; separate: { wall: number; cpu: number; dispatches: number } }[] = [];
for (let i = 0; i < pairs; i++) {
  const order: Kind[] = i % 2 === 0 ? ['fused', 'separate'] : ['separate', 'fused'];
  const r: Partial<Record<Kind, { wall: number; cpu: number; dispatches: number }>> = {};
  for (const k of order) r[k] = await timedStep(k);
  rows.push(r as (typeof rows)[number]);
}
const ratio = (f: 'wall' | 'cpu') => median(rows.map((r) => r.separate[f] / r.fused[f]));
console.log(`preset small, ${pairs} pairs of steps (fused, separate in alternating order; toggled: ${choices.join(', ')}); load average ${load0.toFixed(2)} before, ${machineLoad().load1.toFixed(2)} after`);
console.log(`dispatches per step: fused ${rows[0]!.fused.dispatches}, separate ${rows[0]!.separate.dispatches}`);
for (const f of ['wall', 'cpu'] as const) {
  console.log(
    `${f} ms per step: fused median ${median(rows.map((r) => r.fused[f])).toFixed(1)}, separate median ${median(rows.map((r) => r.separate[f])).toFixed(1)}; ` +
      `median of per-pair ratios separate / fused ${ratio(f).toFixed(3)}`,
  );
}
console.log('pairs (fused wall/cpu, separate wall/cpu ms):');
for (const r of rows) console.log(`  ${r.fused.wall.toFixed(1)} / ${r.fused.cpu.toFixed(1)}    ${r.separate.wall.toFixed(1)} / ${r.separate.cpu.toFixed(1)}`);
e.destroy();
