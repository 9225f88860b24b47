/**
 * `npm run bench -- frontier [--task gpt|vit] [--preset deep] [--steps R] [--seeds K] [--seed S]
 * [--policies none,pld,sbld] [--baseline-budgets 0.5,1,1.5,2] [--budgets 1] [--layer-share F] [--out DIR]
 * [--reuse] [--plain] [--quick] [--json] [any training flag]`: the compute-matched study. For each seed, each
 * baseline budget b trains `none` for round(b·R) steps, and each dropping policy at each of --budgets trains the
 * steps that make its expected cost equal to the baseline's at that budget (plan.ts; the cost's inputs are
 * measured first by calibrate.ts). Every run's schedule spans its own steps. The report (report.ts) places each
 * run on the baseline's loss-vs-time frontier: the compute-equivalent speed-up in wall time and in FLOPs
 * (analysis.ts). Runs reuse compare's training calls and metrics parsing; each run's folder is
 * DIR/runs/<policy>/b<budget>/seed-<s>/ (config.json, metrics.jsonl, frontier-run.json; checkpoints are removed,
 * the study does not need them).
 *
 * `--reuse` keeps a finished run whose frontier-run.json holds the same config, resolved drop settings and code
 * (code.ts: the commit plus any uncommitted change to the code), and the calibration of an earlier call on the
 * same model (calibration.json), so a second call with the same flags only re-renders the report.
 */
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DropConfig } from '../../src/drop/config.js';
import { resolveDropConfig } from '../../src/drop/resolve.js';
import { addTaskOptions, addTrainingOptions, configFromOptions, runCli } from '../../src/cli/options.js';
import { taskNamed } from '../../src/tasks/index.js';
import { ConfigError, type TrainConfig } from '../../src/train/config.js';
import { resolveConfig } from '../../src/tasks/gpt/config.js';
import { readConfigFile } from '../../src/cli/config-file.js';
import { runTraining } from '../../src/tasks/gpt/run.js';
import { isVitConfig, resolveVitConfig } from '../../src/tasks/vit/config.js';
import { runVitTraining } from '../../src/tasks/vit/run.js';
import { DEFAULT_STEPS, VIT_DEFAULT_STEPS } from '../compare/main.js';
import { parseMetrics, type Metrics } from '../compare/metrics.js';
import { CompareProgress, fmtDuration } from '../compare/progress.js';
import { estimateRunSeconds, parsePolicies } from '../compare/runs.js';
import { fmtSpeedup, frontierRows, type FrontierRun } from './analysis.js';
import { calibrate, type Calibration } from './calibrate.js';
import { codeVersion } from './code.js';
import { parseBudgets, stepsForBudget, type StepCosts } from './plan.js';
import { writeFrontierReport } from './report.js';
import { markdownTable } from '../compare/analysis.js';

export const DEFAULT_OUT = 'runs/frontier';
/**
 * Evaluations per run unless --eval-every is given: the frontier uses only the final validation loss (the last
 * evaluation always lands on the last step), so a few are enough to see each run's curve; each costs about 2.4
 * full-depth steps (compare's 14 per run were ~10% of its time).
 */
export const FRONTIER_EVALS_PER_RUN = 4;
export const DEFAULT_POLICIES = 'none,pld,sbld';
export const DEFAULT_BASELINE_BUDGETS = '0.5,1,1.5,2';
export const DEFAULT_BUDGETS = '1';
/** --quick: preset tiny, this many reference steps, budgets 0.5,1 for the baseline. */
export const QUICK_STEPS = 40;
/**
 * --plan-only without --layer-share: the layers' share of a deep step, 0.9 (a 4-step calibration of preset
 * deep on a loaded host measured 0.72 in time; by FLOPs the layers are 0.87 of the tiny preset's step and more
 * of deeper ones). Only the printed step counts depend on it; a real run measures it.
 */
export const PLAN_ONLY_LAYER_SHARE = 0.9;
/** Interleaved calibration rounds (full step, half the layers skipped), after 2 untimed ones. --quick's tiny steps take ~20 ms: 8. */
export const CALIBRATION_ROUNDS = 6;
const QUICK_CALIBRATION_ROUNDS = 8;

