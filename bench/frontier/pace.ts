/**
 * `npx tsx bench/frontier/pace.ts DIR`: how steadily the machine ran during a frontier study. For every finished
 * run under DIR/runs it prints the median of the run's step times converted to full-depth steps,
 * ms / (1 − f·(1 − kept/L)) with f the layers' share of a step from DIR/calibration.json (a step that ran half
 * of the layers counts as the fraction of a full step the calibration measured for it). Runs doing the same
 * work on an idle machine give the same pace; the spread between them is the wall-clock noise the study's
 * timed speed-ups carry (FLOPs are counted, so the FLOPs speed-ups carry none of it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from '../util.js';
import { finishedRuns } from './finished-runs.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: npx tsx bench/frontier/pace.ts DIR (a frontier --out folder)');
const calibrationPath = join(dir, 'calibration.json');
if (!existsSync(calibrationPath)) throw new Error(`${calibrationPath} is missing: DIR must be a frontier --out folder`);
const layerShare: number = JSON.parse(readFileSync(calibrationPath, 'utf8')).calibration.layer_share;

interface PaceRow {
  policy: string;
  budget: string;
  seed: string;
  steps: number;
  /** Median full-step-equivalent ms. */
  pace: number;
  meanMs: number;
  meanKept: number;
  /** Median step ms by the number of layers that ran (counts with at least 10 steps). */
  byDepth: Map<number, { n: number; ms: number }>;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows: PaceRow[] = [];
for (const { policy, budget: b, seed: sd, metrics: m } of finishedRuns(dir)) {
  const [budget, seed] = [`b${b}`, `seed-${sd}`];
  // Layers run per step, over all micro-batches (one bit string each, space-separated).
  const ran = m.steps.map((s) => [...s.layers].filter((c) => c === '1').length);
  const bits = m.steps[0]!.layers.replace(/ /g, '').length;
  const kept = ran.map((r) => r / bits);
  const paces = m.steps.map((s, i) => s.ms / (1 - layerShare * (1 - kept[i]!)));
  const groups = new Map<number, number[]>();
  m.steps.forEach((s, i) => {
    if (!groups.has(ran[i]!)) groups.set(ran[i]!, []);
    groups.get(ran[i]!)!.push(s.ms);
  });
  const byDepth = new Map([...groups].filter(([, v]) => v.length >= 10).sort(([a], [b]) => a - b).map(([k, v]) => [k, { n: v.length, ms: median(v) }]));
  rows.push({ policy, budget, seed, steps: m.steps.length, pace: median(paces), meanMs: mean(m.steps.map((s) => s.ms)), meanKept: mean(kept), byDepth });
}
if (rows.length === 0) throw new Error(`${dir}: no finished runs`);
console.log(`layers' share of a step (calibration): ${layerShare.toFixed(3)}`);
console.log('run | steps | median full-step-equivalent ms');
for (const r of rows) console.log(`${r.policy} ${r.budget} ${r.seed} | ${r.steps} | ${r.pace.toFixed(0)}`);
const paces = rows.map((r) => r.pace);
const lo = Math.min(...paces);
const hi = Math.max(...paces);
console.log(`over ${rows.length} runs: median ${median(paces).toFixed(0)} ms, min ${lo.toFixed(0)}, max ${hi.toFixed(0)} (max/min ${(hi / lo).toFixed(2)})`);

// The share the runs themselves imply: a dropping run's mean step against the same seed's budget-1 baseline's,
// (1 − ms_drop / ms_none) / (1 − kept). Equal to the calibrated share when a skipped layer saves its full part
// of the step and the machine kept its pace between the two runs.
console.log('\nlayers\' share implied by each dropping run (against the same seed\'s none b1 run):');
for (const r of rows.filter((x) => x.policy !== 'none')) {
  const base = rows.find((x) => x.policy === 'none' && x.budget === 'b1' && x.seed === r.seed);
  if (!base) continue;
  const implied = (1 - r.meanMs / base.meanMs) / (1 - r.meanKept);
  console.log(`${r.policy} ${r.budget} ${r.seed}: mean step ${r.meanMs.toFixed(0)} ms at ${(100 * r.meanKept).toFixed(1)}% kept, baseline ${base.meanMs.toFixed(0)} ms: ${implied.toFixed(3)}`);
}

// Step time against the layers that ran: on an idle machine it falls in proportion to the layers skipped
// (bench/frontier/plan-cost.ts measures that directly); a fixed extra cost of partial steps shows here.
console.log('\nmedian step ms by layers run (layers run: median ms over n steps; at least 10 steps):');
for (const r of rows.filter((x) => x.budget === 'b1')) {
  console.log(`${r.policy} ${r.budget} ${r.seed}: ${[...r.byDepth].map(([k, v]) => `${k}: ${v.ms.toFixed(0)} (${v.n})`).join(', ')}`);
}
