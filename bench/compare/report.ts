/**
 * Writes the comparison's outputs into its folder: `report.md` (setup, the equal-compute figure, the main
 * table, for the ViT the accuracy table, the plots, SBLD's keep probabilities and sensitivities, the ablations
 * and what they say), `results.json` (the same numbers, per policy and per seed) and the SVG plots. Numbers come
 * from `analysis.ts`; this file only arranges them.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import type { ResolvedDropConfig } from '../../src/drop/config.js';
import { resolveDropConfig } from '../../src/drop/resolve.js';
import type { TrainConfig } from '../../src/train/config.js';
import { isVitConfig, VIT_IMAGE_SIZE } from '../../src/tasks/vit/config.js';
import { VAL_FRACTION } from '../../src/tasks/vit/data.js';
import {
  ablationDeltas,
  ablationTable,
  accuracyTable,
  hasAccuracy,
  isClear,
  meanCurve,
  summarize,
  summaryTable,
  type AblationDelta,
  type EvalMetric,
  type RunCurves,
  type Stat,
  type VariantSummary,
} from './analysis.js';
import { accuracyCurveSpec, keepHeatmapSpec, lossCurveSpec, renderSvg, sensitivitySpec, throughputSpec, type CurveRow, type KeepCell, type SensitivityRow } from './charts.js';
import { keepHistoryMismatch, sbldKeepHistory, type Metrics } from './metrics.js';
import type { PlannedRun, Variant } from './runs.js';

export interface CompletedRun {
  planned: PlannedRun;
  metrics: Metrics;
  curves: RunCurves;
  /** Wall time of the whole runTraining / runVitTraining call (engine start, evals, test, checkpoint included), s. */
  total_s: number;
  /** 1-minute load average of the machine at the start and end of the run. */
  load: [number, number];
  reused: boolean;
}

export interface ReportInput {
  out: string;
  command: string;
  started: Date;
  finished: Date;
  adapter: string;
  base: TrainConfig;
  variants: readonly Variant[];
  seeds: readonly number[];
  baseline: string;
  runs: readonly CompletedRun[];
  failed: readonly { variant: string; seed: number; error: string }[];
}

export interface ReportOutput {
  summaries: VariantSummary[];
  deltas: AblationDelta[];
  files: string[];
  /** What results.json holds. */
  results: ReturnType<typeof resultsJson>;
}

const num = (x: number | null | undefined): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : x);

/** results.json: per policy the mean over seeds as plain numbers, their standard errors, and every seed. */
function resultsJson(inp: ReportInput, summaries: readonly VariantSummary[], deltas: readonly AblationDelta[], drop: ResolvedDropConfig) {
  const stat = (name: string, s: Stat) => ({ [name]: num(s.mean), [`${name}_stderr`]: num(s.stderr) });
  return {
    meta: {
      command: inp.command,
      started: inp.started.toISOString(),
      finished: inp.finished.toISOString(),
      adapter: inp.adapter,
      cpus: availableParallelism(),
      // Shared settings; each run's policy and switches are under policies[].drop.
      task: isVitConfig(inp.base) ? 'vit' : 'gpt',
      config: { ...inp.base, out: inp.out, drop: { ...inp.base.drop, policy: undefined } },
      seeds: inp.seeds,
      baseline: inp.baseline,
      wall_clock: 'training time: per-step time summed (sensitivity measurements included, evaluation and checkpoints excluded)',
      equal_compute: { sbld_rho_peak: drop.rhoPeak, rho_match: drop.rhoMatch },
    },
    policies: summaries.map((s) => {
      const v = inp.variants.find((x) => x.name === s.policy);
      return {
        policy: s.policy,
        about: v?.about,
        drop: v?.drop,
        ablation: v?.ablation ?? false,
        seeds: s.seeds,
        ...stat('wall_s', s.wall_s),
        ...stat('time_to_baseline_loss_s', s.time_to_baseline_loss_s),
        ...stat('time_ratio_vs_baseline', s.time_ratio_vs_baseline),
        reached_baseline_loss: `${s.reached}/${s.seeds.length}`,
        ...stat('final_val_loss', s.final_val_loss),
        ...stat('val_loss_at_equal_time', s.val_loss_at_equal_time),
        ...stat('skipped_fraction', s.skipped_fraction),
        ...stat('expected_kept', s.expected_kept),
        ...stat('tokens_per_s', s.tokens_per_s),
        // --task vit (null for GPT): validation accuracy after the last step and at equal wall time, the test set.
        ...stat('top1', s.top1),
        ...stat('top5', s.top5),
        ...stat('top1_at_equal_time', s.top1_at_equal_time),
        ...stat('top5_at_equal_time', s.top5_at_equal_time),
        ...stat('test_top1', s.test_top1),
        ...stat('test_top5', s.test_top5),
        ...stat('test_loss', s.test_loss),
        per_seed: s.per_seed,
      };
    }),
    ablations_vs_sbld: deltas.map((d) => ({
      policy: d.policy,
      ...stat('d_time_to_baseline_loss_s', d.d_time_s),
      only_reached: d.only_reached,
      ...stat('d_final_val_loss', d.d_final_loss),
      ...stat('d_val_loss_at_equal_time', d.d_equal_time_loss),
      seeds_paired: d.d_final_loss.n,
      verdict: d.verdict,
    })),
    runs: inp.runs.map((r) => ({
      policy: r.planned.variant.name,
      seed: r.planned.seed,
      dir: relative(inp.out, r.planned.cfg.out),
      train_s: r.curves.train_s,
      measure_s: r.curves.measure_s,
      total_s: r.total_s,
      load_avg_1m: r.load,
      reused: r.reused,
      evals: r.curves.evals,
      test: r.curves.test ?? null,
    })),
    failed: inp.failed,
  };
}