const STAMP = 'frontier-run.json';
const CALIBRATION = 'calibration.json';

export interface PlannedFrontierRun {
  policy: string;
  budget: number;
  seed: number;
  cfg: TrainConfig;
  expectedCost: number;
  keptFraction: number;
}

/** The frontier's shared config: compare's defaults (preset deep, steps, no checkpoints, no sample). */
function baseConfig(o: Record<string, unknown>): TrainConfig {
  const file = typeof o.config === 'string' ? readConfigFile(o.config) : {};
  const vit = (o.task ?? file.task) === 'vit';
  const steps = (o.steps ?? file.steps ?? (o.quick ? QUICK_STEPS : vit ? VIT_DEFAULT_STEPS : DEFAULT_STEPS)) as number;
  const defaults: Record<string, unknown> = { preset: o.quick ? 'tiny' : 'deep', steps, checkpointEvery: 0, sampleTokens: 0, evalEvery: Math.max(1, Math.round(steps / FRONTIER_EVALS_PER_RUN)) };
  if (o.quick) defaults.warmupSteps = Math.max(1, Math.round(steps / 10));
  const flags: Record<string, unknown> = { ...o, out: 'unused' };
  for (const [k, v] of Object.entries(defaults)) if (flags[k] === undefined && (file as Record<string, unknown>)[k] === undefined) flags[k] = v;
  return configFromOptions(flags);
}

/**
 * s, the share of a layer's work one of its skips removes, by the drop scope: 1 for 'layer'; for 'backward' the
 * calibration's measured s_b (the backward and optimizer work, about two thirds of a layer's).
 */
export function skipSaving(drop: Partial<DropConfig>, cal: Pick<Calibration, 'backward_saving'>): { s: number; about: string } {
  if (drop.scope === 'backward') return { s: cal.backward_saving, about: `${cal.backward_saving.toFixed(3)} (drop scope backward: measured, the layer's backward and update)` };
  return { s: 1, about: '1 (drop scope layer: a skipped layer runs nothing)' };
}

/**
 * Every run: seeds outermost; within a seed the baseline budgets, then each policy at each budget, the order
 * rotated by one per seed (drift in the machine's load touches every run alike). `evalEvery` and the
 * learning-rate warm-up scale with each run's steps.
 */
export function planFrontier(base: TrainConfig, policies: readonly string[], baselineBudgets: readonly number[], budgets: readonly number[], seeds: number, out: string, costs: (drop: Partial<DropConfig>) => StepCosts): PlannedFrontierRun[] {
  const R = base.steps;
  const combos: { policy: string; budget: number }[] = [];
  if (policies.includes('none')) for (const b of baselineBudgets) combos.push({ policy: 'none', budget: b });
  for (const p of policies.filter((x) => x !== 'none')) for (const b of budgets) combos.push({ policy: p, budget: b });
  const runs: PlannedFrontierRun[] = [];
  for (let k = 0; k < seeds; k++) {
    const seed = base.seed + k;
    const r = k % Math.max(1, combos.length);
    for (const c of [...combos.slice(r), ...combos.slice(0, r)]) {
      const drop = { ...base.drop, policy: c.policy } as Partial<DropConfig>;
      const s = stepsForBudget(drop, base.n_layer, R, c.budget, costs(drop));
      const own: Partial<TrainConfig> = {
        seed,
        steps: s.steps,
        evalEvery: Math.max(1, Math.round((base.evalEvery * s.steps) / R)),
        warmupSteps: Math.round((base.warmupSteps * s.steps) / R),
        out: join(out, 'runs', c.policy, `b${c.budget}`, `seed-${seed}`),
        drop,
      };
      const cfg = isVitConfig(base) ? resolveVitConfig(base, own) : resolveConfig({}, { ...base, ...own });
      runs.push({ policy: c.policy, budget: c.budget, seed, cfg, expectedCost: s.cost, keptFraction: s.keptFraction });
    }
  }
  return runs;
}

export function stampOf(cfg: TrainConfig, code: string): string {
  const drop = resolveDropConfig(cfg.drop, { nLayer: cfg.n_layer, totalSteps: cfg.steps });
  return JSON.stringify({ config: cfg, resolved_drop: drop, code }, null, 2) + '\n';
}

