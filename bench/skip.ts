/**
 * `npm run bench -- skip [--preset deep] [model and batch flags] [--fractions 0,0.25,0.5,0.75] [--rounds N]
 * [--warmup N] [--max-seconds S] [--quick] [--json]`: does skipping layers save the time it should?
 *
 * For each fraction f, k = round(f L) layers are skipped (one variant per distinct k) with a fixed plan: the
 * centres of k equal slices of [0, L) (L = 12, k = 3: layers 2, 6, 10). Steps are driven with `TrainingSession`
 * + `session.step(step, plans)` and timed as the trainer runs them (record, submit, loss readback). The variants
 * run interleaved, one step each per round, the order rotated every round (ABCD, BCDA, ...), so load from other
 * work on the machine falls on all of them alike; after --warmup untimed rounds (new plans need bind groups),
 * the median of each variant's steps is reported.
 *
 * Prediction: two full steps (one with --quick) are profiled (GPU time per dispatch, attributed to layers); the
 * layers' share s of their GPU time gives the predicted saving of skipping k layers, k / L x s, as a fraction
 * of the full step. The measured saving is 1 - ms(k) / ms(0); the report gives measured / predicted (goal: at
 * least 90%), and checks the dispatch count: full - k x (one layer's dispatches).
 */
import { evenSkips, describeMachine, fmt, machineLoad, median, pct, round, spread, Table } from './util.js';
import type { LayerPlan } from '../src/tasks/gpt/model.js';
import type { TimingMode } from '../src/runtime/engine.js';
import { benchConfig, loadLine, openBench, profileStep } from './step.js';

export interface SkipBenchOptions {
  json: boolean;
  quick: boolean;
  fractions?: number[];
  rounds?: number;
  warmup?: number;
  /** Start no new round once the whole run has taken this long (at least 2 rounds still run). */
  maxSeconds?: number;
  timing?: TimingMode;
}

interface Variant {
  fraction: number;
  skip: number[];
  plans: LayerPlan[];
  ms: number[];
  dispatches: number[];
}