/**
 * Mean-curve rows of `y` for the given variants, and the y limits that clip the steep start: `yMax` (the highest
 * band after the first 20% of steps) for a loss, `yMin` (the lowest band there) for an accuracy.
 */
function curveRows(inp: ReportInput, names: readonly string[], y: EvalMetric = 'val_loss'): { rows: CurveRow[]; yMax: number; yMin: number } {
  const rows: CurveRow[] = [];
  for (const name of names) {
    const runs = inp.runs.filter((r) => r.planned.variant.name === name).map((r) => r.curves);
    if (runs.length === 0 || runs.some((r) => r.evals.length === 0)) continue;
    for (const p of meanCurve(runs, y)) if (Number.isFinite(p.mean)) rows.push({ ...p, variant: name });
  }
  const late = rows.filter((r) => r.steps >= 0.2 * inp.base.steps);
  const yMax = Math.max(...(late.length ? late : rows).map((r) => r.hi));
  const yMin = Math.min(...(late.length ? late : rows).map((r) => r.lo));
  return { rows, yMax, yMin };
}

async function writeSvg(out: string, name: string, spec: Parameters<typeof renderSvg>[0], files: string[]): Promise<void> {
  writeFileSync(join(out, name), await renderSvg(spec));
  files.push(name);
}

const pct = (x: number, d = 1) => `${(100 * x).toFixed(d)}%`;

/** Plain-words summary of the ablation deltas: which switches clearly hurt or help SBLD. */
function ablationReading(deltas: readonly AblationDelta[], seeds: number): string {
  const abl = deltas.filter((d) => d.policy !== 'pld');
  if (abl.length === 0) return '';
  if (seeds < 2) {
    return (
      'With one seed there is no spread, so no ablation can be told apart from run-to-run noise; the signs above are ' +
      'a first look only. Rerun with `--seeds 3` (or more) to locate the effect.\n'
    );
  }
  // Never reaching the baseline loss counts only when it happens in every seed where SBLD reached it (two at least).
  const neverWhereSbld = (d: AblationDelta) => d.only_reached.sbld >= 2 && d.d_time_s.n === 0 && d.only_reached.ablation === 0;
  const hurts = abl.filter((d) => (isClear(d.d_final_loss) && d.d_final_loss.mean > 0) || (isClear(d.d_time_s) && d.d_time_s.mean > 0) || neverWhereSbld(d));
  const helps = abl.filter((d) => (isClear(d.d_final_loss) && d.d_final_loss.mean < 0) || (isClear(d.d_time_s) && d.d_time_s.mean < 0));
  const lines: string[] = [];
  lines.push(
    hurts.length
      ? `SBLD's effect is carried by the parts whose ablation is clearly worse (|Δ| > 2 s.e. over ${seeds} seeds, or never reaching the baseline loss in any seed where SBLD did): ` +
          hurts.map((d) => `**${d.policy}**`).join(', ') + '.'
      : `No ablation is clearly worse than full SBLD (|Δ| > 2 s.e. over ${seeds} seeds): at this size no single part measurably carries its effect.`,
  );
  if (helps.length) lines.push(`Clearly better than full SBLD: ${helps.map((d) => `**${d.policy}**`).join(', ')} — that part costs SBLD here.`);
  const rest = abl.filter((d) => !hurts.includes(d) && !helps.includes(d));
  if (rest.length) lines.push(`Within the spread (no measurable effect): ${rest.map((d) => d.policy).join(', ')}.`);
  return lines.join(' ') + '\n';
}

