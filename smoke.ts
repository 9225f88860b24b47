import { runTraining } from './src/train/run.js';
import { resolveConfig } from './src/train/config.js';
const cfg = resolveConfig({}, { preset: (process.argv[2] ?? 'small') as 'small', steps: Number(process.argv[3] ?? 20), evalEvery: 0, out: '/tmp/run-smoke2', sampleTokens: 0, checkpointEvery: 0, drop: { policy: 'none' } });
const s = await runTraining(cfg, { plain: true, quiet: true });
console.log(JSON.stringify({ ...s, losses: s.losses.map((x) => +x.toFixed(3)) }));
