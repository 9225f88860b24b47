/**
 * `npx tsx bench/frontier/robustness.ts DIR [--budget 1]`: the robustness check of issue #12 on a finished
 * frontier study. Per seed: SBLD's block and allow lists (each measurement, with what the no-signal guard did),
 * the final validation loss of the baseline at that budget, of PLD and of SBLD, and how far each policy ends
 * behind the baseline (positive: worse). The check: no seed of SBLD ends further behind than PLD's worst seed.
 */
import { parseArgs } from 'node:util';
import type { Metrics } from '../compare/metrics.js';
import { finishedRuns } from './finished-runs.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { budget: { type: 'string', default: '1' } } });
const dir = positionals[0];
if (!dir) throw new Error('usage: npx tsx bench/frontier/robustness.ts DIR [--budget B] (a frontier --out folder)');
const budget = Number(values.budget);

const runs = finishedRuns(dir).filter((r) => r.budget === budget);
/** The finished runs of `policy` at the budget, by seed. */
const finished = (policy: string) => new Map(runs.filter((r) => r.policy === policy).map((r) => [r.seed, r.metrics]));

const none = finished('none');
const pld = finished('pld');
const sbld = finished('sbld');
const seeds = [...none.keys()].filter((s) => pld.has(s) && sbld.has(s)).sort((a, b) => a - b);
if (seeds.length === 0) throw new Error(`${dir}: no seed has finished none, pld and sbld runs at budget ${values.budget}`);

const loss = (m: Metrics) => m.summary!.val_loss;
console.log(`budget ${values.budget}: final validation loss per seed, and how far each policy ends behind the baseline`);
console.log('seed | none | pld (behind) | sbld (behind) | SBLD measurements: step, block, allow (guard action)');
const pldBehind: number[] = [];
const sbldBehind: number[] = [];
for (const s of seeds) {
  const base = loss(none.get(s)!);
  const p = loss(pld.get(s)!) - base;
  const q = loss(sbld.get(s)!) - base;
  pldBehind.push(p);
  sbldBehind.push(q);
  const lists = sbld
    .get(s)!
    .sensitivity.map((x) => `step ${x.step} [${x.block.join(',')}] [${x.allow.join(',')}] (${(x as { signal?: { action: string } }).signal?.action ?? 'use'})`)
    .join('; ');
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
  console.log(`${s} | ${base.toFixed(4)} | ${loss(pld.get(s)!).toFixed(4)} (${signed(p)}) | ${loss(sbld.get(s)!).toFixed(4)} (${signed(q)}) | ${lists}`);
}
const pldWorst = Math.max(...pldBehind);
const sbldWorst = Math.max(...sbldBehind);
const over = seeds.filter((_, i) => sbldBehind[i]! > pldWorst);
console.log(`PLD's worst seed ends ${pldWorst.toFixed(4)} behind the baseline; SBLD's worst ${sbldWorst.toFixed(4)}.`);
console.log(
  over.length === 0
    ? `check met: no SBLD seed ends further behind than PLD's worst (${seeds.length} seeds)`
    : `check NOT met: SBLD seed(s) ${over.join(', ')} end further behind than PLD's worst (${seeds.length} seeds)`,
);
