/**
 * `npm run bench -- frontier`: the compute matching (steps per budget), the speed-up on the baseline's frontier
 * (log-time interpolation, 'never' and 'above'), the per-seed rows, and a --quick run end to end with --reuse
 * (tiny preset, a dozen steps: seconds).
 * Run: npx vitest run --config test/vitest.config.ts test/frontier.test.ts
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { frontierRows, frontierSpeedup, pairedSpeedupDelta, type FrontierRun } from '../bench/frontier/analysis.js';
import { frontierMain } from '../bench/frontier/main.js';
import { expectedCost, parseBudgets, stepsForBudget } from '../bench/frontier/plan.js';
import { skipLossStats } from '../src/train/sensitivity.js';

const costs = { layerShare: 0.8, skipSaving: 1, measureSteps: 10 };

describe('compute matching', () => {
  it('the baseline trains budget x reference steps', () => {
    expect(stepsForBudget({ policy: 'none' }, 12, 350, 0.5, costs).steps).toBe(175);
    expect(stepsForBudget({ policy: 'none' }, 12, 350, 2, costs).cost).toBe(700);
  });

  it('a dropping policy trains more, cheaper steps whose expected cost is the budget', () => {
    const pld = stepsForBudget({ policy: 'pld' }, 12, 350, 1, costs);
    expect(pld.keptFraction).toBeGreaterThan(0.7);
    expect(pld.keptFraction).toBeLessThan(0.85);
    // cost per step 1 - f (1 - k); the T chosen is within one step of the target.
    expect(pld.steps).toBeGreaterThan(350);
    expect(Math.abs(pld.cost - 350)).toBeLessThanOrEqual(1);
    expect(pld.cost).toBeCloseTo(pld.steps * (1 - 0.8 * (1 - pld.keptFraction)), 6);
    // A larger layer share buys more steps; no share buys none.
    expect(stepsForBudget({ policy: 'pld' }, 12, 350, 1, { ...costs, layerShare: 1 }).steps).toBeGreaterThan(pld.steps);
    expect(stepsForBudget({ policy: 'pld' }, 12, 350, 1, { ...costs, layerShare: 0 }).steps).toBe(350);
  });

  it('a backward-only skip (saving s < 1 of a layer) buys fewer extra steps than the whole-layer skip', () => {
    const layer = stepsForBudget({ policy: 'pld' }, 12, 350, 1, costs);
    const bwd = stepsForBudget({ policy: 'pld', scope: 'backward' }, 12, 350, 1, { ...costs, skipSaving: 2 / 3 });
    expect(bwd.steps).toBeGreaterThan(350);
    expect(bwd.steps).toBeLessThan(layer.steps);
    expect(bwd.cost).toBeCloseTo(bwd.steps * (1 - 0.8 * (2 / 3) * (1 - bwd.keptFraction)), 6);
  });

  it("SBLD's measurement is paid for out of its steps", () => {
    const cheap = stepsForBudget({ policy: 'sbld' }, 12, 350, 1, { ...costs, measureSteps: 0 });
    const dear = stepsForBudget({ policy: 'sbld' }, 12, 350, 1, costs);
    expect(dear.measurements).toBe(1);
    expect(cheap.steps - dear.steps).toBeGreaterThanOrEqual(9);
    expect(expectedCost({ policy: 'sbld' }, 12, dear.steps, costs).cost).toBeCloseTo(dear.cost, 9);
  });

  it('parses budgets', () => {
    expect(parseBudgets('--budgets', '2,0.5,1,1')).toEqual([0.5, 1, 2]);
    expect(() => parseBudgets('--budgets', '1,-1')).toThrow(/--budgets 1,-1: needs positive numbers/);
  });
});

describe("skip_loss's noise estimate", () => {
  it('means and standard errors of the per-batch differences', () => {
    const r = skipLossStats([[1, 3], [2, 2, 2], [5]]);
    expect(r.values).toEqual([2, 2, 5]);
    expect(r.stderr[0]).toBeCloseTo(1, 12); // sd sqrt(2) / sqrt(2)
    expect(r.stderr[1]).toBe(0);
    expect(r.stderr[2]).toBeNaN();
  });
});

describe('speed-up on the frontier', () => {
  const frontier = [
    { x: 100, loss: 3.0 },
    { x: 200, loss: 2.6 },
    { x: 400, loss: 2.4 },
  ];
  it('interpolates the baseline time in log time', () => {
    // loss 2.8 is half-way (in loss) between 100 s and 200 s: t* = sqrt(100 * 200).
    const s = frontierSpeedup(frontier, 100, 2.8);
    expect(s.status).toBe('ok');
    expect(s.value).toBeCloseTo(Math.sqrt(100 * 200) / 100, 12);
    expect(frontierSpeedup(frontier, 200, 2.6).value).toBeCloseTo(1, 12);
  });
  it("'never' below the whole frontier, 'above' above it", () => {
    expect(frontierSpeedup(frontier, 300, 2.3)).toEqual({ value: null, status: 'never' });
    expect(frontierSpeedup(frontier, 50, 3.1)).toEqual({ value: null, status: 'above' });
  });
  it('takes the first crossing of a non-monotone frontier', () => {
    const bumpy = [
      { x: 100, loss: 3.0 },
      { x: 200, loss: 2.5 },
      { x: 400, loss: 2.7 },
    ];
    expect(frontierSpeedup(bumpy, 100, 2.6)!.value! * 100).toBeLessThan(200);
  });

  it('rows pair each run with its own seed, average finite speed-ups and count the others', () => {
    const run = (policy: string, budget: number, seed: number, wall_s: number, loss: number): FrontierRun => ({
      policy,
      budget,
      seed,
      steps: 1,
      wall_s,
      flops: wall_s * 1e9,
      final_val_loss: loss,
      final_top1: null,
      skipped_fraction: policy === 'none' ? 0 : 0.2,
    });
    const runs = [
      run('none', 1, 1, 100, 3.0),
      run('none', 2, 1, 200, 2.6),
      run('none', 1, 2, 100, 3.2),
      run('none', 2, 2, 200, 2.8),
      run('sbld', 1, 1, 100, 2.8),
      run('sbld', 1, 2, 100, 2.7),
      run('pld', 1, 1, 100, 3.0),
      run('pld', 1, 2, 100, 3.0),
    ];
    const rows = frontierRows(runs);
    expect(rows.map((r) => `${r.policy}@${r.budget}`)).toEqual(['none@1', 'none@2', 'sbld@1', 'pld@1']);
    const sbld = rows[2]!;
    expect(sbld.per_seed[0]!.speedup_time).toBeCloseTo(Math.SQRT2, 9);
    expect(sbld.per_seed[1]!.speedup_time_status).toBe('never');
    expect(sbld.speedup_time).toBeCloseTo(Math.SQRT2, 9);
    expect(sbld.speedup_time_counts).toEqual({ ok: 1, never: 1, above: 0 });
    expect(sbld.speedup_flops).toBeCloseTo(Math.SQRT2, 9);
    const pld = rows[3]!;
    expect(pld.per_seed.map((r) => r.speedup_time)).toEqual([1, pld.per_seed[1]!.speedup_time]);
    const d = pairedSpeedupDelta(sbld, pld)!;
    expect(d.seeds).toBe(1);
    expect(d.mean).toBeCloseTo(Math.SQRT2 - 1, 9);
  });
});

describe('npm run bench -- frontier --quick', () => {
  const out = mkdtempSync(join(tmpdir(), 'frontier-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('trains the frontier, writes report, results and raw logs; --reuse trains nothing again', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const args = ['--quick', '--steps', '12', '--eval-every', '6', '--out', out, '--plain'];
      await frontierMain(args);
      const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(res.rows.map((r: { policy: string; budget: number }) => `${r.policy}@${r.budget}`)).toEqual(['none@0.5', 'none@1', 'pld@1', 'sbld@1']);
      for (const r of res.rows) {
        for (const k of ['policy', 'budget', 'steps', 'seeds', 'wall_s', 'flops', 'final_val_loss', 'final_val_loss_se', 'speedup_time', 'speedup_time_se', 'speedup_flops', 'skipped_fraction', 'per_seed']) {
          expect(r, `${r.policy}@${r.budget} has ${k}`).toHaveProperty(k);
        }
        expect(r.flops).toBeGreaterThan(0);
        expect(Number.isFinite(r.final_val_loss)).toBe(true);
        const dir = join(out, 'runs', r.policy, `b${r.budget}`, 'seed-1337');
        for (const f of ['config.json', 'metrics.jsonl', 'frontier-run.json']) expect(existsSync(join(dir, f)), `${dir}/${f}`).toBe(true);
        expect(existsSync(join(dir, 'checkpoint'))).toBe(false);
        const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l && !l.includes('"type"'));
        expect(steps.length).toBe(r.steps);
      }
      expect(res.rows[0].steps).toBe(6);
      // SBLD's lists per seed are in results.json and the report.
      const sbldSeed = res.rows.find((r: { policy: string }) => r.policy === 'sbld').per_seed[0];
      expect(sbldSeed.sbld_measurements.length).toBeGreaterThanOrEqual(1);
      expect(sbldSeed.sbld_measurements[0]).toHaveProperty('block');
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain("SBLD's measurements per seed");
      expect(res.rows[1].speedup_time).toBeCloseTo(1, 12); // the baseline against itself: 1 up to the rounding of measured times
      expect(res.meta.calibration.source).toBe('measured');
      expect(res.meta.code).toMatch(/^([0-9a-f]{40}|unknown)/);
      const report = readFileSync(join(out, 'report.md'), 'utf8');
      expect(report).toContain('frontier_time.svg');
      expect(readFileSync(join(out, 'frontier_time.svg'), 'utf8')).toMatch(/^<svg/);

      await frontierMain([...args, '--reuse']);
      const again = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(again.meta.reused_runs).toBe(4);
      expect(again.meta.calibration.source).toBe('reused');
      expect(again.rows.map((r: { final_val_loss: number }) => r.final_val_loss)).toEqual(res.rows.map((r: { final_val_loss: number }) => r.final_val_loss));
    } finally {
      log.mockRestore();
    }
  }, 240_000);
});
