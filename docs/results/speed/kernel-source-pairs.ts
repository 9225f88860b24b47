// kernels/matmul_subgroup.wgsl at git revision OLD (default HEAD) against the working tree, their f16 twins as the registry
// makes them (src/runtime/kernels.ts; OLD's source through today's twin rules),
// with a bias, the forward layouts of the GPT `small` linears: R calls per round, rounds alternating old/new, medians of
// wall and process CPU ms per call and of the per-round ratios. `OLD=rev npx tsx docs/results/speed/kernel-source-pairs.ts
// [rounds] [calls] [entry point]`.
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { acquireGpu } from '../../../src/runtime/device.js';
import { f16Twin } from '../../../src/runtime/kernels.js';
const gpu = await acquireGpu();
const dev = gpu.device;
const twin = (s: string) => f16Twin('matmul_subgroup.wgsl', s)!.source;
const oldSrc = twin(execSync(`git show ${process.env.OLD ?? 'HEAD'}:kernels/matmul_subgroup.wgsl`).toString());
const newSrc = twin(readFileSync('kernels/matmul_subgroup.wgsl', 'utf8'));
const pairs = Number(process.argv[2] ?? 15), R = Number(process.argv[3] ?? 10);
const entry = process.argv[4] ?? 'matmul_subgroup';
const shapes: [number, number, number][] = [[1024, 128, 384], [1024, 128, 512], [1024, 512, 128]];
function pipe(code: string) {
  const m = dev.createShaderModule({ code });
  return dev.createComputePipeline({ layout: 'auto', compute: { module: m, entryPoint: `${entry}_f16`, constants: { TRANS_B: 0, TRANS_A: 0 } } });
}
const variants = { old: pipe(oldSrc), new: pipe(newSrc) } as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
for (const [M, K, N] of shapes) {
  const mk = (bytes: number) => dev.createBuffer({ size: bytes, usage: S });
  const params = dev.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  dev.queue.writeBuffer(params, 0, new Uint32Array([M, N, K, 0, 0, 0, 1, 0]));
  const a16 = mk(M * K * 2), w16 = mk(K * N * 2), bias = mk(N * 4), out = mk(M * N * 4), pre = mk(M * N * 4), act = mk(M * N * 2);
  const f16bits = (n: number) => Uint16Array.from({ length: n }, () => 0x3000 + Math.floor(Math.random() * 0x800));
  dev.queue.writeBuffer(a16, 0, f16bits(M * K)); dev.queue.writeBuffer(w16, 0, f16bits(K * N));
  dev.queue.writeBuffer(bias, 0, Float32Array.from({ length: N }, () => Math.random()));
  const bufs = entry.endsWith('gelu') ? [params, a16, w16, bias, null, pre, act] : [params, a16, w16, bias, out];
  const groups = (name: keyof typeof variants) => dev.createBindGroup({ layout: variants[name].getBindGroupLayout(0), entries: bufs.map((buffer, binding) => buffer && ({ binding, resource: { buffer } })).filter((x) => x) as GPUBindGroupEntry[] });
  const bgs = { old: groups('old'), new: groups('new') };
  const run = async (name: keyof typeof variants) => {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    const enc = dev.createCommandEncoder();
    for (let i = 0; i < R; i++) { const p = enc.beginComputePass(); p.setPipeline(variants[name]); p.setBindGroup(0, bgs[name]); p.dispatchWorkgroups(Math.ceil(N / 32), Math.ceil(M / 16), 1); p.end(); }
    dev.queue.submit([enc.finish()]); await dev.queue.onSubmittedWorkDone();
    const c = process.cpuUsage(c0); return { wall: (performance.now() - t0) / R, cpu: (c.user + c.system) / 1000 / R };
  };
  const names = ['old', 'new'] as const;
  for (const n of names) await run(n);
  const res: Record<string, { wall: number; cpu: number }[]> = { old: [], new: [] };
  for (let i = 0; i < pairs; i++) { const order = i % 2 ? [...names].reverse() : names; for (const n of order) res[n]!.push(await run(n)); }
  const line = names.map((n) => `${n} ${median(res[n]!.map((x) => x.wall)).toFixed(3)} ms wall ${median(res[n]!.map((x) => x.cpu)).toFixed(3)} cpu`).join(', ');
  const ratioC = median(res.old!.map((x, i) => x.cpu / res.new![i]!.cpu)).toFixed(3);
  const ratioW = median(res.old!.map((x, i) => x.wall / res.new![i]!.wall)).toFixed(3);
  const wins = res.old!.filter((x, i) => x.cpu > res.new![i]!.cpu).length;
  console.log(`${entry} ${M}x${K}x${N}: ${line}; per-round old/new wall ${ratioW} cpu ${ratioC}, new faster by cpu in ${wins}/${pairs}`);
}
gpu.destroy();
process.exit(0);
