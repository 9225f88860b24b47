/**
 * `npm run bench -- faults [--kills N] [--steps S] [--seed K] [--out DIR] [--results FILE]`: the fault campaign.
 *
 * 1. An uninterrupted tiny run (the reference).
 * 2. N trials (default 20): the same run, killed with SIGKILL at a moment drawn uniformly over the reference
 *    run's wall time (start-up, steps, evaluations and checkpoint writes alike), then resumed with `--resume` (or,
 *    when it died before its first checkpoint, started again with `--overwrite`, as the refusal says). The final
 *    model, optimizer moments, trainer state (its clock aside) and every metrics line (timings aside) must equal
 *    the reference's.
 * 3. Two writers into one folder: the second, and a `--resume` of the running one, must exit 1 naming its PID.
 * 4. Signals: SIGINT to the trainer checkpoints and exits 130, and the resume continues it with each step logged
 *    once; SIGTERM to `npm start` exits 143 and leaves no process behind.
 * Prints one table and exits 1 on any difference. Runs the programs as a user does (`node --import tsx
 * src/cli/train.ts`), so a kill reaches the trainer itself. About five minutes on 2 busy CPU cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { Rng } from '../src/util/rng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LOCK = 'run.lock';

const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} needs a positive integer, got '${v}'`);
  return n;
};

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Running {
  child: ChildProcess;
  done: Promise<Exit>;
}

/** Starts `node --import tsx <script> args` (or any command) in the repo root, collecting its output. */
function start(cmd: string, args: string[], env: Record<string, string> = {}): Running {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, DEBUG: '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Exit>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr: clean(stderr), ms: performance.now() - t0 })));
  return { child, done };
}

const train = (args: string[], env: Record<string, string> = {}) => start(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', ...args], env);

/** stderr without Dawn's two device notices. */
function clean(s: string): string {
  return s
    .split('\n')
    .filter((l) => l.trim() && !/^Warning: maxDynamic/.test(l))
    .join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await sleep(25);
  }
}

const TIMINGS = ['ms', 'tokens_per_s', 'elapsed_s', 'wall_s', 'images_per_s', 'est_saved_s'];

/** metrics.jsonl lines without timings and without the summary (whose rates are timings). */
function metricLines(dir: string): string[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o.type !== 'summary')
    .map((o) => {
      for (const k of TIMINGS) delete o[k];
      return JSON.stringify(o);
    });
}

/** trainer_state.json without what differs between two runs of the same steps: clocks and the run folder's path. */
function trainerState(dir: string): string {
  const s = JSON.parse(readFileSync(join(dir, 'checkpoint', 'trainer_state.json'), 'utf8')) as { config?: { out?: string } };
  if (s.config) delete s.config.out;
  return JSON.stringify(s, (k, v: unknown) => (k === 'ms' || k === 'elapsedMs' ? undefined : v));
}

/** What differs between run folder `dir` and the reference (empty: nothing). */
function differences(dir: string, ref: string): string[] {
  const out: string[] = [];
  for (const f of ['model.safetensors', 'optimizer.safetensors', 'config.json']) {
    const p = join(dir, 'checkpoint', f);
    if (!existsSync(p)) out.push(`${f} missing`);
    else if (!readFileSync(p).equals(readFileSync(join(ref, 'checkpoint', f)))) out.push(`${f} differs`);
  }
  if (existsSync(join(dir, 'checkpoint', 'trainer_state.json')) && trainerState(dir) !== trainerState(ref)) out.push('trainer_state.json differs');
  const a = metricLines(dir);
  const b = metricLines(ref);
  if (a.length !== b.length) out.push(`metrics: ${a.length} lines, reference ${b.length}`);
  else {
    const bad = a.findIndex((l, i) => l !== b[i]);
    if (bad >= 0) out.push(`metrics line ${bad + 1} differs`);
  }
  if (existsSync(join(dir, LOCK))) out.push('run.lock left behind');
  const leftovers = readdirSync(dir).filter((n) => /\.(tmp|old)-/.test(n));
  if (leftovers.length) out.push(`leftovers: ${leftovers.join(', ')}`);
  return out;
}

