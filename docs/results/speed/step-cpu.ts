/**
 * One training step of preset `small` (policy none), timed by wall clock and by the process's CPU time (user +
 * system of every thread: lavapipe's worker threads run in this process). On a loaded 2-core host the wall time
 * mostly measures the other work; the CPU time is the step's own cost, much less disturbed by it.
 * Run from the root of the checkout to measure: npx tsx <this file> [timed steps] [warm-up steps].
 * Uses only what both checkouts compared here have: bench/step.ts's benchConfig and GPT's TrainingSession.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const from = (p: string) => import(pathToFileURL(resolve(p)).href);
const { benchConfig } = await from('bench/step.ts');
const { TrainingSession } = await from('src/tasks/gpt/session.ts');

const steps = Number(process.argv[2] ?? 10);
const warmup = Number(process.argv[3] ?? 2);
const session = await TrainingSession.open(benchConfig({ preset: 'small' }));
const { e } = session;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let step = 0;
for (let i = 0; i < warmup; i++, step++) await session.step(step, session.plan(step).plans).readLoss();
const wall: number[] = [];
const cpu: number[] = [];
const d0 = e.counters.dispatches;
for (let i = 0; i < steps; i++, step++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const loss = await session.step(step, session.plan(step).plans).readLoss();
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  if (!Number.isFinite(loss)) throw new Error(`step ${step}: loss ${loss}`);
}
console.log(JSON.stringify({ steps, dispatches_per_step: (e.counters.dispatches - d0) / steps, wall_ms: wall.map((x) => +x.toFixed(1)), cpu_ms: cpu.map((x) => +x.toFixed(1)), median_wall_ms: +median(wall).toFixed(1), median_cpu_ms: +median(cpu).toFixed(1) }));
e.destroy();
