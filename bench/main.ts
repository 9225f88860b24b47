/**
 * The benchmark program: `npm run bench -- <name> [options]` (benchmarks are never tests: they measure and print).
 *
 *   kernels  ms per call and GFLOP/s or GB/s per kernel and shape               bench/kernels.ts
 *   step     steady-state ms per training step, tokens/s, dispatches, layers    bench/step.ts
 *   skip     ms per step with 0 / 25 / 50 / 75% of layers skipped vs predicted   bench/skip.ts
 *   precision f32 against f16 mixed precision, training steps in pairs             bench/precision.ts
 *   compare  every layer-dropping policy end to end: report.md, results.json, SVG   bench/compare/
 *   frontier the compute-matched study: speed-up on the loss-vs-time frontier        bench/frontier/
 *   faults   SIGKILL at random moments + resume vs an uninterrupted run; two writers; signals  bench/faults.ts
 *   browser  tokens/s of the demo page in headless Chromium against Node, side by side bench/browser.ts
 *
 * Every subcommand takes --json (one object per line) and --quick (a fast smoke run); defaults finish in about
 * three minutes or less on 2 CPU cores under lavapipe. `npm run bench -- <name> --help` lists the options.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { addTaskOptions, addTrainingOptions, runCli } from '../src/cli/options.js';
import { benchBrowser } from './browser.js';
import { benchKernels } from './kernels.js';
import { benchSkip } from './skip.js';
import { benchStep } from './step.js';
import { benchPrecision } from './precision.js';
import { compareMain } from './compare/main.js';
import { faultsMain } from './faults.js';
import { frontierMain } from './frontier/main.js';

const posInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`needs a positive integer, got '${v}'`);
  return n;
};
const nonNeg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`needs a non-negative integer, got '${v}'`);
  return n;
};
const seconds = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`needs a positive number of seconds, got '${v}'`);
  return n;
};
const fractions = (v: string) => {
  const fs = v.split(',').map(Number);
  if (!fs.length || fs.some((f) => !(f >= 0 && f < 1))) throw new InvalidArgumentError(`needs fractions in [0, 1) separated by commas, got '${v}'`);
  return fs;
};
const timingOption = () => new Option('--timing <mode>', 'profiler timing (default: timestamps when the adapter has them)').choices(['timestamps', 'serialized']);

const program = new Command('sbld-bench').description('Benchmarks of the WebGPU engine: kernels, training steps, layer skipping.');

program
  .command('kernels')
  .description('ms per call, GFLOP/s or GB/s of each kernel at the GPT shapes and a few larger ones')
  .option('--json', 'one JSON object per line')
  .option('--quick', 'fewer shapes and trials (smoke run)')
  .option('--filter <text>', 'only rows whose kernel or description contains this')
  .option('--trials <n>', 'timed trials per row (default 5; --quick 2)', posInt)
  .option('--target-ms <ms>', 'aim for trials of about this long (default 150; --quick 20)', seconds)
  .action(async (o: Record<string, unknown>) => {
    await benchKernels({
      json: !!o.json,
      quick: !!o.quick,
      filter: o.filter as string | undefined,
      trials: o.trials as number | undefined,
      targetMs: o.targetMs as number | undefined,
    });
  });

addTrainingOptions(
  program
    .command('step')
    .description('steady-state ms per training step, tokens/s, dispatches and submits per step, per-layer share')
    .option('--json', 'one JSON object per line')
    .option('--quick', 'fewer steps (smoke run)')
    .option('--warmup <n>', 'untimed steps first (default 2; --quick 1)', nonNeg)
    .option('--max-seconds <s>', 'stop timing once the run has taken this long, keeping at least 3 timed steps (default 120; --quick 30)', seconds)
    .option('--from-step <n>', 'schedule step of the first step (default 0; with a dropping policy, where it drops)', nonNeg)
    .addOption(timingOption()),
).action(async (o: Record<string, unknown>) => {
  // --steps (a training flag) is the number of timed steps here, as in `npm run profile`.
  const { json, quick, warmup, maxSeconds, timing, fromStep, steps, ...flags } = o;
  await benchStep(
    {
      json: !!json,
      quick: !!quick,
      steps: steps as number | undefined,
      warmup: warmup as number | undefined,
      maxSeconds: maxSeconds as number | undefined,
      timing: timing as 'timestamps' | 'serialized' | undefined,
      fromStep: fromStep as number | undefined,
    },
    flags,
  );
});

addTrainingOptions(
  program
    .command('skip')
    .description('ms per step (preset deep unless given) with fixed fractions of layers skipped, against the predicted saving')
    .option('--json', 'one JSON object per line')
    .option('--quick', 'two rounds (smoke run)')
    .option('--fractions <list>', 'fractions of layers skipped, comma-separated (default 0,0.25,0.5,0.75)', fractions)
    .option('--rounds <n>', 'interleaved rounds, one step per variant each (default 6; --quick 2)', posInt)
    .option('--warmup <n>', 'untimed rounds first (default 1)', nonNeg)
    .option('--max-seconds <s>', 'start no new round once the run has taken this long, keeping at least 2 rounds (default 150; --quick 40)', seconds)
    .addOption(timingOption()),
).action(async (o: Record<string, unknown>) => {
  const { json, quick, fractions: fs, rounds, warmup, maxSeconds, timing, steps: _steps, ...flags } = o;
  await benchSkip(
    {
      json: !!json,
      quick: !!quick,
      fractions: fs as number[] | undefined,
      rounds: rounds as number | undefined,
      warmup: warmup as number | undefined,
      maxSeconds: maxSeconds as number | undefined,
      timing: timing as 'timestamps' | 'serialized' | undefined,
    },
    flags,
  );
});

addTaskOptions(addTrainingOptions(
  program
    .command('precision')
    .description('f32 against f16 mixed precision: training steps in alternating pairs, one process (GPT or --task vit; preset small unless given)')
    .option('--json', 'one JSON object')
    .option('--quick', 'four pairs (smoke run)')
    .option('--pairs <n>', 'timed pairs of steps (default 20; --quick 4)', posInt),
)).action(async (o: Record<string, unknown>) => {
  const { json, quick, pairs, steps: _steps, precision: _precision, ...flags } = o;
  await benchPrecision({ json: !!json, quick: !!quick, pairs: pairs as number | undefined }, flags);
});

program
  .command('browser')
  .description('tokens/s of the demo page (headless Chromium) against Node on this machine, same preset and data')
  .option('--preset <name>', 'model preset', 'small')
  .option('--steps <n>', 'training steps of each run', posInt, 30)
  .option('--warmup <n>', 'first steps left out of the median', nonNeg, 5)
  .option('--out <file>', 'also write the table and the raw rows to this file')
  .action(async (o: Record<string, unknown>) => {
    await benchBrowser({ preset: o.preset as 'small', steps: o.steps as number, warmup: o.warmup as number, out: o.out as string | undefined });
  });

// `compare` has its own commander program (every training flag passes through to each run).
await runCli(async () => {
  if (process.argv[2] === 'compare') await compareMain(process.argv.slice(3));
  else if (process.argv[2] === 'frontier') await frontierMain(process.argv.slice(3));
  else if (process.argv[2] === 'faults') await faultsMain(process.argv.slice(3));
  else await program.parseAsync();
});
