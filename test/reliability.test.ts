/**
 * Reliability (#14): one owner per run folder, no silent overwrite, resume from the checkpoint's own config,
 * graceful signals (also through `npm start`), a kill at every step of a checkpoint or metrics write (the
 * SBLD_FAULT_AT hook of src/io/faults.ts) resumed to the uninterrupted run's files, metrics.jsonl read back with a
 * torn last line, bounded --steps, and one clear line (no stack trace) for the faults a user can reach.
 * Runs are tiny (`--preset tiny`, a few steps), as child processes where a process must die. About 60 s.
 * Run: npx vitest run --config test/vitest.config.ts test/reliability.test.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareResume, resumeDifferences } from '../src/cli/resume.js';
import { signalHandler } from '../src/cli/signals.js';
import { resolveDropConfig } from '../src/drop/resolve.js';
import { writeDirAtomic } from '../src/io/atomic.js';
import { FAULT_POINTS } from '../src/io/faults.js';
import { describeFsError, isFsError } from '../src/io/fs-errors.js';
import { MetricsError, MetricsFile, parseMetrics } from '../src/io/metrics-file.js';
import { acquireRunLock, LOCK_FILE, RunLockError } from '../src/io/runlock.js';
import { checkFiniteWeights } from '../src/cli/checkpoint-model.js';
import { resolveConfig } from '../src/tasks/gpt/config.js';
import { armStop, stopRequested } from '../src/train/stop.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const tmp = mkdtempSync(join(tmpdir(), 'sbld-reliability-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const TINY = ['--preset', 'tiny', '--eval-batches', '1', '--sample-tokens', '0', '--eval-every', '3'];
const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout/;
const STACK = /^\s+at |node:internal|Error:/m;

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(program: string, args: string[], env: Record<string, string> = {}): Result {
  const r = spawnSync(TSX, [`src/cli/${program}.ts`, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, DEBUG: '', ...env } });
  if (r.error) throw r.error;
  const stderr = r.stderr.split('\n').filter((l) => l.trim() !== '' && !DAWN_NOTICE.test(l)).join('\n');
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr };
}

/** One `error:` line naming every `mention`, exit 1, no stack trace. */
function expectOneLine(r: Result, ...mentions: (string | RegExp)[]): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '(run with --help for every option)');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  for (const m of mentions) expect(lines[0]).toMatch(m);
  expect(r.stderr).not.toMatch(STACK);
  expect(r.status).toBe(1);
}

/** A metrics line without its timings (what differs between two runs of the same steps). */
function untimed(line: string): Record<string, unknown> {
  const o = JSON.parse(line) as Record<string, unknown>;
  for (const k of ['ms', 'tokens_per_s', 'elapsed_s', 'wall_s', 'images_per_s', 'est_saved_s']) delete o[k];
  return o;
}
/** Killed by SIGKILL (tsx, between us and the program, reports it as exit status 137). */
const wasKilled = (r: Result) => r.signal === 'SIGKILL' || r.status === 137;
const metricsOf = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map(untimed);
const bytes = (dir: string, f: string) => readFileSync(join(dir, 'checkpoint', f));
const stepOf = (dir: string) => (JSON.parse(readFileSync(join(dir, 'checkpoint', 'trainer_state.json'), 'utf8')) as { step: number }).step;

/** Waits until `cond` holds (polling), or fails after `ms`. */
async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the trainer as `node --import tsx`, as the launcher of the npm scripts runs it: one process. (The tsx CLI
 * sits between as a parent that SIGKILLs its child when the child does not acknowledge a signal within 60 ms,
 * which a busy trainer on a loaded machine does not.)
 */
function startTrain(args: string[]): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', ...args], { cwd: ROOT, env: { ...process.env, DEBUG: '' } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((res) =>
    child.on('close', (status, signal) => res({ status, signal, stdout, stderr: stderr.split('\n').filter((l) => l.trim() && !DAWN_NOTICE.test(l)).join('\n') })),
  );
  return { child, done };
}

