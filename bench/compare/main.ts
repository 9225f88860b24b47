/**
 * `npm run bench -- compare [--task gpt|vit] [--preset deep] [--steps N] [--seeds K] [--policies none,layerdrop,pld,sbld]
 * [--ablations] [--out DIR] [--reuse] [--plain] [--quick] [--json] [any training flag]`, or directly
 * `npx tsx bench/compare/main.ts [options]`: trains each layer-dropping policy on the same model, data order,
 * learning-rate schedule and seeds (PLD and SBLD at equal expected compute: SBLD's ρ_peak 'match_pld'),
 * evaluates validation loss every --eval-every steps, and writes DIR/report.md, DIR/results.json and SVG plots
 * (see report.ts). Runs go one after another, seeds outermost; each run's folder is DIR/runs/<policy>/seed-<s>/.
 * `--task vit` trains the ViT on Fashion-MNIST instead (`runVitTraining`, with --patch-size and --augment): the
 * same report, plus validation top-1/top-5 accuracy and the test set's figures.
 *
 * Training flags (src/cli/options.ts) pass through to every run; `--drop-*` flags apply to every run (the
 * variant's own settings win), `--drop`/`--drop-policy` are refused (use --policies). `--seed S` is the first
 * seed; the K seeds are S..S+K-1. `--out` is the comparison folder. Defaults differ from `npm start`: preset
 * deep, DEFAULT_STEPS (GPT) or VIT_DEFAULT_STEPS (ViT) steps, an evaluation every steps/EVALS_PER_RUN steps,
 * checkpoints only at the end, no text sample.
 *
 * Cost: about the default steps x (the four policies' step times) plus evaluations: for one seed on 2 CPU cores
 * under lavapipe about 25 minutes (GPT) and 30 minutes (ViT); see DEFAULT_STEPS and VIT_DEFAULT_STEPS.
 * --ablations adds 8 runs per seed.
 * The progress line shows the running run and ETAs for it and for the whole comparison.
 */
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveDropConfig } from '../../src/drop/resolve.js';
import { addTaskOptions, addTrainingOptions, configFromOptions, runCli } from '../../src/cli/options.js';
import { taskNamed } from '../../src/tasks/index.js';
import { ConfigError, type TrainConfig } from '../../src/train/config.js';
import { readConfigFile } from '../../src/cli/config-file.js';
import { runTraining, type RunSummary } from '../../src/tasks/gpt/run.js';
import { isVitConfig } from '../../src/tasks/vit/config.js';
import { runVitTraining, type VitRunSummary } from '../../src/tasks/vit/run.js';
import { fmtPct, fmtStat, hasAccuracy, markdownTable } from './analysis.js';
import { parseMetrics, runCurves, type Metrics } from './metrics.js';
import { CompareProgress, fmtDuration } from './progress.js';
import { writeReport, type CompletedRun } from './report.js';
import { estimateRunSeconds, parsePolicies, planRuns, planVariants, type PlannedRun } from './runs.js';

/**
 * Default optimizer steps per run: the four policies, one seed, preset deep, take about 25 minutes on this
 * 2-core machine (lavapipe): with the subgroup kernels (DEEP_COSTS in runs.ts) a full-depth
 * step takes 1.0-1.3 s, one evaluation (8 batches) about 2.5 s, one skip_loss measurement (13 x 4 forwards)
 * 17 s. So 350 steps: 350 x 1.1 s x (1 + 0.80 + 0.78 + 0.78 of the layers run by none, layerdrop, pld, sbld) =
 * 22 min, plus 4 x 14 evaluations 2.3 min, the measurement and four engine starts 0.6 min: about 25 min (measured:
 * 21-30 min per seed). `--seeds 3`, the full study, takes 65-90 min. Kept at 350 rather than raised to fill 45
 * minutes so that the three-seed study stays near an hour.
 */
