/**
 * Tuning tool for SBLD's sensitivity measurement (docs/results/frontier-tuning.md): trains the baseline
 * (every layer, the schedule of a --steps run) and measures skip_loss at the given steps with M probe batches,
 * printing per layer the mean, the standard error, how many layers a clamp at eps·max ties, and how the ranking
 * agrees between the first m of the M batches and all M and between measurement times (Kendall's tau). One JSON
 * line per measurement goes to --out. Training and measurements follow the trainer's exact code path
 * (TrainingSession), so the values are those SBLD would see at those steps on that seed.
 *
 *   npx tsx bench/frontier/probe_sensitivity.ts --preset deep --steps 350 --seed 9000 --at 18,35,70 --probe-batches 12 --jsonl FILE
 */
import { Command } from 'commander';
import { appendFileSync, writeFileSync } from 'node:fs';
import { addTrainingOptions, configFromOptions, runCli } from '../../src/cli/options.js';
import { validationBatches } from '../../src/tasks/gpt/data/loader.js';
import { fullPlan } from '../../src/tasks/gpt/model.js';
import { skipLossStats } from '../../src/train/sensitivity.js';
import { measureSkipLoss } from '../../src/tasks/gpt/step.js';
import { TrainingSession } from '../../src/tasks/gpt/session.js';

/** Kendall's tau between two score vectors (ties count as neither concordant nor discordant). */
export function kendallTau(a: readonly number[], b: readonly number[]): number {
  let c = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++)
    for (let j = i + 1; j < a.length; j++) {
      const s = Math.sign(a[i]! - a[j]!) * Math.sign(b[i]! - b[j]!);
      if (s > 0) c++;
      else if (s < 0) d++;
    }
  const n = (a.length * (a.length - 1)) / 2;
  return (c - d) / n;
}

/** Layers whose value is below eps·max (they tie at a clamp). */
function clamped(v: readonly number[], eps: number): number[] {
  const floor = eps * Math.max(...v);
  return v.flatMap((x, l) => (x < floor ? [l] : []));
}

await runCli(async () => {
  const program = addTrainingOptions(new Command('probe_sensitivity'))
    .requiredOption('--at <steps>', 'steps at which to measure, comma-separated')
    .option('--probe-batches <m>', 'probe batches M', '12')
    .option('--sub <m>', 'also report the first m batches alone (M = 4 is the default SBLD measurement)', '4')
    .requiredOption('--jsonl <file>', 'JSON lines written here');
  program.parse(process.argv.slice(2), { from: 'user' });
  const o = program.opts();
  const at = (o.at as string).split(',').map(Number);
  const M = Number(o.probeBatches);
  const sub = Number(o.sub);
  const cfg = configFromOptions({ ...o, out: '/tmp/probe-sensitivity-unused', drop: 'none', jsonl: undefined, at: undefined, sub: undefined });
  const session = await TrainingSession.open(cfg);
  const probes = validationBatches(session.corpus.train, session.B, session.T, M);
  const L = cfg.n_layer;
  writeFileSync(o.jsonl as string, '');
  let prev: number[] | null = null;
  for (let step = 0; step <= Math.max(...at); step++) {
    if (at.includes(step)) {
      const r = await measureSkipLoss(session.e, session.model, probes, session.B, session.T);
      const first = skipLossStats(r.perBatch.map((d) => d.slice(0, sub)));
      const clampedSub = clamped(first.values, 1e-4);
      const line = {
        seed: cfg.seed,
        step,
        M,
        values: r.values,
        stderr: r.stderr,
        clamped_M: clamped(r.values, 1e-4),
        [`values_${sub}`]: first.values,
        [`stderr_${sub}`]: first.stderr,
        [`clamped_${sub}`]: clampedSub,
        tau_sub_vs_M: kendallTau(first.values, r.values),
        tau_vs_previous: prev ? kendallTau(prev, r.values) : null,
        significant_M: r.values.filter((v, l) => v > 2 * r.stderr[l]!).length,
        ms: r.ms,
        full_loss: r.fullLoss,
      };
      appendFileSync(o.jsonl as string, JSON.stringify(line) + '\n');
      console.log(
        `seed ${cfg.seed} step ${step}: M=${M} clamped ${line.clamped_M.length}/${L}, significant ${line.significant_M}/${L}; ` +
          `M=${sub} clamped ${clampedSub.length}/${L}; tau(M=${sub}, M=${M}) ${line.tau_sub_vs_M.toFixed(2)}` +
          (line.tau_vs_previous !== null ? `, tau vs previous ${line.tau_vs_previous.toFixed(2)}` : '') +
          `\n  values ${r.values.map((v) => v.toFixed(4)).join(' ')}\n  stderr ${r.stderr.map((v) => v.toFixed(4)).join(' ')}`,
      );
      prev = r.values;
    }
    if (step === Math.max(...at)) break;
    await session.step(step, [fullPlan(L)]).readLoss();
  }
  session.e.destroy();
});