describe('the run lock', () => {
  it('is exclusive, names a live owner, and takes over from a dead one with a message', () => {
    const dir = join(tmp, 'lock');
    mkdirSync(dir);
    const lock = acquireRunLock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(() => acquireRunLock(dir)).toThrow(RunLockError);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    // A live process of this host (our parent) holds it: refused, naming the PID.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname(), started: 'then' }));
    expect(() => acquireRunLock(dir)).toThrow(new RegExp(`in use by process ${process.ppid}`));
    // Another host: never taken over.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then' }));
    expect(() => acquireRunLock(dir)).toThrow(/process 1 on host elsewhere/);
    // A dead process (a PID past the kernel's limit): taken over, saying so.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, host: hostname(), started: 'then' }));
    const taken = acquireRunLock(dir);
    expect(taken.tookOver).toMatch(new RegExp(`process ${2 ** 30}.*no longer running`));
    taken.release();
  });
});

describe('two writers, overwrite, resume and signals on one run folder', () => {
  const out = join(tmp, 'run');

  it('a second writer and a resume of a running run are refused naming its PID; SIGTERM checkpoints and exits 143', async () => {
    const first = startTrain([...TINY, '--steps', '100000', '--checkpoint-every', '100000', '--out', out]);
    await until(() => existsSync(join(out, 'metrics.jsonl')) && readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length > 5);
    const pid = first.child.pid!;
    expect(JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8'))).toMatchObject({ pid });
    expectOneLine(cli('train', [...TINY, '--steps', '10', '--out', out]), new RegExp(`in use by process ${pid}`));
    expectOneLine(cli('train', ['--resume', out]), new RegExp(`in use by process ${pid}`));
    first.child.kill('SIGTERM');
    const r = await first.done;
    expect(r.status).toBe(143);
    expect(r.stderr).toMatch(/stopped by SIGTERM after step (\d+) of 100000; checkpoint written to .*\/checkpoint\nresume with: npm start -- --resume /);
    const step = Number(/after step (\d+)/.exec(r.stderr)![1]);
    expect(stepOf(out)).toBe(step);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    const steps = metricsOf(out).filter((l) => l.type === undefined).map((l) => l.step);
    expect(steps).toEqual(Array.from({ length: step }, (_, i) => i)); // each step once, up to the checkpoint
  });

  it('a new run into it is refused unless --overwrite; a resume refuses changes to the model but takes --steps', () => {
    expectOneLine(cli('train', [...TINY, '--steps', '10', '--out', out]), /already holds a run \(a checkpoint at step \d+\)/, /--resume/, /--overwrite/);
    const config = readFileSync(join(out, 'config.json'));
    const r = cli('train', ['--resume', out, '--steps', '20', '--lr', '0.01', '--n-embd', '64', '--drop', 'pld']);
    expectOneLine(r, /--n-embd 64 \(the run has 32\)/, /--lr 0.01 \(the run has 0.003\)/, /--drop-policy pld \(the run has sbld\)/);
    expect(readFileSync(join(out, 'config.json')).equals(config)).toBe(true); // a failed resume rewrites nothing

    const at = stepOf(out);
    const ok = cli('train', ['--resume', out, '--steps', String(at + 3), '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(stepOf(out)).toBe(at + 3);
    const json = JSON.parse(ok.stdout.trimEnd().split('\n').pop()!) as { steps: number };
    expect(json.steps).toBe(at + 3);

    writeFileSync(join(out, 'drop_resolved.json.tmp-1-abc'), '{'); // what a kill inside an atomic write leaves
    const over = cli('train', [...TINY, '--steps', '3', '--drop', 'none', '--out', out, '--overwrite']);
    expect(over.status, over.stderr).toBe(0);
    expect(existsSync(join(out, 'drop_resolved.json.tmp-1-abc'))).toBe(false);
    expect(stepOf(out)).toBe(3);
    // --drop none: no time-saved estimate for a policy that drops nothing.
    expect(over.stdout).toMatch(/layer dropping \(none\): 0\.0% of layer-steps skipped\n/);
  });

  it('a resume with no checkpoint yet says to start again without --resume', () => {
    const dir = join(tmp, 'no-ckpt');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{}');
    writeFileSync(join(dir, 'metrics.jsonl'), '');
    expectOneLine(cli('train', ['--resume', dir]), /no checkpoint/, /start it again without --resume/);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{}');
  });
});

describe('a kill at each step of a checkpoint or metrics write', () => {
  const args = [...TINY, '--steps', '6', '--checkpoint-every', '2'];
  const ref = join(tmp, 'fault-ref');
  const points = FAULT_POINTS;

  beforeAll(() => {
    const r = cli('train', [...args, '--out', ref]);
    expect(r.status, r.stderr).toBe(0);
  });

  // One test per point (each its own time limit): killed there, resumed, compared with the uninterrupted run.
  it.each([...points])('killed at %s: resumes to the same weights, moments and metric lines', (point) => {
    const dir = join(tmp, `fault-${point.replace(':', '-')}`);
    // The second checkpoint's write (at step 4; the first has no old folder to move aside), the 5th metrics
    // line, or the resume's rewrite.
    const nth = ({ 'checkpoint:old-moved-aside': 1, 'metrics:mid-line': 5, 'metrics:rewrite-temp-written': 1 } as Record<string, number>)[point] ?? 2;
    let killed: Result;
    if (point === 'metrics:rewrite-temp-written') {
      // A resume's rewrite: stop the run after its step-4 checkpoint, then kill the resume in its rewrite.
      expect(wasKilled(cli('train', [...args, '--out', dir], { SBLD_FAULT_AT: 'checkpoint:done#2' }))).toBe(true);
      killed = cli('train', ['--resume', dir], { SBLD_FAULT_AT: `${point}#1` });
    } else {
      killed = cli('train', [...args, '--out', dir], { SBLD_FAULT_AT: `${point}#${nth}` });
    }
    expect(wasKilled(killed), `${point}: ${killed.stderr}`).toBe(true);
    const resumed = cli('train', ['--resume', dir]);
    expect(resumed.status, `${point}: ${resumed.stderr}`).toBe(0);
    if (point === 'metrics:mid-line') expect(resumed.stderr).toMatch(/metrics\.jsonl:\d+: the last line is cut short/);
    for (const f of ['model.safetensors', 'optimizer.safetensors']) expect(bytes(dir, f).equals(bytes(ref, f)), `${point}: ${f}`).toBe(true);
    expect(metricsOf(dir).filter((l) => l.type !== 'summary'), point).toEqual(metricsOf(ref).filter((l) => l.type !== 'summary'));
  });

  it('eval and sample recover a checkpoint left mid-swap, as --resume does', () => {
    const dir = join(tmp, 'mid-swap');
    expect(wasKilled(cli('train', [...args, '--out', dir], { SBLD_FAULT_AT: 'checkpoint:old-moved-aside#1' }))).toBe(true);
    expect(existsSync(join(dir, 'checkpoint'))).toBe(false);
    const ev = cli('eval', ['--checkpoint', dir, '--json', '--batches', '1']);
    expect(ev.status, ev.stderr).toBe(0);
    expect(existsSync(join(dir, 'checkpoint'))).toBe(true);
    expect(cli('sample', ['--checkpoint', join(dir, 'checkpoint'), '--tokens', '5']).status).toBe(0);
  });

  it('eval reads a checkpoint whose optimizer file alone is damaged; resume refuses it', () => {
    const dir = join(tmp, 'fault-checkpoint-done'); // a finished 6-step run from the first test
    truncateSync(join(dir, 'checkpoint', 'optimizer.safetensors'), 100);
    expect(cli('eval', ['--checkpoint', dir, '--json', '--batches', '1']).status).toBe(0);
    const r = cli('train', ['--resume', dir, '--steps', '8']);
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/^error: .*incomplete checkpoint:\n\s+optimizer\.safetensors: 100 bytes on disk/)]);
    expect(r.stderr).not.toMatch(STACK);
  });
});