export const DEFAULT_STEPS = 350;
/**
 * `--task vit`'s default steps: about 30 minutes for the four policies, one seed, the ViT's preset deep (L12 C64,
 * 7x7 patches, B64), from the three-seed ViT study on this 2-core machine (VIT_DEEP_COSTS in runs.ts): a
 * full-depth step 0.48 s, a forward of 64 images 0.17 s. Per run, besides its steps, the evaluations cost more
 * than GPT's: 13 periodic ones of 512 images, the last on the whole validation split of 5000 images and the test
 * set of 10000 after training, about 60 s in all; SBLD's skip_loss measurement (13 x 4 batches) 9 s; engine
 * start and data 5 s. So 1000 steps: 1000 x 0.48 s x (1 + 0.80 + 0.78 + 0.78 of the layers run by none,
 * layerdrop, pld, sbld) = 27 min, plus 4 x 60 s of evaluation and the starts: about 31 min (measured: none,
 * pld and sbld took 9.0, 6.7 and 6.9 min for seed 1337). 1000 steps are 1.2 epochs of the 55,000 training
 * images: the three-seed study stays near 1.5 hours; top-1 is still rising there (see docs/layer-dropping.md).
 */
export const VIT_DEFAULT_STEPS = 1000;
/**
 * Evaluations per run when --eval-every is not given (the last lands on the final step). Each costs about 2.4
 * full-depth steps at preset deep, so 14 keep them near 10% of the comparison's time.
 */
