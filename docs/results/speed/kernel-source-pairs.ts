// kernels/matmul_subgroup.wgsl at git revision OLD (default HEAD) against the working tree, their f16 twins as the
// registry makes them (src/runtime/kernels.ts; OLD's source through today's twin rules), at the GPT `small` linears'
// shapes: R calls per round, rounds alternating old/new, medians of wall and process CPU ms per call and of the
// per-round ratios, and whether the two outputs are bit-identical.
// `OLD=rev [LAYOUT=nn|tb|ta] [OLD_COLS=32] [NEW_COLS=32] npx tsx docs/results/speed/kernel-source-pairs.ts [rounds]
// [calls] [entry point]`. LAYOUT nn: the forward (a (M, K), w (K, N), with a bias); tb: dA (w stored (N, K)); ta: dW
// (a stored (K, M)). OLD_COLS / NEW_COLS: the columns of out per workgroup of each side (the grid; 16 rows).
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { acquireGpu } from '../../../src/runtime/device.js';
import { f16Twin } from '../../../src/runtime/kernels.js';
const gpu = await acquireGpu();
const dev = gpu.device;
const twin = (s: string) => f16Twin('matmul_subgroup.wgsl', s)!.source;
const oldRev = process.env.OLD ?? 'HEAD';
const oldSrc = twin(execSync(`git show ${oldRev}:kernels/matmul_subgroup.wgsl`).toString());
const newSrc = twin(readFileSync('kernels/matmul_subgroup.wgsl', 'utf8'));
const pairs = Number(process.argv[2] ?? 15), R = Number(process.argv[3] ?? 10);
const entry = process.argv[4] ?? 'matmul_subgroup';
const layout = process.env.LAYOUT ?? 'nn';
const cols = { old: Number(process.env.OLD_COLS ?? 32), new: Number(process.env.NEW_COLS ?? 32) };
const [transA, transB] = [layout === 'ta', layout === 'tb'];
// (M, K, N) of out = op(a) @ op(w): per layer of `small` (B T = 1024, C = 128).
const shapes: [number, number, number][] = {
  nn: [[1024, 128, 384], [1024, 128, 512], [1024, 512, 128]] as [number, number, number][], // qkv, fc, fc2 forward
  tb: [[1024, 384, 128], [1024, 512, 128], [1024, 128, 512]] as [number, number, number][], // qkv, fc, fc2 dA
  ta: [[128, 1024, 384], [128, 1024, 512], [512, 1024, 128]] as [number, number, number][], // qkv, fc, fc2 dW
}[layout]!;
const bias = layout === 'nn' ? 1 : 0;
function pipe(code: string) {
  const m = dev.createShaderModule({ code });
  return dev.createComputePipeline({ layout: 'auto', compute: { module: m, entryPoint: `${entry}_f16`, constants: { TRANS_B: transB ? 1 : 0, TRANS_A: transA ? 1 : 0 } } });
}
const variants = { old: pipe(oldSrc), new: pipe(newSrc) } as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
console.log(`old ${execSync(`git rev-parse --short ${oldRev}`).toString().trim()} (${cols.old} columns per workgroup), new: the working tree (${cols.new}); ${entry}_f16, layout ${layout}`);
for (const [M, K, N] of shapes) {
  const mk = (bytes: number) => dev.createBuffer({ size: bytes, usage: S });
  const params = dev.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  dev.queue.writeBuffer(params, 0, new Uint32Array([M, N, K, 0, 0, 0, bias, 0]));
  const a16 = mk(M * K * 2), w16 = mk(K * N * 2), b = mk(N * 4);
  const outs = { old: mk(M * N * 4), new: mk(M * N * 4) }, pres = { old: mk(M * N * 4), new: mk(M * N * 4) }, acts = { old: mk(M * N * 2), new: mk(M * N * 2) };
  const f16bits = (n: number) => Uint16Array.from({ length: n }, () => 0x3000 + Math.floor(Math.random() * 0x800));
  dev.queue.writeBuffer(a16, 0, f16bits(M * K)); dev.queue.writeBuffer(w16, 0, f16bits(K * N));
  dev.queue.writeBuffer(b, 0, Float32Array.from({ length: N }, () => Math.random()));
  const groups = (name: keyof typeof variants) => {
    const bufs = entry.endsWith('gelu') ? [params, a16, w16, b, null, pres[name], acts[name]] : [params, a16, w16, b, outs[name]];
    return dev.createBindGroup({ layout: variants[name].getBindGroupLayout(0), entries: bufs.map((buffer, binding) => buffer && ({ binding, resource: { buffer } })).filter((x) => x) as GPUBindGroupEntry[] });
  };
  const bgs = { old: groups('old'), new: groups('new') };
  const run = async (name: keyof typeof variants) => {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    const enc = dev.createCommandEncoder();
    for (let i = 0; i < R; i++) { const p = enc.beginComputePass(); p.setPipeline(variants[name]); p.setBindGroup(0, bgs[name]); p.dispatchWorkgroups(Math.ceil(N / cols[name]), Math.ceil(M / 16), 1); p.end(); }
    dev.queue.submit([enc.finish()]); await dev.queue.onSubmittedWorkDone();
    const c = process.cpuUsage(c0); return { wall: (performance.now() - t0) / R, cpu: (c.user + c.system) / 1000 / R };
  };
  const read = async (buf: GPUBuffer, bytes: number) => {
    const r = dev.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, r, 0, bytes);
    dev.queue.submit([enc.finish()]);
    await r.mapAsync(GPUMapMode.READ);
    return new Uint32Array(r.getMappedRange().slice(0));
  };
  const names = ['old', 'new'] as const;
  for (const n of names) await run(n);
  const result = (n: 'old' | 'new') => (entry.endsWith('gelu') ? read(pres[n], M * N * 4) : read(outs[n], M * N * 4));
  const [ro, rn] = [await result('old'), await result('new')];
  const identical = ro.every((x, i) => x === rn[i]);
  const res: Record<string, { wall: number; cpu: number }[]> = { old: [], new: [] };
  for (let i = 0; i < pairs; i++) { const order = i % 2 ? [...names].reverse() : names; for (const n of order) res[n]!.push(await run(n)); }
  const line = names.map((n) => `${n} ${median(res[n]!.map((x) => x.wall)).toFixed(3)} ms wall ${median(res[n]!.map((x) => x.cpu)).toFixed(3)} cpu`).join(', ');
  const ratioC = median(res.old!.map((x, i) => x.cpu / res.new![i]!.cpu)).toFixed(3);
  const ratioW = median(res.old!.map((x, i) => x.wall / res.new![i]!.wall)).toFixed(3);
  const wins = res.old!.filter((x, i) => x.cpu > res.new![i]!.cpu).length;
  console.log(`${M}x${K}x${N}: ${line}; per-round old/new wall ${ratioW} cpu ${ratioC}, new faster by cpu in ${wins}/${pairs}; outputs bit-identical: ${identical}`);
}
gpu.destroy();
process.exit(0);