function reusable(cfg: TrainConfig, code: string): Metrics | null {
  const stampPath = join(cfg.out, STAMP);
  const metricsPath = join(cfg.out, 'metrics.jsonl');
  if (!existsSync(stampPath) || !existsSync(metricsPath)) return null;
  if (readFileSync(stampPath, 'utf8') !== stampOf(cfg, code)) return null;
  const m = parseMetrics(readFileSync(metricsPath, 'utf8'), metricsPath);
  return m.summary && m.summary.steps === cfg.steps ? m : null;
}

/** What a run contributes to the frontier, from its metrics.jsonl. */
export function frontierRunOf(policy: string, budget: number, seed: number, m: Metrics): FrontierRun {
  const s = m.summary!;
  let wall = 0;
  let flops = 0;
  for (const l of m.steps) {
    wall += l.ms;
    flops += (l as { flops?: number }).flops ?? NaN;
  }
  return {
    policy,
    budget,
    seed,
    steps: m.steps.length,
    wall_s: wall / 1000,
    flops,
    final_val_loss: s.val_loss,
    final_top1: s.top1 ?? null,
    skipped_fraction: s.skipped_fraction,
    ...(m.sensitivity.length
      ? {
          sbld_measurements: m.sensitivity.map((x) => ({
            step: x.step,
            block: x.block,
            allow: x.allow,
            action: (x as { signal?: { action: string } }).signal?.action ?? 'use',
          })),
        }
      : {}),
  };
}

/** The model part of a calibration's key: what the step time depends on, and the code. */
function calibrationKey(base: TrainConfig, code: string): string {
  const { seed: _s, steps: _t, out: _o, evalEvery: _e, warmupSteps: _w, lr: _l, ...rest } = base;
  return JSON.stringify({ ...rest, code });
}

const posInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} needs a positive integer, got '${v}'`);
  return n;
};

export async function frontierMain(argv: string[]): Promise<void> {
  const program = addTaskOptions(
    addTrainingOptions(
      new Command('frontier').description(
        'The compute-matched study: the baseline at several budgets (its loss-vs-time frontier) and each dropping policy at the steps that ' +
          'give it the same expected compute; reports each policy\'s compute-equivalent speed-up in wall time and FLOPs. ' +
          `Defaults: --preset deep, --steps ${DEFAULT_STEPS} reference steps (--task vit: ${VIT_DEFAULT_STEPS}), --out ${DEFAULT_OUT}.`,
      ),
    ),
  )
    .option('--seeds <k>', 'seeds: --seed, --seed + 1, ...', posInt('--seeds'), 1)
    .option('--policies <list>', 'comma-separated policies (none is the baseline)', DEFAULT_POLICIES)
    .option('--baseline-budgets <list>', "the baseline's budgets, multiples of --steps", DEFAULT_BASELINE_BUDGETS)
    .option('--budgets <list>', "the dropping policies' budgets, multiples of --steps", DEFAULT_BUDGETS)
    .option('--layer-share <f>', "the layers' share of a full step's time, instead of measuring it (0 < f <= 1)", (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`--layer-share needs a number in (0, 1], got '${v}'`);
      return n;
    })
    .option('--plan-only', "print the planned runs and the time estimate, train nothing (the layer share: --layer-share, or PLAN_ONLY_LAYER_SHARE)")
    .option('--reuse', 'keep finished runs (same config and code) and the calibration from --out; re-renders the report')
    .option('--plain', 'plain progress lines instead of a bar')
    .option('--quick', `smoke run: --preset tiny --steps ${QUICK_STEPS} --baseline-budgets 0.5,1 (and warm-up steps/10) unless given`)
    .option('--json', 'end with one JSON object per (policy, budget) per line (per-seed values left out)')
    .showHelpAfterError('(run with --help for every option)');
  program.parse(argv, { from: 'user' });
  const o = program.opts();
  if (o.drop !== undefined || o.dropPolicy !== undefined) throw new ConfigError('--drop / --drop-policy: frontier sets each run\'s policy; choose them with --policies');
  const quickBudgets = o.quick && !argv.some((a) => a.startsWith('--baseline-budgets'));
  const baselineBudgets = parseBudgets('--baseline-budgets', quickBudgets ? '0.5,1' : (o.baselineBudgets as string));
  const budgets = parseBudgets('--budgets', o.budgets as string);
  const policies = parsePolicies(o.policies as string);
  if (!policies.includes('none')) throw new ConfigError(`--policies ${o.policies}: the frontier needs the baseline 'none'`);
  const out = resolve((o.out as string | undefined) ?? DEFAULT_OUT);
  const base = baseConfig(o);
  // Data a task installs on first use (Fashion-MNIST for the ViT), as `npm start` does, before anything trains.
  if (!o.planOnly) taskNamed(base.task).prepareData?.(base);
  const K = o.seeds as number;
  const code = codeVersion();
  const vit = isVitConfig(base);
  const command = `npm run bench -- frontier ${argv.join(' ')}`.trim();
  if (!o.planOnly) mkdirSync(out, { recursive: true });
  const started = new Date();

  // ---- the cost model's measured inputs
  const key = calibrationKey(base, code);
  let cal: Calibration;
  const calPath = join(out, CALIBRATION);
  const old = o.reuse && existsSync(calPath) ? (JSON.parse(readFileSync(calPath, 'utf8')) as { key: string; calibration: Calibration }) : null;
  if (o.layerShare !== undefined || o.planOnly) {
    const share = (o.layerShare as number | undefined) ?? PLAN_ONLY_LAYER_SHARE;
    // m from the forward count of a measurement: (L + 1)·M forwards, a forward about a third of a step.
    const d = resolveDropConfig({ ...base.drop, policy: 'sbld' }, { nLayer: base.n_layer, totalSteps: base.steps });
    const m = ((base.n_layer + 1) * d.probeBatches) / 3;
    // s_b: the backward and update's share of a layer, taken as two thirds when not measured.
    cal = { layer_share: share, backward_saving: 2 / 3, backward_step_ms: NaN, layer_share_flops: NaN, backward_saving_flops: NaN, measure_steps: m, full_step_ms: NaN, partial_step_ms: NaN, skipped_layers: [], measure_ms: NaN, rounds: 0, source: 'given' };
  } else if (old && old.key === key) {
    cal = { ...old.calibration, source: 'reused' };
  } else {
    console.log('frontier: measuring the layers\' share of a step and one SBLD measurement (calibration)...');
    cal = await calibrate(base, o.quick ? QUICK_CALIBRATION_ROUNDS : CALIBRATION_ROUNDS, 2);
    writeFileSync(calPath, JSON.stringify({ key, calibration: cal }, null, 2) + '\n');
  }
  const costs = (drop: Partial<DropConfig>): StepCosts => ({ layerShare: cal.layer_share, skipSaving: skipSaving(drop, cal).s, measureSteps: cal.measure_steps });
  const planned = planFrontier(base, policies, baselineBudgets, budgets, K, out, costs);
  const estimates = planned.map((p) => estimateRunSeconds(p.cfg));
  console.log(
    `frontier: ${planned.length} runs (${K} seed(s)), ${vit ? 'ViT ' : ''}preset ${base.preset} L${base.n_layer}, reference ${base.steps} steps; ` +
      `layers' share of a step ${cal.layer_share.toFixed(3)} (${cal.source}), one SBLD measurement ${cal.measure_steps.toFixed(2)} steps -> ${out}`,
  );
  for (const p of planned.filter((x) => x.seed === base.seed)) {
    console.log(`  ${p.policy} budget ${p.budget}: ${p.cfg.steps} steps (expected kept ${(100 * p.keptFraction).toFixed(1)}%, cost ${p.expectedCost.toFixed(1)} full steps)`);
  }
  console.log(`estimate on an idle 2-core machine: ${fmtDuration(estimates.reduce((a, b) => a + b, 0))} (compare's DEEP_COSTS scaled; the ETA follows the measured pace)`);
  if (o.planOnly) return;

  const progress = new CompareProgress(
    planned.map((p, i) => ({ name: `${p.policy}@${p.budget}`, steps: p.cfg.steps, est_s: estimates[i]! })),
    !!o.plain || !process.stderr.isTTY,
  );
  const runs: FrontierRun[] = [];
  const failed: { policy: string; budget: number; seed: number; error: string }[] = [];
  let adapter = '';
  let reused = 0;
  for (const [i, p] of planned.entries()) {
    const metricsPath = join(p.cfg.out, 'metrics.jsonl');
    const info = { index: i, name: `${p.policy}@${p.budget}`, seed: p.seed, steps: p.cfg.steps, metricsPath };
    const prev = o.reuse ? reusable(p.cfg, code) : null;
    if (prev) {
      reused++;
      adapter ||= (prev.summary as { adapter?: string }).adapter ?? '';
      runs.push(frontierRunOf(p.policy, p.budget, p.seed, prev));
      progress.skipRun(info, `reused (val loss ${prev.summary!.val_loss.toFixed(4)})`);
      continue;
    }
    rmSync(p.cfg.out, { recursive: true, force: true });
    const t0 = performance.now();
    progress.startRun(info);
    try {
      const s = isVitConfig(p.cfg) ? await runVitTraining(p.cfg, { quiet: true }) : await runTraining(p.cfg, { quiet: true });
      adapter ||= s.adapter;
      rmSync(join(p.cfg.out, 'checkpoint'), { recursive: true, force: true });
      const m = parseMetrics(readFileSync(metricsPath, 'utf8'), metricsPath);
      writeFileSync(join(p.cfg.out, STAMP), stampOf(p.cfg, code));
      const r = frontierRunOf(p.policy, p.budget, p.seed, m);
      runs.push(r);
      progress.endRun((performance.now() - t0) / 1000, `train ${r.wall_s.toFixed(1)} s, ${(r.flops / 1e9).toFixed(2)} GFLOP, val loss ${r.final_val_loss.toFixed(4)}, ${(100 * r.skipped_fraction).toFixed(1)}% skipped`);
    } catch (err) {
      const e = err as Error;
      progress.endRun(undefined, `FAILED: ${e.message}`);
      if (['ConfigError', 'DropConfigError', 'DataError'].includes(e.name)) throw e;
      failed.push({ policy: p.policy, budget: p.budget, seed: p.seed, error: e.message });
    }
  }
  if (runs.length === 0) throw new Error('frontier: every run failed; nothing to report');

  const rows = frontierRows(runs, 'none');
  const setup =
    `${vit ? 'ViT on Fashion-MNIST' : 'GPT on the Brown corpus'}, preset ${base.preset} (L${base.n_layer} C${base.n_embd}, batch ${base.batchSize}x${base.gradAccum}), ` +
    `lr ${base.lr} with warm-up ${base.warmupSteps}/${base.steps} of each run's steps and cosine decay; seeds ${base.seed}..${base.seed + K - 1}; ` +
    `policies ${policies.join(', ')}; baseline budgets ${baselineBudgets.join(', ')}, dropping policies' budgets ${budgets.join(', ')}.`;
  const files = await writeFrontierReport({
    out,
    command,
    started,
    finished: new Date(),
    adapter,
    code,
    task: vit ? 'vit' : 'gpt',
    setup,
    refSteps: base.steps,
    calibration: cal,
    scope: skipSaving(base.drop, cal).about,
    rows,
    failed,
    reusedRuns: reused,
  });
  console.log('');
  console.log(
    markdownTable(
      ['policy', 'budget', 'steps', 'wall s', 'final val loss', 'speed-up (time)', 'speed-up (FLOPs)'],
      rows.map((r) => [r.policy, String(r.budget), String(r.steps), r.wall_s.toFixed(1), r.final_val_loss.toFixed(4), fmtSpeedup(r.speedup_time, r.speedup_time_se, r.speedup_time_counts), fmtSpeedup(r.speedup_flops, r.speedup_flops_se, r.speedup_flops_counts)]),
    ),
  );
  console.log(`written: ${files.map((f) => join(out, f)).join(', ')}`);
  if (o.json) for (const r of rows) console.log(JSON.stringify({ ...r, per_seed: undefined }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runCli(() => frontierMain(process.argv.slice(2)));
}
