/**
 * `npm run profile -- [training options] --steps N [--trace FILE] [--json]`: runs N training steps with every
 * dispatch timed and reports, per layer and phase and per kernel, dispatch counts and GPU time, skipped layers
 * listed as skipped with zero dispatches. GPU time comes from timestamp queries where the adapter has them;
 * otherwise from a serialized mode (each dispatch submitted alone), labelled as such.
 *
 * The first steps warm up pipelines and buffers and are not profiled (`--warmup`, default 1). With SBLD, the
 * policy starts at `--from-step` (default: just past SBLD's measurement), so the profile shows real skips.
 */
import { Command, InvalidArgumentError } from 'commander';
import { writeFileSync } from 'node:fs';
import { planBitString } from '../drop/policy.js';
import { chromeTrace, kernelTotals, layerTotals, profileRows, type StepProfile } from '../profile/report.js';
import { profileStep } from '../profile/step.js';
import { TrainingSession } from '../tasks/gpt/session.js';
import { checkWritableFile } from '../io/writable.js';
import { addTrainingOptions, ConfigError, configFromOptions, runCli } from './options.js';

const nonNeg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`needs a non-negative integer, got '${v}'`);
  return n;
};

const program = addTrainingOptions(new Command('sbld-profile').description('Kernel-level profile of training steps.'))
  .option('--trace <file>', 'write Chrome trace-event JSON (open in Perfetto / chrome://tracing)')
  .option('--json', 'print one JSON object per (step, layer, phase, kernel) line')
  .option('--warmup <n>', 'unprofiled steps first', nonNeg, 1)
  .option('--from-step <n>', 'schedule step of the first profiled step (default: SBLD measurement step + 1, else 0)', nonNeg)
  .option('--timing <mode>', 'timestamps | serialized (default: timestamps when the adapter has them)');

await runCli(async () => {
  program.parse();
  const o = program.opts();
  const nSteps = (o.steps as number | undefined) ?? 3;
  if (nSteps < 1) throw new ConfigError(`--steps ${nSteps}: profile needs at least 1 step to measure`);
  // Outputs first: a trace that cannot be written is refused before minutes of profiling, not after.
  if (o.trace) checkWritableFile(o.trace as string, '--trace');
  // The policy's schedule spans the default run length, so dropping looks as it would mid-run.
  const cfg = configFromOptions({ ...o, steps: undefined, evalBatches: 1 });
  const session = await TrainingSession.open(cfg);
  const { e } = session;
  const mode = (o.timing as 'timestamps' | 'serialized' | undefined) ?? (e.timestampsSupported ? 'timestamps' : 'serialized');
  let step = (o.fromStep as number | undefined) ?? (session.drop.policy === 'sbld' ? session.drop.warmupSteps + 1 : 0);
  if (session.dropper.state) {
    // Measure sensitivities first (as the run would at T_pre), outside the profile.
    const rec = await session.measureIfDue(session.drop.warmupSteps);
    if (rec && !o.json) console.log(`sensitivities measured in ${rec.ms.toFixed(0)} ms: block ${JSON.stringify(rec.block)} allow ${JSON.stringify(rec.allow)}`);
  }
  for (let i = 0; i < (o.warmup as number); i++, step++) await session.step(step, session.plan(step).plans).readLoss();

  const profiles: StepProfile[] = [];
  for (let i = 0; i < nSteps; i++, step++) {
    const { plans } = session.plan(step);
    const profile = await profileStep(session, step, plans, mode);
    profiles.push(profile);
    if (!o.json) console.log(`step ${step}: layers ${plans.map((p) => planBitString(p.run)).join(' ')}, ${profile.records.length} dispatches`);
  }
  const rows = profileRows(profiles);
  if (o.trace) writeFileSync(o.trace as string, JSON.stringify(chromeTrace(profiles, cfg.n_layer)));
  if (o.json) {
    for (const r of rows) console.log(JSON.stringify({ ...r, gpu_ms: +r.gpu_ms.toFixed(4), timing: mode }));
    e.destroy();
    return;
  }
  const total = rows.reduce((s, r) => s + r.gpu_ms, 0);
  const inLayers = rows.filter((r) => r.layer !== 'other').reduce((s, r) => s + r.gpu_ms, 0);
  console.log(`\nGPU time from ${mode === 'timestamps' ? 'timestamp queries (one pass per dispatch)' : 'SERIALIZED host timing (no timestamp-query: includes submit overhead)'} on ${e.gpu.adapterName}`);
  console.log(`\nper layer over ${nSteps} steps:`);
  console.log(pad('layer', 8) + pad('dispatches', 12) + pad('gpu ms', 10) + pad('share', 8) + 'skipped steps');
  for (const t of layerTotals(rows, cfg.n_layer)) {
    console.log(pad(String(t.layer), 8) + pad(String(t.dispatches), 12) + pad(t.gpu_ms.toFixed(2), 10) + pad(((100 * t.gpu_ms) / total).toFixed(1) + '%', 8) + (t.skippedSteps ? `${t.skippedSteps}/${nSteps}` : ''));
  }
  console.log(`\nper phase:`);
  for (const phase of ['forward', 'backward', 'optimizer', 'other'] as const) {
    const rs = rows.filter((r) => r.phase === phase);
    if (rs.length) console.log(pad(phase, 12) + pad(String(rs.reduce((s, r) => s + r.dispatches, 0)), 10) + rs.reduce((s, r) => s + r.gpu_ms, 0).toFixed(2) + ' ms');
  }
  console.log(`\nper kernel:`);
  const kernels = kernelTotals(rows);
  const width = Math.max(...kernels.map((k) => k.kernel.length)) + 2;
  for (const k of kernels) console.log(pad(k.kernel, width) + pad(String(k.dispatches), 10) + pad(k.gpu_ms.toFixed(2) + ' ms', 12) + ((100 * k.gpu_ms) / total).toFixed(1) + '%');
  console.log(`\ntotal ${total.toFixed(2)} ms GPU over ${nSteps} steps (${(total / nSteps).toFixed(2)} ms/step); ${((100 * inLayers) / total).toFixed(1)}% in layers, ${((100 * (total - inLayers)) / total).toFixed(1)}% in the rest`);
  if (o.trace) console.log(`trace: ${o.trace}`);
  e.destroy();
});

function pad(s: string, n: number): string {
  return s.padEnd(n);
}