/** What a kill left in `dir`: the checkpoint's step, a crashed save's folders, a torn metrics line, the lock. */
function killState(dir: string): string {
  if (!existsSync(dir)) return 'no run folder yet';
  const parts: string[] = [];
  try {
    parts.push(`ckpt@${(JSON.parse(readFileSync(join(dir, 'checkpoint', 'trainer_state.json'), 'utf8')) as { step: number }).step}`);
  } catch {
    parts.push('no checkpoint/');
  }
  const names = readdirSync(dir);
  for (const n of names) if (/^checkpoint\.(tmp|old)-/.test(n)) parts.push(n.replace(/-\d+$/, '-*'));
  const m = join(dir, 'metrics.jsonl');
  if (existsSync(m)) {
    const t = readFileSync(m, 'utf8');
    if (t.length > 0 && !t.endsWith('\n')) parts.push('torn metrics line');
  }
  if (names.includes(LOCK)) parts.push('stale lock');
  return parts.join(', ');
}

interface Row {
  check: string;
  detail: string;
  outcome: string;
  ok: boolean;
}

export async function faultsMain(argv: string[]): Promise<void> {
  const program = new Command('faults')
    .description('Kill a tiny run with SIGKILL at random moments, resume it, and compare with an uninterrupted run; two writers; signals.')
    .option('--kills <n>', 'trials: one SIGKILL at a random moment each, then a resume', positiveInt('--kills'), 20)
    .option('--steps <n>', 'steps of the tiny run', positiveInt('--steps'), 150)
    .option('--seed <n>', 'seed of the kill moments', positiveInt('--seed'), 1)
    .option('--out <dir>', 'work folder (emptied first)', 'runs/faults')
    .option('--results <file>', 'also write the table to this file');
  program.parse(argv, { from: 'user' });
  const o = program.opts<{ kills: number; steps: number; seed: number; out: string; results?: string }>();
  const work = resolve(o.out);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const argsFor = (steps: number, every: number) => ['--preset', 'tiny', '--steps', String(steps), '--checkpoint-every', String(every), '--eval-every', '25', '--eval-batches', '1', '--sample-tokens', '0'];
  const runArgs = argsFor(o.steps, 10);
  const rows: Row[] = [];
  const say = (r: Row) => {
    rows.push(r);
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.check.padEnd(14)} ${r.detail.padEnd(52)} ${r.outcome}`);
  };

  // ---- 1. the reference
  const ref = join(work, 'reference');
  const r0 = await train([...runArgs, '--out', ref]).done;
  if (r0.code !== 0) throw new Error(`the reference run failed: ${r0.stderr}`);
  // The kill window: the run's wall time once caches are warm (the first run also compiles shaders), shrunk
  // whenever a trial finishes before its kill, so the kills land while the run is alive.
  const warm = await train([...runArgs, '--out', join(work, 'reference-warm')]).done;
  let window = Math.min(r0.ms, warm.ms);
  console.log(`reference: ${o.steps} steps in ${(r0.ms / 1000).toFixed(1)} s, warm ${(warm.ms / 1000).toFixed(1)} s (process wall time); kills drawn uniformly over the warm run's`);

  // ---- 2. kill at a random moment, resume, compare
  const rng = new Rng(o.seed);
  for (let i = 1; i <= o.kills; i++) {
    const dir = join(work, `kill-${String(i).padStart(2, '0')}`);
    const at = Math.floor(rng.uniform() * window);
    const run = train([...runArgs, '--out', dir]);
    await Promise.race([sleep(at), run.done]);
    const finishedFirst = run.child.exitCode !== null;
    if (finishedFirst) window = Math.min(window, (await run.done).ms);
    run.child.kill('SIGKILL');
    await run.done;
    const state = finishedFirst ? 'finished before the kill' : killState(dir);
    let resumed = await train(['--resume', dir]).done;
    let how = 'resumed';
    if (resumed.code !== 0 && /wrote no checkpoint before it stopped|no such run folder/.test(resumed.stderr)) {
      resumed = await train([...runArgs, '--out', dir, '--overwrite']).done; // what the refusal tells the user to do
      how = 'started again (--overwrite)';
    } else if (resumed.code !== 0 && /already --steps/.test(resumed.stderr)) {
      how = 'complete already'; // killed after its last checkpoint: nothing left to run
      resumed = { ...resumed, code: 0 };
    }
    const diff = resumed.code === 0 ? differences(dir, ref) : [`exit ${resumed.code}: ${resumed.stderr.split('\n')[0]}`];
    say({ check: `kill ${i}`, detail: `at ${at} ms: ${state}`, outcome: diff.length ? diff.join('; ') : `${how}; identical`, ok: diff.length === 0 });
  }

  // ---- 3. two writers into one folder
  const shared = join(work, 'two-writers');
  const long = argsFor(1_000_000, 1_000_000); // runs until signalled
  const first = train([...long, '--out', shared]);
  await until(() => existsSync(join(shared, LOCK)) && existsSync(join(shared, 'metrics.jsonl')) && readFileSync(join(shared, 'metrics.jsonl'), 'utf8').length > 0);
  const pid = (JSON.parse(readFileSync(join(shared, LOCK), 'utf8')) as { pid: number }).pid;
  for (const [name, args] of [
    ['second writer', [...long, '--out', shared]],
    ['resume of it', ['--resume', shared]],
  ] as const) {
    const r = await train([...args]).done;
    const ok = r.code === 1 && r.stderr.includes(`in use by process ${pid}`) && !/\n\s+at /.test(r.stderr);
    say({ check: 'two writers', detail: `${name} while ${pid} runs`, outcome: `exit ${r.code}: ${r.stderr.split('\n')[0]}`, ok });
  }

  // ---- 4. signals: SIGINT to the trainer, then resume; SIGTERM to npm start
  first.child.kill('SIGINT');
  const stopped = await first.done;
  const step = Number(/after step (\d+)/.exec(stopped.stderr)?.[1] ?? NaN);
  say({
    check: 'SIGINT',
    detail: 'to the running trainer',
    outcome: `exit ${stopped.code}; ${stopped.stderr.split('\n').slice(-2).join(' / ')}`,
    ok: stopped.code === 130 && Number.isInteger(step) && !existsSync(join(shared, LOCK)),
  });
  const cont = await train(['--resume', shared, '--steps', String(step + 5)]).done;
  const steps = readFileSync(join(shared, 'metrics.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { type?: string; step?: number })
    .filter((l) => l.type === undefined)
    .map((l) => l.step);
  const once = steps.length === step + 5 && steps.every((s, j) => s === j);
  say({ check: 'SIGINT', detail: `resume to step ${step + 5}`, outcome: `exit ${cont.code}; ${steps.length} step lines, each step once: ${once}`, ok: cont.code === 0 && once });

  const viaNpm = join(work, 'npm-sigterm');
  const npm = start('npm', ['start', '--', ...long, '--out', viaNpm], { SBLD_SKIP_BOOTSTRAP: '1' });
  await until(() => existsSync(join(viaNpm, LOCK)) && existsSync(join(viaNpm, 'metrics.jsonl')) && readFileSync(join(viaNpm, 'metrics.jsonl'), 'utf8').length > 0);
  const trainer = (JSON.parse(readFileSync(join(viaNpm, LOCK), 'utf8')) as { pid: number }).pid;
  npm.child.kill('SIGTERM');
  const n = await npm.done;
  let alive = true;
  try {
    process.kill(trainer, 0);
  } catch {
    alive = false;
  }
  say({
    check: 'SIGTERM',
    detail: 'to npm start (sh, launcher, trainer)',
    outcome: `npm exit ${n.code}; trainer ${trainer} ${alive ? 'STILL RUNNING' : 'gone'}; ${n.stderr.split('\n').find((l) => l.startsWith('stopped by')) ?? 'no stop line'}`,
    ok: n.code === 143 && !alive,
  });
  if (alive) process.kill(trainer, 'SIGKILL');

  const failed = rows.filter((r) => !r.ok).length;
  const kills = rows.filter((r) => r.check.startsWith('kill '));
  const summary = `${kills.filter((r) => r.ok).length} of ${kills.length} kills resumed identical to the uninterrupted run; ${rows.length - kills.length - rows.filter((r) => !r.check.startsWith('kill ') && !r.ok).length} of ${rows.length - kills.length} writer and signal checks passed`;
  console.log(`\n${summary}`);
  if (o.results) {
    const text = [
      `npm run bench -- faults --kills ${o.kills} --steps ${o.steps} --seed ${o.seed}`,
      `reference: ${o.steps} steps of --preset tiny, checkpoint every 10, in ${(r0.ms / 1000).toFixed(1)} s; warm ${(warm.ms / 1000).toFixed(1)} s (process wall time)`,
      'kill moments: uniform over the warm run wall time (shrunk to any trial that finished first); state: what the kill left',
      '',
      ...rows.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.check.padEnd(14)} ${r.detail.padEnd(52)} ${r.outcome}`),
      '',
      summary,
      '',
    ].join('\n');
    mkdirSync(dirname(resolve(o.results)), { recursive: true });
    writeFileSync(o.results, text);
  }
  if (failed > 0) process.exitCode = 1;
}