export async function benchSkip(o: SkipBenchOptions, trainingFlags: Record<string, unknown>): Promise<void> {
  const cfg = benchConfig(trainingFlags, { preset: 'deep' });
  const fractions = o.fractions ?? [0, 0.25, 0.5, 0.75];
  const rounds = o.rounds ?? (o.quick ? 2 : 6);
  const warmupRounds = o.warmup ?? 1;
  const maxMs = (o.maxSeconds ?? (o.quick ? 40 : 150)) * 1000;
  const tStart = performance.now();
  const { session, mode, load0 } = await openBench(cfg, o.timing);
  const { e } = session;
  const L = cfg.n_layer;
  if (!fractions.includes(0)) fractions.unshift(0); // the baseline

  // One variant per distinct k (with small L two fractions can round to the same k).
  const ks = [...new Set(fractions.map((f) => Math.round(f * L)))].sort((a, b) => a - b);
  const variants: Variant[] = ks.map((k) => {
    const skip = evenSkips(L, k);
    const plan: LayerPlan = { run: Array.from({ length: L }, (_, l) => !skip.includes(l)), scale: Array(L).fill(1) };
    return { fraction: k / L, skip, plans: Array.from({ length: cfg.gradAccum }, () => plan), ms: [], dispatches: [] };
  });
  const full = variants.find((v) => v.skip.length === 0)!;

  if (!o.json) {
    console.log(describeMachine(e));
    console.log(
      `model: GPT L${L} C${cfg.n_embd} H${cfg.n_head} T${session.T}, batch ${session.B} x ${cfg.gradAccum}; ` +
        `variants: ${variants.map((v) => `${v.skip.length} skipped [${v.skip.join(' ')}]`).join(', ')}`,
    );
  }

  let step = 0;
  const runOne = async (v: Variant, record: boolean) => {
    const d0 = e.counters.dispatches;
    const t0 = performance.now();
    const { readLoss } = session.step(step++, v.plans);
    await readLoss();
    if (!record) return;
    v.ms.push(performance.now() - t0);
    v.dispatches.push(e.counters.dispatches - d0);
  };

  for (let r = 0; r < warmupRounds; r++) for (const v of variants) await runOne(v, false);

  // The layers' share of a full step, from the profiler (one step; two unless --quick, summed).
  const profiles = [];
  for (let i = 0; i < (o.quick ? 1 : 2); i++) profiles.push(await profileStep(session, step++, full.plans, mode));
  const totalGpu = profiles.reduce((s, p) => s + p.totalMs, 0);
  const layerGpu = profiles.reduce((s, p) => s + p.layers.filter((t) => t.layer !== 'other').reduce((a, t) => a + t.gpu_ms, 0), 0);
  const layerShare = layerGpu / totalGpu;
  const perLayerDispatches = profiles[0]!.layers.find((t) => t.layer === 0)!.dispatches;
  if (!o.json) {
    console.log(
      `profile (${mode}, ${profiles.length} full step${profiles.length > 1 ? 's' : ''}): GPU ${fmt(totalGpu / profiles.length, 1)} ms/step, ` +
        `layers ${pct(layerShare)} of it, ${perLayerDispatches} dispatches per layer`,
    );
  }

  const t0 = performance.now();
  let done = 0;
  for (let r = 0; r < rounds && (r < 2 || performance.now() - tStart < maxMs); r++, done++) {
    for (let i = 0; i < variants.length; i++) await runOne(variants[(r + i) % variants.length]!, true);
    if (!o.json && process.stderr.isTTY) process.stderr.write(`\rround ${r + 1}/${rounds} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  if (!o.json && process.stderr.isTTY) process.stderr.write('\n');
  const load1 = machineLoad().load1;

  const baseMs = median(full.ms);
  const baseDispatches = median(full.dispatches);
  const rows = variants.map((v) => {
    const k = v.skip.length;
    const ms = median(v.ms);
    const measured = 1 - ms / baseMs;
    const predicted = (k / L) * layerShare;
    const expectedDispatches = baseDispatches - k * perLayerDispatches;
    return {
      fraction: v.fraction,
      skipped: k,
      skip_layers: v.skip,
      ms_per_step: round(ms, 2),
      spread: round(spread(v.ms), 3),
      steps_timed: v.ms.length,
      measured_saving: round(measured, 4),
      predicted_saving: round(predicted, 4),
      ratio: k > 0 ? round(measured / predicted, 3) : null,
      dispatches_per_step: median(v.dispatches),
      expected_dispatches: expectedDispatches,
      layer_share: round(layerShare, 4),
      adapter: e.gpu.adapterName,
      load1_before: load0,
      load1_after: load1,
    };
  });

  if (o.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    e.destroy();
    return;
  }
  console.log(`\nmedian of ${done} interleaved rounds (wall time per step: record + submit + loss readback):`);
  const t = new Table([
    { title: 'skipped', width: 8 },
    { title: 'layers skipped', width: 24 },
    { title: 'ms/step', width: 8, right: true },
    { title: 'spread', width: 6, right: true },
    { title: 'saving', width: 7, right: true },
    { title: 'predicted', width: 9, right: true },
    { title: 'meas/pred', width: 9, right: true },
    { title: 'dispatches', width: 10, right: true },
    { title: 'expected', width: 8, right: true },
  ]);
  t.header();
  for (const r of rows) {
    t.row([
      `${r.skipped}/${L}`,
      r.skip_layers.join(' ') || '-',
      fmt(r.ms_per_step, 1),
      pct(r.spread, 0),
      pct(r.measured_saving),
      pct(r.predicted_saving),
      r.ratio === null ? '-' : pct(r.ratio, 0),
      String(r.dispatches_per_step),
      String(r.expected_dispatches) + (r.dispatches_per_step === r.expected_dispatches ? '' : ' !'),
    ]);
  }
  const ratios = rows.filter((r) => r.ratio !== null).map((r) => r.ratio!);
  console.log(
    `\npredicted saving = k / ${L} x layer share ${pct(layerShare)}; goal meas/pred >= 90%: ` +
      `${ratios.every((x) => x >= 0.9) ? 'met' : 'NOT met'} (min ${pct(Math.min(...ratios), 0)})`,
  );
  console.log(loadLine(load0));
  e.destroy();
}
