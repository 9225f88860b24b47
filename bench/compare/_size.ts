import { resolveConfig } from '../../src/train/config.js';
import { runTraining } from '../../src/train/run.js';
import { readFileSync } from 'node:fs';
for (const policy of ['none', 'pld'] as const) {
  const cfg = resolveConfig({}, { preset: 'deep', steps: 600, evalEvery: 0, evalBatches: 8, checkpointEvery: 0, sampleTokens: 0, out: `/tmp/cmpsize/${policy}`, drop: { policy } });
  const t0 = performance.now();
  await runTraining(cfg, { quiet: true, stopAfter: 25 });
  const lines = readFileSync(`/tmp/cmpsize/${policy}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const ms = lines.filter((l) => l.ms).map((l) => l.ms);
  console.log(policy, 'wall', ((performance.now() - t0) / 1000).toFixed(1), 'ms/step', ms.map((m: number) => m.toFixed(0)).join(' '));
  console.log(lines.filter((l) => l.type === 'summary').map((l) => JSON.stringify(l)).join('\n'));
}
