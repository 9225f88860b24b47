/**
 * The GEMM kernels side by side: `npx tsx bench/variants/matmul.ts [--trials N] [--target-ms MS] [--quick]`.
 *
 * Kernels (src/ops/matmul.ts picks one per dispatch; here each is forced with useMatmulKernel):
 *   matmul_forward   register tiles, 4 x 4 per invocation, any size: the kernel every GEMM used before, now the
 *                    general path for sizes that are not multiples of 4 on CPU adapters
 *   matmul_subgroup  CPU adapters: 16 x 32 tiles per 8-lane subgroup, op(a) shared by subgroupBroadcast, vec4 loads
 *   matmul_tiled     GPUs: 64 x 64 workgroup-memory tiles (slow on llvmpipe by design; here for completeness)
 * and numpy's sgemm (OpenBLAS) at 1024^3 when `python3 -c 'import numpy'` works.
 *
 * Shapes: 1024^3 in each transpose combination; then one training step of the default GPT (preset `small`:
 * L4 C128 NH4 T64 B16 V256, so M = B*T = 1024): per layer the forward, dA = dY W^T and dW += A^T dY of qkv,
 * attn proj, fc and mlp proj, and the tied head's logits = x wte^T, dx = dlogits wte, dwte += dlogits^T x, exactly
 * as `matmul()` records them. The summary adds up one step's GEMMs (layer rows x L) per kernel.
 *
 * Method: operands are created and filled outside the timed region, and every kernel runs once untimed per shape
 * (late pipeline compile, bind groups). Per shape, R calls per trial (so a trial lasts about --target-ms); the
 * kernels' trials are interleaved (trial 1 of each kernel, then trial 2 ...) so that load from other processes
 * hits them alike, and numpy's 1024^3 trials are interleaved with the 1024^3 NN trials. A trial records R calls in
 * one command encoder and awaits `e.sync()`. Reported: the median over trials of wall ms per call, GFLOP/s from it
 * (2 M N K flops), the trials' spread, and "cpu GF/s": flops over (process CPU time / cores), i.e. what the wall
 * rate would be with the cores to ourselves. On a shared machine (see the load average printed first) wall times
 * stretch with the load while CPU time mostly does not; compare kernels within a row.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { gemm, matmulKernelFor, useMatmulKernel, type GemmDims, type GemmFlags, type MatmulKernel } from '../../src/ops/matmul.js';
import { PRESETS } from '../../src/tasks/gpt/presets.js';
import { Engine } from '../../src/runtime/engine.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { describeMachine, fmt, machineLoad, median, pct, spread, Table, timedTrial } from '../util.js';

const args = process.argv.slice(2);
const argValue = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const QUICK = args.includes('--quick');
const TRIALS = argValue('--trials', QUICK ? 3 : 5);
const TARGET_MS = argValue('--target-ms', QUICK ? 20 : 60);
const CORES = availableParallelism();

const KERNELS: MatmulKernel[] = ['matmul_forward', 'matmul_subgroup', 'matmul_tiled'];

interface Case {
  group: string;
  what: string;
  dims: GemmDims;
  flags: GemmFlags;
  bias: boolean;
  /** Times this GEMM runs per training step. */
  perStep: number;
}

function combo(f: GemmFlags): string {
  return `${f.transA ? 'T' : 'N'}${f.transB ? 'T' : 'N'}`;
}

/** The three GEMMs of y (M, N) = x (M, K) @ W (+ bias), W stored (K, N) (or (N, K) with transB), as matmul() runs them. */
function linearCases(what: string, M: number, K: number, N: number, perStep: number, transB = false, bias = true): Case[] {
  return [
    { group: 'gpt', what: `${what} fwd`, dims: { batch: 1, M, N, K }, flags: { transB }, bias, perStep },
    { group: 'gpt', what: `${what} dA`, dims: { batch: 1, M, N: K, K: N }, flags: { transB: !transB, accumulate: false }, bias: false, perStep },
    transB
      ? { group: 'gpt', what: `${what} dW`, dims: { batch: 1, M: N, N: K, K: M }, flags: { transA: true, accumulate: true }, bias: false, perStep }
      : { group: 'gpt', what: `${what} dW`, dims: { batch: 1, M: K, N, K: M }, flags: { transA: true, accumulate: true }, bias: false, perStep },
  ];
}

