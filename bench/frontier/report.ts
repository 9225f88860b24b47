/**
 * Writes the frontier's outputs into its folder: `report.md` (setup, the compute matching and its measured
 * inputs, the table, the plots, SBLD against PLD paired per seed), `results.json` (one row per (policy, budget)
 * with the per-seed values) and the plots `frontier_time.svg` (final validation loss against training wall time,
 * log x, one line per policy through its budgets, mean ± s.e. over seeds as error bars) and `frontier_flops.svg`
 * (the same against FLOPs executed). Numbers come from analysis.ts; this file only arranges them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { markdownTable } from '../compare/analysis.js';
import { colorScale, renderSvg } from '../compare/charts.js';
import type { Calibration } from './calibrate.js';
import { fmtSpeedup, pairedSpeedupDelta, type FrontierRow } from './analysis.js';

export interface FrontierReportInput {
  out: string;
  command: string;
  started: Date;
  finished: Date;
  adapter: string;
  code: string;
  task: 'gpt' | 'vit';
  setup: string;
  refSteps: number;
  calibration: Calibration;
  scope: string;
  rows: FrontierRow[];
  failed: { policy: string; budget: number; seed: number; error: string }[];
  reusedRuns: number;
}

function frontierSpec(rows: readonly FrontierRow[], x: 'wall_s' | 'flops', title: string): TopLevelSpec {
  const policies = [...new Set(rows.map((r) => r.policy))];
  const data = rows
    .filter((r) => Number.isFinite(r[x]) && Number.isFinite(r.final_val_loss))
    .map((r) => {
      const e = Number.isFinite(r.final_val_loss_se) ? r.final_val_loss_se : 0;
      return { policy: r.policy, budget: r.budget, x: r[x], loss: r.final_val_loss, lo: r.final_val_loss - e, hi: r.final_val_loss + e };
    });
  const color = { field: 'policy', type: 'nominal' as const, scale: colorScale(policies), sort: policies, title: 'policy' };
  const xTitle = x === 'wall_s' ? 'training wall time, s (log; steps + sensitivity measurement, no evaluation)' : 'FLOPs executed (log; counted per dispatch)';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'mean over seeds per (policy, budget); error bars ± 1 s.e.; labels: budget' },
    width: 640,
    height: 360,
    config: { background: 'white', axis: { grid: true, gridColor: '#e6e6e6' } },
    data: { values: data },
    encoding: { x: { field: 'x', type: 'quantitative', scale: { type: 'log' }, title: xTitle }, color },
    layer: [
      { mark: { type: 'line', strokeWidth: 2, point: { size: 40, filled: true } }, encoding: { y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: 'final validation loss' }, order: { field: 'x' } } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      { mark: { type: 'text', dy: -10, fontSize: 10 }, encoding: { y: { field: 'loss', type: 'quantitative' }, text: { field: 'budget', type: 'quantitative', format: '.2~f' } } },
    ],
  };
}

const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const pm = (m: number, s: number, d: number) => f(m, d) + (Number.isFinite(s) ? ` ± ${s.toFixed(d)}` : '');

export async function writeFrontierReport(inp: FrontierReportInput): Promise<string[]> {
  const files = ['report.md', 'results.json', 'frontier_time.svg', 'frontier_flops.svg'];
  writeFileSync(join(inp.out, 'frontier_time.svg'), await renderSvg(frontierSpec(inp.rows, 'wall_s', 'Final validation loss against training wall time')));
  writeFileSync(join(inp.out, 'frontier_flops.svg'), await renderSvg(frontierSpec(inp.rows, 'flops', 'Final validation loss against FLOPs executed')));

  const vit = inp.task === 'vit';
  const c = inp.calibration;
  const meta = {
    command: inp.command,
    started: inp.started.toISOString(),
    finished: inp.finished.toISOString(),
    adapter: inp.adapter,
    code: inp.code,
    task: inp.task,
    reference_steps: inp.refSteps,
    drop_scope: inp.scope,
    calibration: c,
    reused_runs: inp.reusedRuns,
    failed: inp.failed,
  };
  writeFileSync(join(inp.out, 'results.json'), JSON.stringify({ meta, rows: inp.rows }, null, 2) + '\n');

  const table = markdownTable(
    ['policy', 'budget', 'steps', 'seeds', 'wall s', 'GFLOP', 'final val loss', ...(vit ? ['val top-1'] : []), 'speed-up (time)', 'speed-up (FLOPs)', 'layer-steps skipped'],
    inp.rows.map((r) => [
      r.policy,
      String(r.budget),
      String(r.steps),
      String(r.seeds.length),
      pm(r.wall_s, r.wall_s_se, 1),
      pm(r.flops / 1e9, r.flops_se / 1e9, 1),
      pm(r.final_val_loss, r.final_val_loss_se, 4),
      ...(vit ? [r.final_top1 === null ? '—' : `${(100 * r.final_top1).toFixed(2)}%` + (r.final_top1_se !== null ? ` ± ${(100 * r.final_top1_se).toFixed(2)}` : '')] : []),
      fmtSpeedup(r.speedup_time, r.speedup_time_se, r.speedup_time_counts),
      fmtSpeedup(r.speedup_flops, r.speedup_flops_se, r.speedup_flops_counts),
      `${(100 * r.skipped_fraction).toFixed(1)}%`,
    ]),
  );
  const perSeed = markdownTable(
    ['policy', 'budget', 'seed', 'steps', 'wall s', 'GFLOP', 'final val loss', 'speed-up (time)', 'speed-up (FLOPs)', 'skipped'],
    inp.rows.flatMap((r) =>
      r.per_seed.map((s) => [
        r.policy,
        String(r.budget),
        String(s.seed),
        String(s.steps),
        f(s.wall_s, 1),
        f(s.flops / 1e9, 2),
        f(s.final_val_loss, 4),
        s.speedup_time !== null ? `${s.speedup_time.toFixed(3)}x` : s.speedup_time_status,
        s.speedup_flops !== null ? `${s.speedup_flops.toFixed(3)}x` : s.speedup_flops_status,
        `${(100 * s.skipped_fraction).toFixed(1)}%`,
      ]),
    ),
  );
  const paired: string[] = [];
  for (const s of inp.rows.filter((r) => r.policy === 'sbld')) {
    const p = inp.rows.find((r) => r.policy === 'pld' && r.budget === s.budget);
    const d = p ? pairedSpeedupDelta(s, p) : null;
    if (d) paired.push(`- budget ${s.budget}: SBLD − PLD speed-up (time) ${pm(d.mean, d.stderr, 3)} over ${d.seeds} seed(s) with both measured`);
  }
  const lists = inp.rows.flatMap((r) =>
    r.per_seed
      .filter((x) => x.sbld_measurements?.length)
      .map((x) => `- ${r.policy} budget ${r.budget} seed ${x.seed}: ` + x.sbld_measurements!.map((m) => `step ${m.step} block [${m.block.join(', ')}] allow [${m.allow.join(', ')}] (${m.action})`).join('; ')),
  );
  const md = `# Loss-vs-time frontier

\`${inp.command}\`

${inp.started.toISOString()} – ${inp.finished.toISOString()}; adapter: ${inp.adapter || 'unknown'}; code: \`${inp.code}\`${inp.reusedRuns ? `; ${inp.reusedRuns} run(s) reused from this folder` : ''}.

${inp.setup}

## Compute matching

Reference run: ${inp.refSteps} steps. The baseline (\`none\`) at budget b trains round(b · ${inp.refSteps}) steps; a dropping
policy at budget b trains the T steps whose expected cost Σ_t (1 − f·s·(1 − k_t)) + n_meas·m, in full-depth steps,
is closest to b · ${inp.refSteps} (bench/frontier/plan.ts). Each run's warm-up + cosine schedule spans its own steps.

- f, the layers' share of a full step's time: **${c.layer_share.toFixed(3)}** (${c.source}${c.source === 'given' ? '' : `: median full step ${c.full_step_ms.toFixed(1)} ms, with layers [${c.skipped_layers.join(', ')}] skipped ${c.partial_step_ms.toFixed(1)} ms, ${c.rounds} interleaved rounds`})
- s, the share of a layer's work a skip removes: ${inp.scope}
- the same shares counted in FLOPs (not used for matching; a check on the timed ones): layers ${f(c.layer_share_flops, 3)} of a step's FLOPs, a backward-only skip ${f(c.backward_saving_flops, 3)} of a layer's
- m, one SBLD skip_loss measurement: ${c.measure_steps.toFixed(2)} full steps (${Number.isFinite(c.measure_ms) ? `${c.measure_ms.toFixed(0)} ms` : 'estimated as (L+1)·M/3 steps, not timed'}; a taylor SBLD makes none)
- k_t: the policy's expected kept fraction at step t (\`keepProbabilities\`)

## Results (mean ± s.e. over seeds)

Speed-up: the wall time (FLOPs) at which the same seed's baseline frontier, interpolated in log time between its
budgets, reaches the run's final validation loss, divided by the run's wall time (FLOPs). "never": the run's loss is
below the whole baseline frontier (the baseline does not reach it in its largest budget); "above": worse than the
smallest budget's baseline (not extrapolated). Means are over the seeds that gave a number.

${table}

![frontier, wall time](frontier_time.svg)

![frontier, FLOPs](frontier_flops.svg)

${paired.length ? `### SBLD against PLD, paired per seed\n\n${paired.join('\n')}\n` : ''}
### Per seed

${perSeed}
${lists.length ? `\n### SBLD's measurements per seed (block list, allow list, what the no-signal guard did)\n\n${lists.join('\n')}\n` : ''}${inp.failed.length ? `\n### Failed runs\n\n${inp.failed.map((x) => `- ${x.policy} budget ${x.budget} seed ${x.seed}: ${x.error}`).join('\n')}\n` : ''}
Raw logs: \`runs/<policy>/b<budget>/seed-<s>/\` (config.json, metrics.jsonl, frontier-run.json).
`;
  writeFileSync(join(inp.out, 'report.md'), md);
  return files;
}