describe('npm start stops its whole process tree', () => {
  it('SIGTERM to npm: the trainer checkpoints and exits 143, nothing is left running', async () => {
    const out = join(tmp, 'npm');
    const npm = spawn('npm', ['start', '--', ...TINY, '--steps', '100000', '--checkpoint-every', '100000', '--out', out], {
      cwd: ROOT,
      env: { ...process.env, SBLD_SKIP_BOOTSTRAP: '1', DEBUG: '' },
    });
    children.push(npm);
    let stderr = '';
    npm.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await until(() => existsSync(join(out, LOCK_FILE)) && existsSync(join(out, 'metrics.jsonl')) && readFileSync(join(out, 'metrics.jsonl'), 'utf8').length > 0);
    const owner = (JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8')) as { pid: number }).pid;
    npm.kill('SIGTERM');
    const status = await new Promise<number | null>((res) => npm.on('close', (code) => res(code)));
    expect(status, stderr).toBe(143);
    expect(stderr).toMatch(/stopped by SIGTERM after step \d+/);
    expect(() => process.kill(owner, 0)).toThrow(); // the trainer is gone too
    expect(stepOf(out)).toBeGreaterThan(0);
  });
});

describe('signals', () => {
  it('the first asks the running loop to stop; one press seen twice is one; a second later aborts', () => {
    const exits: number[] = [];
    let t = 0;
    const handle = signalHandler((c) => exits.push(c), () => t);
    armStop(true);
    handle('SIGINT');
    expect([stopRequested(), exits]).toEqual(['SIGINT', []]);
    t = 100;
    handle('SIGINT'); // the terminal's and npm's copy of one Ctrl-C
    expect(exits).toEqual([]);
    t = 900;
    handle('SIGINT');
    expect(exits).toEqual([130]);
    armStop(false);
    // No loop running: nothing to save, exit at once (SIGTERM: 143).
    const idle = signalHandler((c) => exits.push(c), () => 0);
    idle('SIGTERM');
    expect(exits).toEqual([130, 143]);
  });
});

describe('metrics.jsonl', () => {
  it('a torn last line is dropped with a warning; a bad line elsewhere names the file and line', () => {
    const path = join(tmp, 'metrics.jsonl');
    writeFileSync(path, '{"step":0}\n{"step":1}\n{"step":2}\n{"type":"summary"}\n{"step":3,"lo');
    const warnings: string[] = [];
    MetricsFile.resume(path, 2, (w) => warnings.push(w));
    expect(readFileSync(path, 'utf8')).toBe('{"step":0}\n{"step":1}\n');
    expect(warnings).toEqual([`warning: ${path}:5: the last line is cut short (a write was killed): dropped`]);
    expect(parseMetrics('{"step":0}\ngarbage\n', path).torn).toEqual({ line: 2, text: 'garbage' }); // garbage last line: torn
    expect(() => parseMetrics('{"step":0}\nnot json\n{"step":1}\n', path)).toThrow(MetricsError);
    expect(() => parseMetrics('{"step":0}\nnot json\n{"step":1}\n', path)).toThrow(`${path}:2: not valid JSON`);
  });
});

describe('bounded --steps', () => {
  it('match_pld at 2^32 - 1 steps resolves in bounded time; more steps are refused with the limit', () => {
    const t0 = performance.now();
    const r = resolveDropConfig({ policy: 'sbld' }, { nLayer: 12, totalSteps: 2 ** 32 - 1 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.rhoMatch!.reachable).toBe(true);
    expect(() => resolveConfig({}, { steps: 2 ** 32 })).toThrow(/--steps 4294967296: .*at most 4294967295/);
    expect(() => resolveConfig({}, { steps: 2 ** 53 + 2 })).toThrow(/at most 4294967295/);
  });
});

describe('one line, no stack trace', () => {
  it('--out in the way of a file, or under one; a full disk', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expectOneLine(cli('train', [...TINY, '--out', file]), /a file is in the way \(EEXIST\)/);
    expectOneLine(cli('train', [...TINY, '--out', join(file, 'run')]), /not a folder \(ENOTDIR\)/);
    // The kernel's own ENOSPC, as a full disk gives it.
    let err: unknown;
    try {
      writeFileSync('/dev/full', 'x');
    } catch (e) {
      err = e;
    }
    expect(isFsError(err) && describeFsError(err)).toBe('no space left on the device (ENOSPC): write');
  });

  it('profile --steps 0 and an unwritable --trace are refused before profiling', () => {
    expectOneLine(cli('profile', ['--preset', 'tiny', '--steps', '0']), /--steps 0: profile needs at least 1 step/);
    const r = cli('profile', ['--preset', 'tiny', '--steps', '1', '--trace', join(tmp, 'a-file', 'trace.json')]);
    expectOneLine(r, /--trace .*cannot write it: .*ENOTDIR/);
    expect(r.stdout).toBe('');
  });

  it('a batch over the device limit is refused before the first step with the largest that fits', () => {
    expectOneLine(cli('train', [...TINY, '--batch-size', '4097', '--out', join(tmp, 'big-batch')]), /--batch-size 4097: .*the largest batch that fits is 4096/);
  });

  it('"drop": "sbld" in a config file; --drop-rate and --drop-theta-bar name the bound crossed', () => {
    const cfg = join(tmp, 'drop-string.json');
    writeFileSync(cfg, '{"drop": "sbld"}');
    expectOneLine(cli('train', ['--config', cfg, '--out', join(tmp, 'x')]), /"drop" must be an object such as \{"policy": "sbld"\}/);
    const rate = cli('train', ['--drop-rate', '-0.1', '--out', join(tmp, 'x')]);
    expectOneLine(rate, /--drop-rate must be in \[0, 1\), got -0\.1$/);
    expectOneLine(cli('train', ['--drop-theta-bar', '1.5', '--out', join(tmp, 'x')]), /--drop-theta-bar must be in \(0, 1\], got 1\.5$/);
  });

  it('eval and sample say so for a ViT checkpoint and for NaN weights', async () => {
    const vit = join(tmp, 'vit-ckpt');
    await writeDirAtomic(vit, { 'config.json': JSON.stringify({ model_type: 'vit' }), 'model.safetensors': 'x' });
    expectOneLine(cli('eval', ['--checkpoint', vit]), /a ViT checkpoint/);
    expectOneLine(cli('sample', ['--checkpoint', vit]), /a ViT checkpoint/);
    expect(() => checkFiniteWeights({ a: new Float32Array([1, NaN, Infinity]), b: new Float32Array(2) }, 'dir')).toThrow(/NaN or Inf values in a \(2 of 3\).*diverged/);
  });
});

describe('resume takes the run config from the checkpoint', () => {
  it('a ViT run resumed with --task gpt is refused naming --task, not a flag never passed', async () => {
    const dir = join(tmp, 'vit-run');
    mkdirSync(join(dir, 'checkpoint'), { recursive: true });
    const run = { ...resolveConfig({}, { preset: 'tiny' }), task: 'vit', patchSize: 7, augment: false };
    writeFileSync(join(dir, 'checkpoint', 'trainer_state.json'), JSON.stringify({ step: 3, config: run }));
    await expect(prepareResume(dir, { task: 'gpt', drop: {} })).rejects.toThrow(/--task gpt \(the run has vit\)/);
    await expect(prepareResume(dir, { task: 'gpt', drop: {} })).rejects.not.toThrow(/patch/);
    expect(resumeDifferences(resolveConfig({}, {}), { steps: 5, evalEvery: 1, drop: { policy: 'sbld' } })).toEqual([]);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false); // released after the refusal
    renameSync(dir, `${dir}-done`);
  });
});
