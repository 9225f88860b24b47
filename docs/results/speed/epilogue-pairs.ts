/**
 * The two epilogue fusions at the kernel level, paired: preset `small`'s shapes (B*T = 1024 rows, C = 128), each
 * case's fused call and the unfused calls it replaces alternating (in alternating order), R calls per side
 * recorded into one encoder then synced, timed by wall clock and by process CPU time (lavapipe's threads
 * included). The median of the per-pair ratios unfused / fused is what a busy host disturbs least.
 *   fc + gelu:        linear_gelu_forward        vs gemm, then gelu_forward               (1024 x 128 -> 512)
 *   proj + residual:  linear_residual_forward    vs gemm, then residual_forward           (1024 x 128 -> 128)
 *   fc2 + residual:   the same                                                             (1024 x 512 -> 128)
 * Run from this checkout's root: npx tsx docs/results/speed/epilogue-pairs.ts [pairs] [R]
 */
import { machineLoad } from '../../../bench/util.js';
import { gelu_forward } from '../../../src/ops/gelu.js';
import { linear_gelu_forward } from '../../../src/ops/linear_gelu.js';
import { linear_residual_forward } from '../../../src/ops/linear_residual.js';
import { gemm } from '../../../src/ops/matmul.js';
import { residual_forward } from '../../../src/ops/residual.js';
import { Engine } from '../../../src/runtime/engine.js';
import type { Tensor } from '../../../src/runtime/tensor.js';

const pairs = Number(process.argv[2] ?? 30);
const R = Number(process.argv[3] ?? 5);
const e = await Engine.create();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let seed = 1;
function random(shape: number[], std = 1): Tensor {
  const t = e.persistent(shape, 'f32', 'x');
  const d = new Float32Array(t.size);
  for (let i = 0; i < d.length; i++) d[i] = std * (((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
  e.write(t, d);
  return t;
}

const M = 1024;
const C = 128;
interface Case { name: string; fused: () => void; separate: () => void }
function linearCase(name: string, K: number, N: number, kind: 'gelu' | 'residual'): Case {
  const a = random([M, K]);
  const w = random([K, N], 0.05);
  const bias = random([N], 0.02);
  const h = random([M, N]);
  const out = random([M, N]);
  const tmp = random([M, N]);
  const d = { batch: 1, M, N, K };
  if (kind === 'gelu') {
    return { name, fused: () => linear_gelu_forward(e, out, tmp, a, w, bias), separate: () => (gemm(e, tmp, a, w, bias, d), gelu_forward(e, out, tmp)) };
  }
  return { name, fused: () => linear_residual_forward(e, out, h, a, w, bias), separate: () => (gemm(e, tmp, a, w, bias, d), residual_forward(e, out, h, tmp)) };
}

const cases = [linearCase('fc + gelu 1024x128->512', C, 4 * C, 'gelu'), linearCase('proj + residual 1024x128->128', C, C, 'residual'), linearCase('fc2 + residual 1024x512->128', 4 * C, C, 'residual')];

async function timed(fn: () => void): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < R; i++) fn();
  await e.sync();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / R, cpu: (c.user + c.system) / 1000 / R };
}

console.log(`${pairs} pairs of ${R} calls per side; load average ${machineLoad().load1.toFixed(2)} before`);
for (const c of cases) {
  await timed(c.fused);
  await timed(c.separate); // warm-up: pipelines, bind groups
  const f: { wall: number; cpu: number }[] = [];
  const s: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) { f.push(await timed(c.fused)); s.push(await timed(c.separate)); }
    else { s.push(await timed(c.separate)); f.push(await timed(c.fused)); }
  }
  const ratio = (k: 'wall' | 'cpu') => median(f.map((x, i) => s[i]![k] / x[k]));
  const wins = (k: 'wall' | 'cpu') => f.filter((x, i) => x[k] < s[i]![k]).length;
  console.log(
    `${c.name.padEnd(30)} ms/call fused ${median(f.map((x) => x.wall)).toFixed(2)} (cpu ${median(f.map((x) => x.cpu)).toFixed(2)}), ` +
      `unfused ${median(s.map((x) => x.wall)).toFixed(2)} (cpu ${median(s.map((x) => x.cpu)).toFixed(2)}); per-pair unfused / fused: wall ${ratio('wall').toFixed(3)}, cpu ${ratio('cpu').toFixed(3)}; ` +
      `fused faster in ${wins('wall')} (wall) / ${wins('cpu')} (cpu) of ${pairs} pairs`,
  );
}
console.log(`load average ${machineLoad().load1.toFixed(2)} after`);
e.destroy();
