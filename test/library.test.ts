/**
 * The library surface: `import ... from 'sbld-webgpu'` resolves (package self-reference through package.json
 * `exports`) to src/index.ts, which exports the engine, ops, model, data, training, layer dropping, profiler
 * reports and checkpoint IO, each with a one-line JSDoc. The README's example program
 * (test/fixtures/library-example.ts) runs as a child process, inside this repo and from a separate project
 * that has the package in its node_modules, and its loss must fall.
 * Run: npx vitest run --config test/vitest.config.ts test/library.test.ts
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as lib from 'sbld-webgpu';
import * as drop from '../src/drop/index.js';
import * as report from '../src/profile/report.js';
import { Engine } from '../src/runtime/engine.js';
import { GPT } from '../src/tasks/gpt/model.js';
import { runTraining } from '../src/tasks/gpt/run.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLE = join(ROOT, 'test', 'fixtures', 'library-example.ts');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const tmp = mkdtempSync(join(tmpdir(), 'sbld-library-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Dawn's two device-creation notices on stderr (not ours). */
const DAWN_NOTICE = /^Warning: maxDynamic\w+ artificially reduced/;

interface ExampleRun {
  trainLosses: number[];
  valBefore: number;
  valAfter: number;
  sample: string;
}

/** Runs the example with `steps` steps via `command` in `cwd`; parses its output (throws on a failed run). */
function runExample(command: string, args: string[], cwd: string): ExampleRun {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 90_000 });
  const stderr = r.stderr.split('\n').filter((l) => l && !DAWN_NOTICE.test(l));
  expect(stderr, `stderr of ${command} ${args.join(' ')}`).toEqual([]);
  expect(r.status, r.stdout).toBe(0);
  const lines = r.stdout.trimEnd().split('\n');
  const trainLosses = lines.flatMap((l) => /^step \d+: train loss (\S+)$/.exec(l)?.slice(1) ?? []).map(Number);
  const val = lines.map((l) => /^val loss (\S+) -> (\S+)$/.exec(l)).find((m) => m);
  expect(val, r.stdout).toBeTruthy();
  return { trainLosses, valBefore: Number(val![1]), valAfter: Number(val![2]), sample: lines[lines.length - 1]! };
}

function expectLearned(run: ExampleRun): void {
  // ln 256 = 5.545 is the loss of a uniform guess over bytes; 30 steps of the tiny model reach about 3.3.
  expect(run.valBefore).toBeGreaterThan(5.4);
  expect(run.valBefore).toBeLessThan(5.7);
  expect(run.valAfter).toBeLessThan(run.valBefore - 1);
  expect(run.trainLosses.length).toBe(2); // steps 0 and 29
  expect(run.trainLosses[1]!).toBeLessThan(run.trainLosses[0]! - 1);
  expect(run.sample.startsWith('The ')).toBe(true);
  expect(Buffer.byteLength(run.sample)).toBeGreaterThanOrEqual(4 + 40); // prompt + 40 bytes (or U+FFFD for bad ones)
}

describe('the README example', () => {
  it('imports only from the package name', () => {
    const src = readFileSync(EXAMPLE, 'utf8');
    const froms = [...src.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(froms).toEqual(['sbld-webgpu']);
  });

  it('trains a tiny GPT through `sbld-webgpu` (package self-reference, npx tsx) and the loss falls', () => {
    expectLearned(runExample('npx', ['tsx', EXAMPLE, '30'], ROOT));
  });

  it('runs the same from another Node project with the package in node_modules', () => {
    const project = join(tmp, 'consumer');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    symlinkSync(ROOT, join(project, 'node_modules', 'sbld-webgpu'), 'dir');
    copyFileSync(EXAMPLE, join(project, 'train.ts'));
    expectLearned(runExample(TSX, ['train.ts', '30'], project));
  });
});

describe('the package surface', () => {
  it('resolves to the sources (the same objects the src modules export)', () => {
    expect(lib.Engine).toBe(Engine);
    expect(lib.GPT).toBe(GPT);
    expect(lib.runTraining).toBe(runTraining);
  });

  it('exports the documented API', () => {
    const required = [
      'acquireGpu', 'Engine', 'Tensor',
      'matmul', 'attention', 'layernorm', 'gelu', 'residualAdd', 'embedding', 'uploadTokens', 'crossEntropy',
      'grad_sumsq', 'grad_clip_scale', 'adamw_update', 'writeStepScalars',
      'GPT', 'fullPlan', 'PRESETS', 'readWeights', 'writeWeights', 'generate',
      'loadCorpus', 'BatchLoader', 'validationBatches', 'encode', 'decode', 'VOCAB_SIZE',
      'AdamW', 'StepRunner', 'evaluate', 'TrainingSession', 'runTraining', 'resolveConfig',
      'saveCheckpoint', 'loadCheckpoint', 'loadModelWeights', 'CheckpointError',
    ];
    const exported = lib as Record<string, unknown>;
    const missing = required.filter((n) => exported[n] === undefined);
    expect(missing).toEqual([]);
    expect(typeof lib.PRESETS.tiny.n_layer).toBe('number');
  });

  it('re-exports every layer-dropping and profiler-report export', () => {
    const exported = lib as Record<string, unknown>;
    for (const mod of [drop, report] as Record<string, unknown>[]) {
      const missing = Object.keys(mod).filter((n) => exported[n] !== mod[n]);
      expect(missing).toEqual([]);
    }
  });

  it('gives every export in src/index.ts (and the task surfaces it re-exports whole) a one-line JSDoc', () => {
    const index = readFileSync(join(ROOT, 'src', 'index.ts'), 'utf8');
    const surfaces = [...index.matchAll(/^export \* from '\.\/(.+)\.js';$/gm)].map((m) => join(ROOT, 'src', `${m[1]}.ts`));
    expect(surfaces.map((f) => f.slice(ROOT.length + 1))).toEqual(['src/tasks/gpt/index.ts', 'src/tasks/vit/index.ts']);
    const lines = [index, ...surfaces.map((f) => readFileSync(f, 'utf8'))].join('\n').split('\n');
    const oneLineDoc = /^\s*\/\*\* \S.* \*\/$/;
    const undocumented: string[] = [];
    let inValueBlock = false;
    lines.forEach((line, i) => {
      const prev = lines[i - 1] ?? '';
      if (/^export type \{/.test(line)) {
        if (!oneLineDoc.test(prev)) undocumented.push(line);
      } else if (/^export \{$/.test(line)) {
        inValueBlock = true;
      } else if (inValueBlock && /^\} from /.test(line)) {
        inValueBlock = false;
      } else if (inValueBlock && /^\s+\w+,$/.test(line)) {
        if (!oneLineDoc.test(prev)) undocumented.push(line.trim());
      } else if (/^export \* from /.test(line)) {
        // a task's surface, checked line by line as part of `lines`
      } else if (/^export /.test(line)) {
        undocumented.push(`unexpected form: ${line}`);
      }
    });
    expect(undocumented).toEqual([]);
    // And the parser saw the exports at all (a format change must not make this test vacuous).
    expect(lines.filter((l) => oneLineDoc.test(l)).length).toBeGreaterThan(100);
  });
});