function cases(): Case[] {
  const p = PRESETS.small;
  const M = p.batchSize * p.seqLen;
  const C = p.n_embd;
  const V = 256;
  const L = p.n_layer;
  const square: Case[] = [];
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      square.push({ group: 'square', what: '1024^3', dims: { batch: 1, M: 1024, N: 1024, K: 1024 }, flags: { transA, transB }, bias: false, perStep: 0 });
    }
  return [
    ...(QUICK ? square.slice(0, 1) : square),
    ...linearCases('qkv', M, C, 3 * C, L),
    ...linearCases('attn proj', M, C, C, L),
    ...linearCases('fc', M, C, 4 * C, L),
    ...linearCases('mlp proj', M, 4 * C, C, L),
    ...linearCases('head', M, C, V, 1, true, false),
  ];
}

function filled(e: Engine, n: number, seed: number, label: string): Tensor {
  const t = e.persistent([n], 'f32', label);
  const rng = new Rng(seed);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform() * 2 - 1;
  e.write(t, data);
  return t;
}

interface Sample {
  wallMs: number[];
  cpuMs: number[];
}

/** numpy's float32 GEMM at n^3: per run, the median of `reps` calls' wall and process CPU time (ms), or null. */
function numpyTrial(n: number, reps: number): { wall: number; cpu: number } | null {
  const script = [
    'import time, numpy as np',
    `n, reps = ${n}, ${reps}`,
    'rng = np.random.default_rng(0)',
    'a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)',
    'a @ b',
    'w, c = [], []',
    'for _ in range(reps):',
    '    t0, c0 = time.perf_counter(), time.process_time()',
    '    a @ b',
    '    w.append(time.perf_counter() - t0); c.append(time.process_time() - c0)',
    'print(sorted(w)[len(w) // 2] * 1e3, sorted(c)[len(c) // 2] * 1e3)',
  ].join('\n');
  // OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set for another tool on this machine; OpenBLAS must detect the CPU.
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('python3', ['-c', script], { env, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return null;
  const [wall, cpu] = r.stdout.trim().split(/\s+/).map(Number);
  return Number.isFinite(wall) && Number.isFinite(cpu) ? { wall: wall!, cpu: cpu! } : null;
}

async function main(): Promise<void> {
  const e = await Engine.create();
  console.log(`# GEMM kernels: ${describeMachine(e)}; ${TRIALS} interleaved trials of ~${TARGET_MS} ms per kernel and shape`);
  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
  const table = new Table([
    { title: 'shape', width: 16 },
    { title: 'op', width: 2 },
    { title: 'M x N x K', width: 18 },
    { title: 'kernel', width: 15 },
    { title: 'ms', width: 8, right: true },
    { title: 'GFLOP/s', width: 7, right: true },
    { title: 'cpu GF/s', width: 8, right: true },
    { title: 'spread', width: 6, right: true },
    { title: 'x before', width: 8, right: true },
  ]);
  table.header();
  const stepMs = new Map<MatmulKernel, number>();
  let numpySquare: { wall: number; cpu: number } | null = null;
  const squareNN = new Map<MatmulKernel, number>();

  for (const c of cases()) {
    const { M, N, K } = c.dims;
    const flops = 2 * M * N * K;
    const a = filled(e, M * K, 1, 'a');
    const w = filled(e, K * N, 2, 'w');
    const bias = c.bias ? filled(e, N, 3, 'bias') : null;
    const out = filled(e, M * N, 4, 'out');
    const record = new Map<MatmulKernel, () => void>();
    for (const k of KERNELS) {
      record.set(k, () => {
        useMatmulKernel(e, k);
        gemm(e, out, a, w, bias, c.dims, c.flags);
      });
    }
    // Untimed: compile, bind groups; size R per kernel from one call.
    const reps = new Map<MatmulKernel, number>();
    for (const k of KERNELS) {
      await timedTrial(e, record.get(k)!, 1);
      const once = (await timedTrial(e, record.get(k)!, 1)).wall;
      reps.set(k, Math.max(1, Math.min(50, Math.ceil(TARGET_MS / Math.max(once, 1e-3)))));
    }
    const samples = new Map<MatmulKernel, Sample>(KERNELS.map((k) => [k, { wallMs: [], cpuMs: [] }]));
    const isSquareNN = c.group === 'square' && !c.flags.transA && !c.flags.transB;
    const numpyRuns: { wall: number; cpu: number }[] = [];
    for (let t = 0; t < TRIALS; t++) {
      for (const k of KERNELS) {
        const r = await timedTrial(e, record.get(k)!, reps.get(k)!);
        samples.get(k)!.wallMs.push(r.wall);
        samples.get(k)!.cpuMs.push(r.cpu);
      }
      if (isSquareNN && hasNumpy) {
        const r = numpyTrial(1024, 5);
        if (r) numpyRuns.push(r);
      }
    }
    useMatmulKernel(e, null);
    const before = median(samples.get('matmul_forward')!.wallMs);
    for (const k of KERNELS) {
      const s = samples.get(k)!;
      const ms = median(s.wallMs);
      const cpuMs = median(s.cpuMs) / CORES;
      const actual = forcedKernelRuns(e, k, c, [a, w, out]);
      table.row([
        `${c.what}`,
        combo(c.flags),
        `${M} x ${N} x ${K}`,
        actual === k ? k : `${k}->${actual}`,
        fmt(ms, 2),
        fmt(flops / ms / 1e6, 2),
        fmt(flops / cpuMs / 1e6, 2),
        pct(spread(s.wallMs), 0),
        fmt(before / ms, 2),
      ]);
      if (c.perStep) stepMs.set(k, (stepMs.get(k) ?? 0) + c.perStep * ms);
      if (isSquareNN) squareNN.set(k, ms);
    }
    if (numpyRuns.length) {
      numpySquare = { wall: median(numpyRuns.map((r) => r.wall)), cpu: median(numpyRuns.map((r) => r.cpu)) / CORES };
      table.row([
        c.what,
        combo(c.flags),
        `${M} x ${N} x ${K}`,
        'numpy sgemm',
        fmt(numpySquare.wall, 2),
        fmt(flops / numpySquare.wall / 1e6, 2),
        fmt(flops / numpySquare.cpu / 1e6, 2),
        pct(spread(numpyRuns.map((r) => r.wall)), 0),
        fmt(before / numpySquare.wall, 2),
      ]);
    }
    for (const t of [a, w, out, bias]) t?.buffer.destroy();
  }

  console.log('');
  const p = PRESETS.small;
  console.log(`# one training step's GEMMs (preset small: L${p.n_layer} C${p.n_embd} T${p.seqLen} B${p.batchSize} V256; layer GEMMs x ${p.n_layer}), wall ms`);
  const base = stepMs.get('matmul_forward')!;
  for (const k of KERNELS) console.log(`  ${k.padEnd(16)} ${fmt(stepMs.get(k)!, 1).padStart(8)} ms  (${fmt(base / stepMs.get(k)!, 2)}x matmul_forward)`);
  if (numpySquare && squareNN.size) {
    const best = Math.min(...[...squareNN.values()]);
    console.log(`# 1024^3 NN: numpy sgemm ${fmt(numpySquare.wall, 1)} ms vs best kernel ${fmt(best, 1)} ms: numpy is ${fmt(best / numpySquare.wall, 1)}x faster`);
  } else if (!hasNumpy) {
    console.log('# numpy not available: no OpenBLAS comparison');
  }
  const { load1 } = machineLoad();
  console.log(`# load average at the end: ${load1.toFixed(2)} on ${CORES} cores`);
  e.destroy();
}

/** The kernel a forced `k` really runs for this case (matmul_subgroup falls back where it cannot run). */
function forcedKernelRuns(e: Engine, k: MatmulKernel, c: Case, tensors: Tensor[]): MatmulKernel {
  useMatmulKernel(e, k);
  const r = matmulKernelFor(e, c.dims, c.flags, tensors);
  useMatmulKernel(e, null);
  return r;
}

await main();
