/**
 * The command-line programs as users run them: `tsx src/cli/{train,eval,sample,profile}.ts ...` spawned as
 * child processes, one at a time (each opens its own device), at the tiny preset. Checks: --help documents the
 * options; bad flag values and bad data give one `error:` line on stderr, a non-zero exit and no stack trace;
 * a --json run prints its summary as the last stdout line and writes config.json, metrics.jsonl and a
 * checkpoint; --resume continues it; eval reproduces the run's validation loss from the checkpoint; sample
 * prints text; profile prints per-(step, layer, phase, kernel) JSON lines and a Chrome trace.
 * About 30 s. Run: npx vitest run --config test/vitest.config.ts test/cli.test.ts
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const tmp = mkdtempSync(join(tmpdir(), 'sbld-cli-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Dawn prints these two notices on stderr whenever a device opens; they are not ours. (Data errors are found
 * after the device opens, so those runs print them too; flag errors are found before, so they must not.)
 */
const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced/;
/** commander's hint after a rejected flag value (`showHelpAfterError` in train.ts). */
const HELP_HINT = '(run with --help for every option)';
const TINY = ['--preset', 'tiny', '--steps', '4', '--eval-batches', '1', '--sample-tokens', '0'];

interface Result {
  status: number | null;
  stdout: string;
  /** stderr lines without blanks and Dawn's device notices. */
  errLines: string[];
  /** Whether Dawn's notices were on stderr, i.e. a device was opened. */
  openedDevice: boolean;
}

/**
 * Runs `tsx src/cli/<program>.ts args` in the repo root. The tsx binary is the one `npx tsx` finds
 * (node_modules/.bin/tsx), called directly: npx's own lookup adds ~0.8 s to each of the 14 runs.
 */
function cli(program: 'train' | 'eval' | 'sample' | 'profile', args: string[]): Result {
  const r = spawnSync(TSX, [`src/cli/${program}.ts`, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, DEBUG: '' }, // DEBUG would print stacks on purpose
  });
  if (r.error) throw r.error;
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  return {
    status: r.status,
    stdout: r.stdout,
    errLines: lines.filter((l) => !DAWN_NOTICE.test(l)),
    openedDevice: lines.some((l) => DAWN_NOTICE.test(l)),
  };
}

const lastLine = (s: string): string => s.trimEnd().split('\n').pop()!;

/** One clear error line naming `mention`, a non-zero exit, no stack trace. */
function expectOneLineError(r: Result, mention: string): void {
  const errors = r.errLines.filter((l) => l !== HELP_HINT);
  expect(errors, `stderr: ${r.errLines.join('\n')}`).toHaveLength(1);
  expect(errors[0]).toMatch(/^error: /);
  expect(errors[0]).toContain(mention);
  expect(r.errLines.join('\n')).not.toMatch(/^\s+at |\n\s+at |Error:|node:internal/);
  expect(r.status).not.toBe(0);
  expect(r.status).not.toBeNull(); // exited, not killed
}

describe('train --help', () => {
  it('documents the options and exits 0', () => {
    const r = cli('train', ['--help']);
    expect(r.status).toBe(0);
    const flags = ['--config', '--data', '--preset', '--n-layer', '--n-head', '--n-embd', '--steps', '--batch-size', '--seq-len', '--lr', '--seed', '--eval-every', '--out', '--resume', '--json', '--drop'];
    for (const f of flags) expect(r.stdout, f).toMatch(new RegExp(`^\\s+${f}( <\\w+>)?\\s+\\S`, 'm')); // the flag, then its help
    expect(r.stdout).toMatch(/--drop <policy>[\s\S]*none[\s\S]*layerdrop[\s\S]*pld[\s\S]*sbld/);
    expect(r.stdout).toMatch(/--preset <name>[\s\S]*tiny[\s\S]*small[\s\S]*deep/);
    expect(r.openedDevice).toBe(false);
  });
});

describe('refusals: one clear line on stderr, non-zero exit, no stack trace', () => {
  const flagCases: [string[], string][] = [
    [['--steps', '-3'], '--steps'],
    [['--lr', 'abc'], '--lr'],
    [['--preset', 'huge'], '--preset'],
    [['--drop', 'nope'], '--drop'],
    [['--drop-q-max', '2'], '--drop-q-max'],
  ];
  for (const [args, mention] of flagCases) {
    it(`train ${args.join(' ')} (refused before the device opens)`, () => {
      const r = cli('train', [...TINY, '--out', join(tmp, 'refused'), ...args]);
      expectOneLineError(r, mention);
      expect(r.openedDevice).toBe(false);
      expect(r.stdout).toBe('');
    });
  }

  it('train --data with a missing path', () => {
    const missing = join(tmp, 'no-such-corpus.txt');
    expectOneLineError(cli('train', [...TINY, '--out', join(tmp, 'refused'), '--data', missing]), missing);
  });

  it('train --data with an empty file', () => {
    const empty = join(tmp, 'empty.txt');
    writeFileSync(empty, '');
    const r = cli('train', [...TINY, '--out', join(tmp, 'refused'), '--data', empty]);
    expectOneLineError(r, empty);
    expect(r.errLines[0]).toMatch(/empty/);
  });

  it('eval --checkpoint with no checkpoint there', () => {
    const missing = join(tmp, 'no-such-run');
    expectOneLineError(cli('eval', ['--checkpoint', missing, '--json']), missing);
  });

  it('no refused run left a run folder behind', () => {
    expect(existsSync(join(tmp, 'refused', 'metrics.jsonl'))).toBe(false);
  });
});

