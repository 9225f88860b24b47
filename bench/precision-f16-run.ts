/**
 * One f16 run of bench/precision-quality.sh with the output head's precision set explicitly (the adapter's
 * `headInF32` choice forced, src/runtime/choice.ts), whatever the default is: HEAD f16 makes every matmul f16
 * (what `--precision f16` did before the head was kept f32 by default), HEAD f32 keeps GPT's tied head (the
 * logits) f32. Otherwise the quality script's settings (preset small, policy none, only the last checkpoint,
 * no sample).
 * Run: npx tsx bench/precision-f16-run.ts HEAD SEED STEPS OUT
 */
import { Engine } from '../src/runtime/engine.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { runTraining } from '../src/tasks/gpt/run.js';

const [head, seed, steps, out] = process.argv.slice(2);
if ((head !== 'f16' && head !== 'f32') || !seed || !steps || !out) throw new Error('usage: npx tsx bench/precision-f16-run.ts f16|f32 SEED STEPS OUT');
const cfg = resolveConfig({}, { preset: 'small', steps: Number(steps), seed: Number(seed), out, precision: 'f16', sampleTokens: 0, checkpointEvery: 0, drop: { policy: 'none' } });
const e = await Engine.create();
e.choice.force('headInF32', head === 'f32');
const s = await runTraining(cfg, { engine: e, overwrite: true, plain: true });
console.log(JSON.stringify({ ...s, losses: undefined, head_precision: head }));
e.destroy();