export async function writeReport(inp: ReportInput): Promise<ReportOutput> {
  const { out, base } = inp;
  const L = base.n_layer;
  const T = base.steps;
  const curves = inp.runs.map((r) => r.curves);
  const summaries = summarize(curves, inp.baseline);
  const refPolicies = ['none', 'layerdrop'];
  const deltas = ablationDeltas(summaries, 'sbld', refPolicies);
  const sbldDrop = resolveDropConfig({ ...base.drop, policy: 'sbld' }, { nLayer: L, totalSteps: T });
  const files: string[] = [];
  const names = summaries.map((s) => s.policy);
  const mainNames = inp.variants.filter((v) => !v.ablation).map((v) => v.name).filter((n) => names.includes(n));
  const ablNames = inp.variants.filter((v) => v.ablation).map((v) => v.name).filter((n) => names.includes(n));
  const K = inp.seeds.length;
  const spread = K > 1 ? `mean over ${K} seeds, band = min–max over seeds` : 'one seed';
  const vit = isVitConfig(base);
  const accuracy = hasAccuracy(summaries);
  const lossUnit = vit ? 'validation loss, nats/image' : 'validation loss, nats/token';
  // The ViT's last evaluation covers the whole validation split, the earlier ones its first evalBatches batches.
  const vitEvalNote = vit ? `last point: the whole validation split; before it: the first ${base.evalBatches * base.batchSize} images` : null;
  const sub = vitEvalNote ? [spread, vitEvalNote] : spread;

  // ---- plots
  const main = curveRows(inp, mainNames);
  if (main.rows.length) {
    await writeSvg(out, 'val_loss_vs_time.svg', lossCurveSpec(main.rows, 'train_s', mainNames, 'Validation loss against training wall time', sub, main.yMax, lossUnit), files);
    await writeSvg(out, 'val_loss_vs_steps.svg', lossCurveSpec(main.rows, 'steps', mainNames, 'Validation loss against optimizer steps', sub, main.yMax, lossUnit), files);
  }
  const top1 = accuracy ? curveRows(inp, mainNames, 'val_top1') : null;
  if (top1?.rows.length) {
    const yTitle = 'validation top-1 accuracy';
    await writeSvg(out, 'val_top1_vs_time.svg', accuracyCurveSpec(top1.rows, 'train_s', mainNames, 'Validation top-1 accuracy against training wall time', sub, top1.yMin, yTitle), files);
    await writeSvg(out, 'val_top1_vs_steps.svg', accuracyCurveSpec(top1.rows, 'steps', mainNames, 'Validation top-1 accuracy against optimizer steps', sub, top1.yMin, yTitle), files);
  }
  if (ablNames.length) {
    const abl = curveRows(inp, [...mainNames.filter((n) => n === inp.baseline || n === 'sbld' || n === 'pld'), ...ablNames]);
    const order = [...new Set(abl.rows.map((r) => r.variant))];
    await writeSvg(out, 'val_loss_vs_time_ablations.svg', lossCurveSpec(abl.rows, 'train_s', order, 'Ablations: validation loss against training wall time', sub, abl.yMax, lossUnit), files);
  }
  const tpRows = inp.runs.map((r) => ({ variant: r.planned.variant.name, seed: r.planned.seed, expected_kept: r.curves.expected_kept, tokens_per_s: r.curves.tokens_per_s }));
  const baseTps = summaries.find((s) => s.policy === inp.baseline)?.tokens_per_s.mean ?? NaN;
  if (tpRows.length) await writeSvg(out, 'throughput.svg', throughputSpec(tpRows, names, baseTps), files);

  // SBLD's keep probabilities and sensitivities: the first seed's full-SBLD run.
  const sbldRun = inp.runs.find((r) => r.planned.variant.name === 'sbld');
  let sbldSection = '';
  if (sbldRun) {
    const drop = resolveDropConfig(sbldRun.planned.cfg.drop, { nLayer: L, totalSteps: T });
    const hist = sbldKeepHistory(drop, sbldRun.metrics.sensitivity);
    const mismatch = keepHistoryMismatch(hist, sbldRun.metrics.steps);
    const width = Math.max(1, Math.ceil(T / 120));
    const cells: KeepCell[] = [];
    for (let s0 = 0; s0 < T; s0 += width) {
      const bin = hist.slice(s0, s0 + width);
      for (let l = 0; l < L; l++) cells.push({ step: s0, step_end: s0 + bin.length, layer: l, keep: bin.reduce((a, p) => a + p[l]!, 0) / bin.length });
    }
    const seed0 = sbldRun.planned.seed;
    const kept = inp.runs
      .filter((r) => r.planned.seed === seed0 && ['pld', 'sbld', 'layerdrop'].includes(r.planned.variant.name))
      .flatMap((r) => r.metrics.steps.filter((_, i) => i % width === 0).map((s) => ({ variant: r.planned.variant.name, step: s.step, expected_kept: s.expected_kept })));
    const last = sbldRun.metrics.sensitivity[sbldRun.metrics.sensitivity.length - 1];
    const lists = last ? `block ${JSON.stringify(last.block)}, allow ${JSON.stringify(last.allow)}` : 'never measured';
    const keptNames = names.filter((n) => kept.some((k) => k.variant === n));
    const keepSub = [`seed ${seed0}; rebuilt with keepProbabilities from the sensitivity lines; ${lists}`, 'below: expected fraction of layers run per step (equal expected compute = equal area)'];
    await writeSvg(out, 'sbld_keep.svg', keepHeatmapSpec(cells, kept, keptNames, keepSub), files);
    const sRows: SensitivityRow[] = sbldRun.metrics.sensitivity.flatMap((m) =>
      m.sensitivities.map((s, l) => ({ layer: l, sensitivity: s, measured: String(m.step), list: m.block.includes(l) ? 'block' : m.allow.includes(l) ? 'allow' : 'ordinary' }) as SensitivityRow),
    );
    if (sRows.length) await writeSvg(out, 'sbld_sensitivity.svg', sensitivitySpec(sRows, [
          `seed ${seed0}; ${drop.sensitivity}, measured at step(s) ${sbldRun.metrics.sensitivity.map((m) => m.step).join(', ')}`,
          drop.sensitivity === 'skip_loss' ? 'loss rise when the layer is skipped, clamped ≥ eps·max' : 'online |<dLoss/dh, f_l(h)>| EMA',
        ]), files);
    const msTotal = sbldRun.metrics.sensitivity.reduce((a, m) => a + m.ms, 0);
    sbldSection =
      `## SBLD's keep probabilities and sensitivities\n\n` +
      `![keep probabilities](sbld_keep.svg)\n\n` +
      (sRows.length ? `![sensitivities](sbld_sensitivity.svg)\n\n` : '') +
      `Seed ${seed0}. Keep probabilities are rebuilt from the run's sensitivity lines with \`keepProbabilities(cfg, step, state)\`; ` +
      `their per-step mean matches the logged \`expected_kept\` to ${mismatch.toExponential(1)} (metrics round to 1e-4). ` +
      `Measurements: ${sbldRun.metrics.sensitivity.length}, ${(msTotal / 1000).toFixed(1)} s in all ` +
      `(${pct(msTotal / 1000 / Math.max(1e-9, sbldRun.curves.train_s))} of SBLD's training time, counted in its wall time).\n\n` +
      (last ? `Last measurement (step ${last.step}): sensitivities [${last.sensitivities.map((s) => s.toPrecision(3)).join(', ')}], ${lists}.\n\n` : '');
  }

  // ---- report.md
  const pldDrop = resolveDropConfig({ ...base.drop, policy: 'pld' }, { nLayer: L, totalSteps: T });
  const m = sbldDrop.rhoMatch;
  const equalCompute = m
    ? `PLD (θ̄ = ${pldDrop.thetaBar}, γ = ${pldDrop.gamma.toPrecision(3)}/step, γT = ${(pldDrop.gamma * T).toFixed(0)}) expects to drop ` +
      `${m.pldDropped.toFixed(1)} layer-steps over the ${T} steps (${pct(m.pldDropped / (L * T))} of L·T). SBLD's ρ_peak = 'match_pld' ` +
      `solves to \`resolveDropConfig(...).rhoPeak\` = **${sbldDrop.rhoPeak.toFixed(4)}**, for which SBLD expects ${m.sbldDropped.toFixed(1)} ` +
      `(\`rhoMatch\` = \`${JSON.stringify(m)}\`)${m.reachable ? '' : ' — NOT reachable under the caps: SBLD drops less than PLD'}.`
    : `SBLD's ρ_peak was set explicitly to ${sbldDrop.rhoPeak} (\`--drop-rho-peak\`), so compute is not matched to PLD.`;
  const loads = inp.runs.flatMap((r) => r.load).filter((x) => Number.isFinite(x));
  const meanLoad = loads.length ? loads.reduce((a, b) => a + b, 0) / loads.length : NaN;
  const reused = inp.runs.filter((r) => r.reused).length;
  const ablRows = inp.variants.filter((v) => v.ablation);
  const text: string[] = [];
  text.push(`# Layer-dropping comparison\n`);
  text.push(
    `\`${inp.command}\`, ${inp.started.toISOString()} to ${inp.finished.toISOString()} ` +
      `(${((inp.finished.getTime() - inp.started.getTime()) / 60000).toFixed(1)} min). ` +
      `Adapter: ${inp.adapter}; ${availableParallelism()} CPU cores; ` +
      (loads.length
        ? `1-minute load average at run starts and ends: mean ${meanLoad.toFixed(1)}, max ${Math.max(...loads).toFixed(1)} ` +
          `(our own run is about 2 of it; more means other work shared the cores and stretched wall times).`
        : '') +
      (reused ? ` ${reused} run(s) reused from an earlier invocation (--reuse).` : '') +
      '\n',
  );
  text.push(`## Setup\n`);
  const model = isVitConfig(base)
    ? `- Task: ViT image classifier on Fashion-MNIST (\`--task vit\`; train split less a seeded ${(100 * VAL_FRACTION).toFixed(1)}% validation ` +
      `share, and the test set). Model: preset \`${base.preset}\`, L = ${L}, C = ${base.n_embd}, ${base.n_head} heads, ` +
      `${base.patchSize}×${base.patchSize} patches (T = ${base.seqLen} tokens per ${VIT_IMAGE_SIZE}×${VIT_IMAGE_SIZE} image), ` +
      `B = ${base.batchSize} images × ${base.gradAccum} micro-batch(es)${base.augment ? ', augmented (crop, flip)' : ''}; `
    : `- Model: preset \`${base.preset}\`, L = ${L}, C = ${base.n_embd}, ${base.n_head} heads, T = ${base.seqLen}, B = ${base.batchSize} × ${base.gradAccum} micro-batch(es); `;
  const evals = isVitConfig(base)
    ? `- Validation loss and top-1/top-5 accuracy (every layer, unscaled) every ${base.evalEvery} steps on the first ${base.evalBatches} batches ` +
      `(${base.evalBatches * base.batchSize} images) of the validation split, and after the last step on the whole split; the test set once, ` +
      `after training (not in the wall times).\n`
    : `- Validation loss (${base.evalBatches} fixed batches, every layer, unscaled) every ${base.evalEvery} steps and after the last.\n`;
  text.push(
    model +
      `${T} steps, lr ${base.lr} with ${base.warmupSteps} warm-up steps and cosine decay to ${base.minLrFrac} × lr.\n` +
      `- Every policy runs with the same TrainConfig except \`drop\`, per seed: same initialisation, batch order and learning-rate schedule ` +
      `(\`cfg.seed\` seeds initialisation, data order and the layer-drop draws). Seeds: ${inp.seeds.join(', ')}.\n` +
      evals +
      `- Wall time = training time: the per-step times summed, each from before SBLD's sensitivity measurement (when due) to after the ` +
      `loss readback. Measurements count; the benchmark's own evaluations (identical for every policy) and checkpoint writes do not.\n` +
      `- Equal expected compute: ${equalCompute}\n` +
      `- Policies: ${inp.variants.filter((v) => !v.ablation).map((v) => `\`${v.name}\` (${v.about})`).join('; ')}.\n` +
      `- PLD follows DeepSpeed's reference exactly, including its off-by-one: layer i is kept with 1 - i·Δ but scaled by 1/(1 - (i+1)·Δ).\n`,
  );
  text.push(`## Results\n`);
  text.push(
    `Mean ± standard error over seeds (no ± with one seed). "Time to ${inp.baseline}'s final loss": training seconds until the run's ` +
      `validation curve (linear between evaluations) first reaches the final validation loss of the ${inp.baseline} run of the same seed; ` +
      `"ratio" divides by the ${inp.baseline} run's own time to it. "Equal wall time": each curve interpolated at the shortest run's ` +
      `training time of that seed (${inp.seeds.map((s) => summaries[0]?.per_seed.find((p) => p.seed === s)?.equal_time_s.toFixed(1) ?? '?').join(', ')} s; ` +
      `"—" where a run's first evaluation comes later). "Layer-steps skipped": counted from the logged plans. "Tokens/s (steps)": ` +
      `over the step time without SBLD's sensitivity measurements, which the wall times keep` +
      (vit ? ` (patch tokens: ${base.seqLen} per image).\n` : '.\n'),
  );
  text.push(summaryTable(summaries, inp.baseline));
  if (accuracy) {
    text.push(
      `\nAccuracy, mean ± s.e. over seeds: validation top-1 and top-5 after the last step (the whole validation split, equal steps) and ` +
        `interpolated at the same equal wall time as above (between evaluations, the earlier ones on the first ` +
        `${base.evalBatches * base.batchSize} validation images), then the test set after training.\n\n`,
    );
    text.push(accuracyTable(summaries));
  }
  if (inp.failed.length) text.push(`\nFailed runs: ${inp.failed.map((f) => `${f.variant} seed ${f.seed}: ${f.error}`).join('; ')}\n`);
  text.push(`\n![validation loss vs time](val_loss_vs_time.svg)\n\n![validation loss vs steps](val_loss_vs_steps.svg)\n`);
  if (files.includes('val_top1_vs_time.svg')) text.push(`\n![validation top-1 vs time](val_top1_vs_time.svg)\n\n![validation top-1 vs steps](val_top1_vs_steps.svg)\n`);
  text.push(`\n![throughput](throughput.svg)\n`);
  const tp = summaries
    .filter((s) => s.policy !== inp.baseline)
    .map((s) => `${s.policy} runs ${pct(s.expected_kept.mean)} of the layers at ${(s.tokens_per_s.mean / baseTps).toFixed(2)}× the baseline's tokens/s`);
  if (Number.isFinite(baseTps) && tp.length) text.push(`\nThroughput: ${tp.join('; ')}.\n`);
  text.push('\n' + sbldSection);
  if (deltas.length) {
    text.push(`## ${ablRows.length ? 'Ablations' : 'SBLD against PLD'}\n`);
    if (ablRows.length) text.push(ablRows.map((v) => `- \`${v.name}\`: ${v.about}`).join('\n') + '\n\n');
    text.push(
      `Paired per seed against full SBLD (variant − sbld; positive = slower or higher loss), mean ± s.e. over seeds. ` +
        `"pld" is the reference row: SBLD against PLD at equal expected compute.\n\n`,
    );
    text.push(ablationTable(deltas));
    if (ablRows.length) text.push(`\n![ablations](val_loss_vs_time_ablations.svg)\n\n` + ablationReading(deltas, K));
  }
  text.push(`\n## Files\n\n\`results.json\` (every number above, per seed too), ${files.map((f) => `\`${f}\``).join(', ')}; runs in \`runs/<policy>/seed-<seed>/\` (config.json, metrics.jsonl).\n`);
  writeFileSync(join(out, 'report.md'), text.join('\n').replace(/\n{3,}/g, '\n\n'));
  const results = resultsJson(inp, summaries, deltas, sbldDrop);
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  files.unshift('report.md', 'results.json');
  return { summaries, deltas, files, results };
}

