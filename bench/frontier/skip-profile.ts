/**
 * `npx tsx bench/frontier/skip-profile.ts DIR`: which layers each dropping policy of a frontier study skipped.
 * For every policy and budget it prints, per layer, the fraction of the run's layer-steps (over all micro-batches
 * and seeds) in which that layer was skipped, read from the `layers` bit strings of metrics.jsonl, and then the
 * Pearson correlation between every two policies' profiles at the same budget. Two policies that skip the same
 * layers as often spend their compute alike, whatever their rules say.
 */
import { finishedRuns } from './finished-runs.js';

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

const dir = process.argv[2];
if (!dir) throw new Error('usage: npx tsx bench/frontier/skip-profile.ts DIR (a frontier --out folder)');
/** budget -> policy -> per-layer skip fraction. */
const profiles = new Map<number, Map<string, number[]>>();
const runs = finishedRuns(dir).filter((r) => r.policy !== 'none');
for (const key of new Set(runs.map((r) => `${r.policy} ${r.budget}`))) {
  const [policy, budget] = [key.split(' ')[0]!, Number(key.split(' ')[1])];
  let skipped: number[] = [];
  let count = 0;
  for (const r of runs.filter((x) => x.policy === policy && x.budget === budget)) {
    for (const s of r.metrics.steps) {
      for (const bits of s.layers.split(' ')) {
        if (skipped.length === 0) skipped = new Array<number>(bits.length).fill(0);
        for (let l = 0; l < bits.length; l++) if (bits[l] === '0') skipped[l]! += 1;
        count++;
      }
    }
  }
  if (!profiles.has(budget)) profiles.set(budget, new Map());
  profiles.get(budget)!.set(policy, skipped.map((x) => x / count));
}
if (profiles.size === 0) throw new Error(`${dir}: no finished dropping runs`);

for (const [budget, byPolicy] of profiles) {
  const policies = [...byPolicy.keys()];
  const layers = byPolicy.get(policies[0]!)!.length;
  console.log(`budget ${budget}: fraction of layer-steps each layer was skipped (layer 0 first)`);
  console.log(`layer | ${policies.join(' | ')}`);
  for (let l = 0; l < layers; l++) console.log(`${l} | ${policies.map((p) => byPolicy.get(p)![l]!.toFixed(3)).join(' | ')}`);
  for (let i = 0; i < policies.length; i++) {
    for (let j = i + 1; j < policies.length; j++) {
      const r = pearson(byPolicy.get(policies[i]!)!, byPolicy.get(policies[j]!)!);
      console.log(`correlation ${policies[i]} vs ${policies[j]}: ${r.toFixed(3)}`);
    }
  }
}
