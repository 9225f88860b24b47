/**
 * The training step of another commit against this checkout's, alternating in one process: `OLD=<worktree of that
 * commit, with node_modules> npx tsx docs/results/speed/step-pairs-vs-commit.ts [pairs] [preset] [gpt|vit]`. Each
 * side opens its own session (its own code, engine and device; the task's preset, default `small`, policy none, the
 * precision its adapter rule picks: f32 where the old code predates f16) and they take steps in turns, the order
 * alternating per pair, as `bench precision` does for f32 against f16; step time is wall time from the plan to the
 * loss read back, and process CPU time over the same span. Reports the median of the per-pair ratios old / new and
 * in how many pairs new was faster. Machines here are noisy: this pairs each step with its neighbour instead of
 * comparing runs minutes apart.
 */
import { execSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';

interface Session {
  e: { counters: { dispatches: number }; choice?: { get(op: string): unknown } };
  plan(step: number): { plans: unknown[] };
  step(step: number, plans: unknown[]): { readLoss(): Promise<number> };
}

const oldDir = resolve(process.env.OLD ?? '');
if (!process.env.OLD) throw new Error('set OLD to a worktree of the commit to compare with');
const pairs = Number(process.argv[2] ?? 30);
const preset = process.argv[3] ?? 'small';
const here = resolve(import.meta.dirname, '../../..');

const task = process.argv[4] ?? 'gpt';

async function open(dir: string): Promise<Session> {
  const { benchConfig } = await import(`${dir}/bench/step.ts`);
  if (task === 'vit') {
    const { VitSession } = await import(`${dir}/src/tasks/vit/session.ts`);
    return VitSession.open(benchConfig({ task, preset }, { preset }));
  }
  // Before the restructure the GPT session lived in src/train/session.ts.
  const gptModule = execSync('git ls-files src/tasks/gpt/session.ts', { cwd: dir }).toString().trim() ? 'src/tasks/gpt/session.ts' : 'src/train/session.ts';
  const { TrainingSession } = await import(`${dir}/${gptModule}`);
  return TrainingSession.open(benchConfig({ preset }, { preset }));
}
const commit = (dir: string) => execSync('git rev-parse --short HEAD', { cwd: dir }).toString().trim();

const sides = { old: await open(oldDir), new: await open(here) };
const steps = { old: 0, new: 0 };
async function timed(side: 'old' | 'new') {
  const s = sides[side];
  const d0 = s.e.counters.dispatches;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const step = steps[side]++;
  const loss = await s.step(step, s.plan(step).plans).readLoss();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (!Number.isFinite(loss)) throw new Error(`${side}: step ${step} has loss ${loss}`);
  return { wall, cpu: (c.user + c.system) / 1000, dispatches: s.e.counters.dispatches - d0 };
}
const load0 = loadavg()[0]!;
for (const side of ['old', 'new', 'old', 'new'] as const) await timed(side); // pipelines, buffers
const rows: { old: Awaited<ReturnType<typeof timed>>; new: Awaited<ReturnType<typeof timed>> }[] = [];
for (let i = 0; i < pairs; i++) {
  const r: Partial<(typeof rows)[number]> = {};
  for (const side of i % 2 ? (['new', 'old'] as const) : (['old', 'new'] as const)) r[side] = await timed(side);
  rows.push(r as (typeof rows)[number]);
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log(`old ${commit(oldDir)}, new ${commit(here)} + working tree (${execSync('git status --short', { cwd: here }).toString().split('\n').filter(Boolean).length} changed paths); ${task} preset ${preset}, policy none`);
const precision = (s: Session) => String(s.e.choice?.get('precision') ?? 'f32 (before f16)');
console.log(`${pairs} pairs of steps in alternating order; precision: old ${precision(sides.old)}, new ${precision(sides.new)}; dispatches per step: old ${rows[0]!.old.dispatches}, new ${rows[0]!.new.dispatches}; ${availableParallelism()} cores`);
for (const f of ['wall', 'cpu'] as const) {
  const ratios = rows.map((r) => r.old[f] / r.new[f]);
  console.log(
    `${f} ms per step: old median ${median(rows.map((r) => r.old[f])).toFixed(1)}, new median ${median(rows.map((r) => r.new[f])).toFixed(1)}; ` +
      `median of per-pair ratios old / new ${median(ratios).toFixed(3)}; new faster in ${ratios.filter((x) => x > 1).length} of ${pairs} pairs`,
  );
}
console.log('pairs (old wall / cpu ms, new wall / cpu ms):');
for (const r of rows) console.log(`  ${r.old.wall.toFixed(1)} / ${r.old.cpu.toFixed(1)}    ${r.new.wall.toFixed(1)} / ${r.new.cpu.toFixed(1)}`);
console.log(`load average: ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`);
process.exit(0);
