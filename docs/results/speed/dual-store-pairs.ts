/**
 * f16 operands from their producers against a cast after: each producer kernel that stores an f16 copy of what it
 * writes (the dual stores of f16 mixed precision) against the plain kernel followed by cast_to_f16, at the GPT
 * `small` preset's shapes (B 16, T 64, C 128, NH 4): GELU's backward (1024 x 512), the residual add's backward
 * (1024 x 128), attention forward and backward, and a layer's AdamW update with its 4 weights' copies.
 * `npx tsx docs/results/speed/dual-store-pairs.ts [rounds]`: R calls per variant per round, variants in alternating
 * order; medians over rounds of wall and process CPU ms per call. Run with the machine to itself.
 */
import { availableParallelism, loadavg } from 'node:os';
import { adamw_update, writeStepScalars, type OptimBlock } from '../../../src/ops/adamw.js';
import { attention_backward, attention_forward } from '../../../src/ops/attention.js';
import { cast_to_f16 } from '../../../src/ops/cast.js';
import { gelu_backward } from '../../../src/ops/gelu.js';
import { halfCopyOf } from '../../../src/ops/half-weights.js';
import { residual_backward } from '../../../src/ops/residual.js';
import { Engine } from '../../../src/runtime/engine.js';
import { Tensor } from '../../../src/runtime/tensor.js';

const e = await Engine.create();
e.choice.force('precision', 'f16');
const R = 10;
const rounds = Number(process.argv[2] ?? 15);
const filled = (k: number, scale = 1) => {
  const t = e.persistent([k], 'f32');
  e.write(t, Float32Array.from({ length: k }, () => (Math.random() - 0.5) * scale));
  return t;
};
const half = (k: number) => e.persistent([k], 'f16');
const [B, T, C, NH] = [16, 64, 128, 4];
const shaped = (t: Tensor, shape: number[]) => new Tensor(t.buffer, shape, t.dtype, 0, t.label);

const n = B * T * 4 * C;
const [x, dout, dx, dxh] = [filled(n), filled(n), filled(n), half(n)];
const m = B * T * C;
const [d2, dh, db, dbh] = [filled(m), filled(m), filled(m), half(m)];
const qkv = shaped(filled(3 * m), [B, T, 3 * C]);
const [out, outh, lse] = [shaped(filled(m), [B, T, C]), shaped(half(m), [B, T, C]), shaped(filled(B * NH * T), [B, NH, T])];
const [dout3, dqkv, dqkvh] = [shaped(filled(m), [B, T, C]), shaped(filled(3 * m), [B, T, 3 * C]), shaped(half(3 * m), [B, T, 3 * C])];
attention_forward(e, out, lse, qkv, B, T, C, NH, true);
// A layer's block: qkv, proj, fc, fc2 weights first (their f16 copies in the block's mirror), then the rest.
const sizes = [C * 3 * C, C * C, C * 4 * C, 4 * C * C];
const nBlock = sizes.reduce((a, b) => a + b) + 10 * C;
const block = (label: string): OptimBlock => ({ params: filled(nBlock), grads: filled(nBlock, 0.01), m: filled(nBlock, 0.001), v: filled(nBlock, 0), decayCount: nBlock - 10 * C });
const [withCopies, plainBlock] = [block('dual'), block('plain')];
const views = (b: OptimBlock) => sizes.map((s, i) => new Tensor(b.params.buffer, [s], 'f32', 4 * sizes.slice(0, i).reduce((a, c) => a + c, 0), `w${i}`, true));
const copyViews = views(withCopies);
const castCopies = views(plainBlock).map((w) => ({ w, h: half(w.size) }));
copyViews.forEach((w) => halfCopyOf(e, w)); // the mirror exists: adamw_update now writes it
const stepScalars = e.persistent([4], 'f32');
writeStepScalars(e, stepScalars, [{ lr: 1e-3, step: 5 }], 0.9, 0.95);
const clip = filled(4);
e.write(clip, new Float32Array([1, 0, 0, 0]));
const hp = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

const pairs: Record<string, [() => void, () => void]> = {
  'gelu backward (1024 x 512)': [() => (gelu_backward(e, dx, false, x, dout), cast_to_f16(e, dxh, dx)), () => gelu_backward(e, dx, false, x, dout, dxh)],
  'residual backward (1024 x 128)': [
    () => (residual_backward(e, dh, false, db, false, d2, 1), cast_to_f16(e, dbh, db)),
    () => residual_backward(e, dh, false, db, false, d2, 1, dbh),
  ],
  'attention forward': [() => (attention_forward(e, out, lse, qkv, B, T, C, NH, true), cast_to_f16(e, outh, out)), () => attention_forward(e, out, lse, qkv, B, T, C, NH, true, outh)],
  'attention backward': [
    () => (attention_backward(e, dqkv, false, qkv, out, dout3, lse, B, T, C, NH, true), cast_to_f16(e, dqkvh, dqkv)),
    () => attention_backward(e, dqkv, false, qkv, out, dout3, lse, B, T, C, NH, true, dqkvh),
  ],
  "AdamW, a layer's block + its 4 weights' copies": [
    () => (adamw_update(e, plainBlock, stepScalars, 0, clip, hp), castCopies.forEach(({ w, h }) => cast_to_f16(e, h, w))),
    () => adamw_update(e, withCopies, stepScalars, 0, clip, hp),
  ],
};
const run = async (fn: () => void) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < R; i++) fn();
  await e.sync();
  e.resetArena();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / R, cpu: (c.user + c.system) / 1000 / R };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores; ${rounds} rounds of ${R} calls per variant`);
for (const [name, [cast, dual]] of Object.entries(pairs)) {
  await run(cast);
  await run(dual);
  const res = { cast: [] as { wall: number; cpu: number }[], dual: [] as { wall: number; cpu: number }[] };
  for (let i = 0; i < rounds; i++) {
    for (const k of i % 2 ? (['dual', 'cast'] as const) : (['cast', 'dual'] as const)) res[k].push(await run(k === 'cast' ? cast : dual));
  }
  const w = (k: 'cast' | 'dual') => median(res[k].map((r) => r.wall));
  const c = (k: 'cast' | 'dual') => median(res[k].map((r) => r.cpu));
  const faster = res.cast.filter((r, i) => r.cpu > res.dual[i]!.cpu).length;
  console.log(`${name}: plain + cast ${w('cast').toFixed(3)} ms wall / ${c('cast').toFixed(3)} cpu, dual ${w('dual').toFixed(3)} / ${c('dual').toFixed(3)}: ${(w('cast') / w('dual')).toFixed(2)}x wall, ${(c('cast') / c('dual')).toFixed(2)}x cpu; dual faster by cpu in ${faster} of ${rounds} rounds`);
}
console.log(`load average ${loadavg()[0]!.toFixed(2)} after`);
process.exit(0);