describe('a tiny run, then eval, sample and resume on its folder', () => {
  const out = join(tmp, 'run');
  let train: Result;
  let summary: Record<string, unknown>;
  beforeAll(() => {
    train = cli('train', [...TINY, '--out', out, '--json']);
    summary = JSON.parse(lastLine(train.stdout)) as Record<string, unknown>;
  });

  it('train --json prints the summary as one JSON object on the last stdout line', () => {
    expect(train.status, train.errLines.join('\n')).toBe(0);
    expect(train.errLines).toEqual([]);
    for (const k of ['steps', 'wall_s', 'tokens_per_s', 'train_loss', 'val_loss', 'out']) expect(summary, k).toHaveProperty(k);
    expect(summary.steps).toBe(4);
    expect(summary.out).toBe(out);
    for (const k of ['wall_s', 'tokens_per_s', 'train_loss', 'val_loss']) {
      expect(Number.isFinite(summary[k]), k).toBe(true);
      expect(summary[k] as number, k).toBeGreaterThan(0);
    }
    expect(summary.val_loss as number).toBeLessThan(6); // ln 256 = 5.55 at initialisation
  });

  it('the run folder has config.json, metrics.jsonl (one line per step) and checkpoint/', () => {
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ preset: 'tiny', steps: 4, n_layer: 2, evalBatches: 1 });
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.type === undefined).map((l) => l.step)).toEqual([0, 1, 2, 3]);
    expect(lines.filter((l) => l.type === 'summary')).toHaveLength(1);
    const files = readdirSync(join(out, 'checkpoint')).sort();
    expect(files).toEqual(['MANIFEST.json', 'config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
  });

  it('eval --checkpoint DIR --json reproduces the run\'s validation loss on the same windows, and bits/byte', () => {
    // Training evaluated 1 batch of B = 4 (tiny) windows of T = 32; ask eval for the same.
    const r = cli('eval', ['--checkpoint', out, '--json', '--batches', '1', '--batch-size', '4']);
    expect(r.status, r.errLines.join('\n')).toBe(0);
    const res = JSON.parse(lastLine(r.stdout)) as { val_loss: number; bits_per_byte: number; tokens: number };
    expect(res.val_loss).toBe(summary.val_loss);
    expect(res.bits_per_byte).toBeCloseTo(res.val_loss / Math.LN2, 12);
    expect(res.tokens).toBe(4 * 32);
  });

  it("sample --checkpoint DIR --prompt 'The ' --tokens 20 prints the prompt and its continuation", () => {
    const r = cli('sample', ['--checkpoint', out, '--prompt', 'The ', '--tokens', '20']);
    expect(r.status, r.errLines.join('\n')).toBe(0);
    const text = r.stdout.replace(/\n$/, '');
    expect(text.startsWith('The ')).toBe(true);
    // 20 byte tokens; a byte sequence that is not UTF-8 prints as U+FFFD (3 bytes), so at least 20 bytes.
    expect(Buffer.byteLength(text) - 4).toBeGreaterThanOrEqual(20);
  });

  it('train --resume DIR with --steps already reached is one clear error', () => {
    const r = cli('train', [...TINY, '--resume', out]); // TINY has --steps 4, where the checkpoint is
    expectOneLineError(r, `--resume ${out}: the checkpoint is at step 4`);
  });

  it('train --resume DIR continues from the checkpoint to the new --steps', () => {
    const r = cli('train', ['--preset', 'tiny', '--steps', '6', '--eval-batches', '1', '--sample-tokens', '0', '--resume', out, '--json']);
    expect(r.status, r.errLines.join('\n')).toBe(0);
    expect(r.stdout).toMatch(/resuming at step 4/);
    const s = JSON.parse(lastLine(r.stdout)) as Record<string, unknown>;
    expect(s.steps).toBe(6);
    expect(s.out).toBe(out);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.type === undefined).map((l) => l.step)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('profile', () => {
  const trace = join(tmp, 'trace.json');
  let r: Result;
  beforeAll(() => {
    r = cli('profile', ['--preset', 'tiny', '--steps', '2', '--json', '--trace', trace]);
  });

  it('--json prints one JSON object per (step, layer, phase, kernel) with dispatch counts and GPU time', () => {
    expect(r.status, r.errLines.join('\n')).toBe(0);
    expect(r.errLines).toEqual([]);
    type Row = { step: number; layer: number | 'other'; phase: string; kernel: string; dispatches: number; gpu_ms: number; skipped: boolean };
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Row);
    for (const row of rows) {
      for (const k of ['step', 'layer', 'phase', 'kernel', 'dispatches', 'gpu_ms', 'skipped']) expect(row, k).toHaveProperty(k);
      if (row.skipped) expect(row.dispatches).toBe(0);
      else expect(row.dispatches).toBeGreaterThan(0);
    }
    expect(new Set(rows.map((x) => x.step)).size).toBe(2);
    expect(new Set(rows.map((x) => x.phase))).toEqual(new Set(['forward', 'backward', 'optimizer']));
    expect(rows.some((x) => x.layer === 0) && rows.some((x) => x.layer === 1) && rows.some((x) => x.layer === 'other')).toBe(true);
    expect(rows.reduce((s, x) => s + x.gpu_ms, 0)).toBeGreaterThan(0); // the timer measured something

    // --trace: valid JSON, one complete ('X') event per dispatch the rows count.
    const t = JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: { ph: string }[] };
    expect(Array.isArray(t.traceEvents)).toBe(true);
    expect(t.traceEvents.filter((ev) => ev.ph === 'X').length).toBe(rows.reduce((s, x) => s + x.dispatches, 0));
  });
});