export const EVALS_PER_RUN = 14;
/** --quick: a smoke run of the whole pipeline (preset tiny), seconds per run. */
export const QUICK_STEPS = 60;
export const DEFAULT_OUT = 'runs/compare';
export const DEFAULT_POLICIES = 'none,layerdrop,pld,sbld';

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} needs a positive integer, got '${v}'`);
    return n;
  };
}

/** The training config shared by every run: compare's defaults where neither a flag nor --config sets the key. */
function baseConfig(o: Record<string, unknown>, out: string): TrainConfig {
  const file = typeof o.config === 'string' ? readConfigFile(o.config) : {};
  const fileKeys = file as Record<string, unknown>;
  const vit = (o.task ?? file.task) === 'vit';
  const steps = (o.steps ?? file.steps ?? (o.quick ? QUICK_STEPS : vit ? VIT_DEFAULT_STEPS : DEFAULT_STEPS)) as number;
  const defaults: Record<string, unknown> = {
    preset: o.quick ? 'tiny' : 'deep',
    steps,
    evalEvery: Math.max(1, Math.round(steps / EVALS_PER_RUN)),
    checkpointEvery: 0,
    sampleTokens: 0,
  };
  const flags: Record<string, unknown> = { ...o, out };
  for (const [k, v] of Object.entries(defaults)) if (flags[k] === undefined && fileKeys[k] === undefined) flags[k] = v;
  return configFromOptions(flags);
}

/** Written into a run's folder once it has finished: what compare planned for it (see `stampOf`). */
const STAMP = 'compare-run.json';

/**
 * A run's stamp: its TrainConfig and its fully resolved layer-dropping settings. The config holds only the
 * drop keys that were set, so without the resolved settings a change of a drop default would let --reuse
 * keep a run trained under the old default.
 */
export function stampOf(cfg: TrainConfig): string {
  const drop = resolveDropConfig(cfg.drop, { nLayer: cfg.n_layer, totalSteps: cfg.steps });
  return JSON.stringify({ config: cfg, resolved_drop: drop }, null, 2) + '\n';
}

/** metrics.jsonl of a finished run whose stamp holds exactly what this comparison plans; else null. */
function reusable(cfg: TrainConfig): Metrics | null {
  const stampPath = join(cfg.out, STAMP);
  const metricsPath = join(cfg.out, 'metrics.jsonl');
  if (!existsSync(stampPath) || !existsSync(metricsPath)) return null;
  if (readFileSync(stampPath, 'utf8') !== stampOf(cfg)) return null;
  const m = parseMetrics(readFileSync(metricsPath, 'utf8'), metricsPath);
  return m.summary && m.summary.steps === cfg.steps ? m : null;
}

export async function compareMain(argv: string[]): Promise<void> {
  const program = addTaskOptions(
    addTrainingOptions(
      new Command('compare').description(
        'Train every layer-dropping policy with the same model, data order, schedule and seeds; write report.md, results.json and SVG plots ' +
          '(--task vit: the ViT on Fashion-MNIST, with top-1/top-5 accuracy beside the loss). ' +
          `Defaults: --preset deep --steps ${DEFAULT_STEPS} (about 25 min for one seed on 2 idle cores; --task vit: ${VIT_DEFAULT_STEPS}, about 30 min), ` +
          `an evaluation every steps/${EVALS_PER_RUN}, --out ${DEFAULT_OUT}.`,
      ),
    ),
  )
    .option('--seeds <k>', 'seeds per policy: --seed, --seed + 1, ...', positiveInt('--seeds'), 1)
    .option('--policies <list>', 'comma-separated policies to compare', DEFAULT_POLICIES)
    .option('--ablations', "add SBLD's ablation runs (8 more per seed)")
    .option('--reuse', 'keep finished runs in --out planned with the identical config instead of training them again (re-renders the report)')
    .option('--plain', 'plain progress lines instead of a bar')
    .option('--quick', `smoke run: --preset tiny --steps ${QUICK_STEPS} unless given`)
    .option('--json', 'end with one JSON object per policy per line (the results.json entries, per-seed detail left out)')
    .showHelpAfterError('(run with --help for every option)');
  program.parse(argv, { from: 'user' });
  const o = program.opts();
  if (o.drop !== undefined || o.dropPolicy !== undefined) {
    throw new ConfigError('--drop / --drop-policy: compare sets each run\'s policy; choose them with --policies');
  }
  const out = resolve((o.out as string | undefined) ?? DEFAULT_OUT);
  const base = baseConfig(o, out);
  // Data a task installs on first use (Fashion-MNIST for the ViT), as `npm start` does, before anything trains.
  taskNamed(base.task).prepareData?.(base);
  const policies = parsePolicies(o.policies as string);
  const variants = planVariants(policies, !!o.ablations, base);
  const K = o.seeds as number;
  const planned = planRuns(base, variants, K, out);
  const seeds = Array.from({ length: K }, (_, k) => base.seed + k);
  const baseline = variants.some((v) => v.name === 'none') ? 'none' : variants[0]!.name;
  const command = `npm run bench -- compare ${argv.join(' ')}`.trim();

  mkdirSync(out, { recursive: true });
  const sbld = resolveDropConfig({ ...base.drop, policy: 'sbld' }, { nLayer: base.n_layer, totalSteps: base.steps });
  const vit = isVitConfig(base);
  console.log(
    `compare: ${variants.length} variant(s) × ${K} seed(s) = ${planned.length} runs of ${base.steps} steps, ${vit ? 'ViT ' : ''}preset ${base.preset} ` +
      `(L${base.n_layer} C${base.n_embd} T${base.seqLen}${vit ? ` P${base.patchSize}` : ''} B${base.batchSize}), eval every ${base.evalEvery} steps -> ${out}`,
  );
  console.log(
    `equal compute: SBLD rho_peak = ${sbld.rhoPeak.toFixed(4)} (${sbld.rhoPeakSource}` +
      (sbld.rhoMatch ? `; expected dropped layer-steps: PLD ${sbld.rhoMatch.pldDropped.toFixed(1)}, SBLD ${sbld.rhoMatch.sbldDropped.toFixed(1)}${sbld.rhoMatch.note ? `; ${sbld.rhoMatch.note}` : ''}` : '') +
      ')',
  );
  const estimates = planned.map((p) => estimateRunSeconds(p.cfg));
  console.log(
    `baseline for time-to-loss: ${baseline}. Estimate on an idle 2-core machine: ${fmtDuration(estimates.reduce((a, b) => a + b, 0))} ` +
      `(rough: ${vit ? 'VIT_DEEP_COSTS' : 'DEEP_COSTS'} scaled to this model${vit ? ', the test set included' : ''}); the ETA follows the measured pace`,
  );

  const progress = new CompareProgress(
    planned.map((p, i) => ({ name: p.variant.name, steps: p.cfg.steps, est_s: estimates[i]! })),
    !!o.plain || !process.stderr.isTTY,
  );
  const started = new Date();
  const done: CompletedRun[] = [];
  const failed: { variant: string; seed: number; error: string }[] = [];
  let adapter = '';
  const tokensPerStep = base.batchSize * base.seqLen * base.gradAccum;
  const finish = (p: PlannedRun, metrics: Metrics, total_s: number, load: [number, number], reused: boolean) => {
    const curves = runCurves(metrics, p.variant.name, p.seed, tokensPerStep);
    done.push({ planned: p, metrics, curves, total_s, load, reused });
    return curves;
  };

  for (const [i, p] of planned.entries()) {
    const info = { index: i, name: p.variant.name, seed: p.seed, steps: p.cfg.steps, metricsPath: join(p.cfg.out, 'metrics.jsonl') };
    const old = o.reuse ? reusable(p.cfg) : null;
    if (old) {
      const c = finish(p, old, NaN, [NaN, NaN], true);
      adapter ||= (old.summary as { adapter?: string }).adapter ?? '';
      progress.skipRun(info, `reused (${c.train_s.toFixed(1)} s, val loss ${old.summary!.val_loss.toFixed(4)})`);
      continue;
    }
    rmSync(p.cfg.out, { recursive: true, force: true }); // a stale metrics.jsonl would feed the progress display
    const load0 = loadavg()[0]!;
    const t0 = performance.now();
    progress.startRun(info);
    try {
      // The same run for either task: the ViT's metrics.jsonl has GPT's step, eval and sensitivity lines.
      const v: VitRunSummary | null = isVitConfig(p.cfg) ? await runVitTraining(p.cfg, { quiet: true }) : null;
      const s: RunSummary = v ?? (await runTraining(p.cfg, { quiet: true }));
      const total = (performance.now() - t0) / 1000;
      adapter ||= s.adapter;
      const metrics = parseMetrics(readFileSync(info.metricsPath, 'utf8'), info.metricsPath);
      const c = finish(p, metrics, total, [load0, loadavg()[0]!], false);
      writeFileSync(join(p.cfg.out, STAMP), stampOf(p.cfg));
      const acc = v ? `, val top-1 ${pct(v.top1)}, test top-1 ${v.test_top1 === null ? '—' : pct(v.test_top1)} (test ${v.test_s.toFixed(0)} s)` : '';
      progress.endRun(
        total,
        `done in ${fmtDuration(total)}: train ${c.train_s.toFixed(1)} s, val loss ${s.val_loss.toFixed(4)}${acc}, ` +
          `${(100 * c.skipped_fraction).toFixed(1)}% of layer-steps skipped, ${Math.round(c.tokens_per_s)} tokens/s`,
      );
    } catch (err) {
      const e = err as Error;
      progress.endRun(undefined, `FAILED: ${e.message}`);
      if (['ConfigError', 'DropConfigError', 'DataError'].includes(e.name)) throw e; // the same for every run
      failed.push({ variant: p.variant.name, seed: p.seed, error: e.message });
    }
  }
  if (done.length === 0) throw new Error('compare: every run failed; nothing to report');

  const r = await writeReport({ out, command, started, finished: new Date(), adapter, base, variants, seeds, baseline, runs: done, failed });
  console.log('');
  const accuracy = hasAccuracy(r.summaries);
  console.log(
    markdownTable(
      ['policy', 'wall s', `time to ${baseline} loss, s`, 'final val loss', ...(accuracy ? ['val top-1', 'val top-1, equal time', 'test top-1', 'test top-5'] : []), 'skipped'],
      r.summaries.map((s) => [
        s.policy,
        fmtStat(s.wall_s, 1),
        s.reached === 0 ? 'never' : fmtStat(s.time_to_baseline_loss_s, 1) + (s.reached < s.seeds.length ? ` (${s.reached}/${s.seeds.length})` : ''),
        fmtStat(s.final_val_loss, 4),
        ...(accuracy ? [fmtPct(s.top1, 2), fmtPct(s.top1_at_equal_time, 2), fmtPct(s.test_top1, 2), fmtPct(s.test_top5, 2)] : []),
        `${(100 * s.skipped_fraction.mean).toFixed(1)}%`,
      ]),
    ),
  );
  console.log(`written: ${r.files.map((f) => join(out, f)).join(', ')}`);
  if (o.json) for (const p of r.results.policies) console.log(JSON.stringify({ ...p, per_seed: undefined }));
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runCli(() => compareMain(process.argv.slice(2)));
}
