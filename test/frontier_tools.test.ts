/**
 * The frontier study's reading helpers: finishedRuns (bench/frontier/finished-runs.ts) lists exactly the runs whose
 * metrics end with a summary line, with budget and seed parsed from the folder names, in a stable order.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finishedRuns } from '../bench/frontier/finished-runs.js';

const dir = mkdtempSync(join(tmpdir(), 'sbld-frontier-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeRun(policy: string, budget: string, seed: number, finished: boolean, loss: number): void {
  const folder = join(dir, 'runs', policy, `b${budget}`, `seed-${seed}`);
  mkdirSync(folder, { recursive: true });
  const lines = [{ step: 0, loss: 5, lr: 1e-3, ms: 10, tokens_per_s: 1, layers: '1101', expected_kept: 0.75 }];
  if (finished) lines.push({ type: 'summary', steps: 1, wall_s: 0.01, skipped_fraction: 0.25, val_loss: loss } as never);
  writeFileSync(join(folder, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

describe('finishedRuns', () => {
  it('lists the finished runs by policy, budget and seed, and skips unfinished ones', () => {
    writeRun('sbld', '1', 12, true, 2.5);
    writeRun('none', '1.5', 11, true, 2.4);
    writeRun('none', '0.5', 11, true, 2.9);
    writeRun('none', '1', 12, false, 0);
    writeRun('none', '1', 11, true, 2.6);
    const runs = finishedRuns(dir);
    expect(runs.map((r) => [r.policy, r.budget, r.seed, r.metrics.summary!.val_loss])).toEqual([
      ['none', 0.5, 11, 2.9],
      ['none', 1, 11, 2.6],
      ['none', 1.5, 11, 2.4],
      ['sbld', 1, 12, 2.5],
    ]);
    expect(runs[3]!.metrics.steps[0]!.layers).toBe('1101');
  });

  it('says what is wrong when the folder is not a frontier output', () => {
    expect(() => finishedRuns(join(dir, 'nope'))).toThrow(/no runs\/ folder/);
  });
});
