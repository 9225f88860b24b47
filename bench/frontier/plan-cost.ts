/**
 * `npx tsx bench/frontier/plan-cost.ts [--task gpt|vit] [--preset deep] [--rounds 4]`: what a step costs for the
 * layer plans a run meets, timed in one session, interleaved: every layer; no layer (what a skip cannot remove);
 * the odd layers skipped, the same plan every step (the calibration's plan); and a fresh random plan each step
 * that keeps each layer with probability 1/2 (how PLD and SBLD vary their plans). Medians per kind; the implied
 * layer share of each partial plan is (1 − ms/ms_full) / (1 − kept). When the random plans imply a lower share
 * than the fixed one, a skip saves less in a run than the calibration credits it with.
 */
import { parseArgs } from 'node:util';
import { TrainingSession } from '../../src/tasks/gpt/session.js';
import { resolveConfig } from '../../src/tasks/gpt/config.js';
import { VitSession } from '../../src/tasks/vit/session.js';
import { resolveVitConfig } from '../../src/tasks/vit/config.js';
import type { LayerPlan } from '../../src/tasks/gpt/model.js';
import { describeMachine, median } from '../util.js';
import { Rng } from '../../src/util/rng.js';

const { values } = parseArgs({ options: { task: { type: 'string', default: 'vit' }, preset: { type: 'string', default: 'deep' }, rounds: { type: 'string', default: '4' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${values.rounds}: expected a positive integer`);
if (values.task !== 'vit' && values.task !== 'gpt') throw new Error(`--task ${values.task}: expected gpt or vit`);
const flags = { preset: values.preset, steps: 300, seed: 1, drop: { policy: 'none' as const } };
const session =
  values.task === 'vit'
    ? await VitSession.open(resolveVitConfig({}, { task: 'vit', ...flags } as Parameters<typeof resolveVitConfig>[1]))
    : await TrainingSession.open(resolveConfig({}, flags as Parameters<typeof resolveConfig>[1]));
const L = session.cfg.n_layer;
const plan = (run: boolean[]): LayerPlan => ({ run, scale: Array(L).fill(1), scope: 'layer' });
const rng = new Rng(7);
const kinds: Record<string, () => LayerPlan> = {
  full: () => plan(Array(L).fill(true)),
  none: () => plan(Array(L).fill(false)),
  'odd skipped (fixed)': () => plan(Array.from({ length: L }, (_, l) => l % 2 === 0)),
  'random, keep 1/2': () => plan(Array.from({ length: L }, () => rng.uniform() < 0.5)),
};
const ms: Record<string, number[]> = {};
const kept: Record<string, number[]> = {};
let step = 0;
const timed = async (p: LayerPlan) => {
  const t0 = performance.now();
  await session.step(step++, [p]).readLoss();
  return performance.now() - t0;
};
for (let i = 0; i < 3; i++) await timed(kinds.full!());
console.log(describeMachine(session.e));
for (let r = 0; r < rounds; r++) {
  // Ten steps of each kind per round, the kinds in turn, so a drift of the machine's pace hits them alike.
  for (const [name, make] of Object.entries(kinds)) {
    for (let i = 0; i < 10; i++) {
      const p = make();
      (ms[name] ??= []).push(await timed(p));
      (kept[name] ??= []).push(p.run.filter(Boolean).length / L);
    }
  }
}
const after = describeMachine(session.e);
session.e.destroy();
const full = median(ms.full!);
console.log(`${values.task} preset ${values.preset} (L${L}), ${rounds} rounds of 10 steps per kind`);
for (const name of Object.keys(kinds)) {
  const k = kept[name]!.reduce((a, b) => a + b, 0) / kept[name]!.length;
  const m = median(ms[name]!);
  const share = k < 1 ? ((1 - m / full) / (1 - k)).toFixed(3) : '-';
  console.log(`${name}: median ${m.toFixed(1)} ms, ${(100 * k).toFixed(1)}% of layers kept, implied layer share ${share}`);
}
console.log(after);
