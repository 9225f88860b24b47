/**
 * One run of the f16 ablation in bench/precision-quality.sh: f16 mixed precision with the output head (GPT's
 * tied head: the logits) kept f32, the adapter's `headInF32` choice forced on (src/runtime/choice.ts); otherwise
 * the quality script's settings (preset small, policy none, no checkpoints but the last, no sample).
 * Run: npx tsx bench/precision-head-f32.ts SEED STEPS OUT
 */
import { Engine } from '../src/runtime/engine.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { runTraining } from '../src/tasks/gpt/run.js';

const [seed, steps, out] = process.argv.slice(2);
if (!seed || !steps || !out) throw new Error('usage: npx tsx bench/precision-head-f32.ts SEED STEPS OUT');
const cfg = resolveConfig({}, { preset: 'small', steps: Number(steps), seed: Number(seed), out, precision: 'f16', sampleTokens: 0, checkpointEvery: 0, drop: { policy: 'none' } });
const e = await Engine.create();
e.choice.force('headInF32', true);
const s = await runTraining(cfg, { engine: e, overwrite: true, plain: true });
console.log(JSON.stringify({ ...s, losses: undefined, head_in_f32: true }));
e.destroy();
