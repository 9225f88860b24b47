/**
 * Training options shared by `npm start`, `npm run profile` and the benchmarks: one commander definition, so
 * every entry point documents and validates the same flags. Flags win over `--config FILE.json`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DROP_POLICIES, type DropConfig } from '../drop/config.js';
import { DROP_FLAGS, parseDropFlag } from '../drop/flags.js';
import { DEFAULT_TASK, resolveTaskConfig, taskFlags, TASKS } from '../tasks/index.js';
import { ConfigError, PRECISIONS, type TrainConfig } from '../train/config.js';
import { readConfigFile } from './config-file.js';
import { describeFsError, isFsError } from '../io/fs-errors.js';
import { RunInterrupted } from '../train/stop.js';
import { installSignalHandlers } from './signals.js';

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} needs an integer, got '${v}'`);
    return n;
  };
}

function num(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} needs a number, got '${v}'`);
    return n;
  };
}

/** Adds the model, data, optimisation and layer-dropping flags to `cmd`. */
export function addTrainingOptions(cmd: Command): Command {
  cmd
    .option('--config <file>', 'JSON file with any of these options (keys as in config.json); flags win')
    .option('--data <path>', 'UTF-8 text file or folder of them (default: the Brown corpus)')
    .addOption(new Option('--preset <name>', `model and batch size preset`).choices([...new Set(TASKS.flatMap((t) => t.presets))]))
    .option('--n-layer <n>', 'transformer layers L', int('--n-layer'))
    .option('--n-head <n>', 'attention heads', int('--n-head'))
    .option('--n-embd <n>', 'model width C', int('--n-embd'))
    .option('--seq-len <n>', 'context length T', int('--seq-len'))
    .option('--batch-size <n>', 'rows per micro-batch B', int('--batch-size'))
    .option('--grad-accum <n>', 'micro-batches per optimizer step', int('--grad-accum'))
    .option('--steps <n>', 'optimizer steps', int('--steps'))
    .option('--lr <x>', 'peak learning rate', num('--lr'))
    .option('--min-lr-frac <x>', 'final learning rate as a fraction of --lr', num('--min-lr-frac'))
    .option('--warmup-steps <n>', 'linear learning-rate warm-up steps', int('--warmup-steps'))
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (matrices and token embedding only)', num('--weight-decay'))
    .option('--beta1 <x>', 'AdamW beta1', num('--beta1'))
    .option('--beta2 <x>', 'AdamW beta2', num('--beta2'))
    .option('--grad-clip <x>', 'clip the global gradient norm (0: off)', num('--grad-clip'))
    .option('--seed <n>', 'seed for initialisation, data order and layer-drop draws', int('--seed'))
    .option('--eval-every <n>', 'evaluate validation loss every n steps', int('--eval-every'))
    .option('--eval-batches <n>', 'validation batches per evaluation', int('--eval-batches'))
    .option('--checkpoint-every <n>', 'write a checkpoint every n steps (0: only at the end)', int('--checkpoint-every'))
    .option('--sample-tokens <n>', 'tokens of sample text at the end (0: none)', int('--sample-tokens'))
    .option('--out <dir>', 'run folder (config, metrics, checkpoint)')
    .addOption(new Option('--precision <p>', "matmul precision: f16 (mixed: f16 operands, f32 accumulation and master weights, dynamic loss scaling), f32, or auto: the adapter's rule").choices(PRECISIONS))
    .addOption(new Option('--drop <policy>', 'layer-dropping policy (same as --drop-policy)').choices(DROP_POLICIES));
  for (const [key, spec] of Object.entries(DROP_FLAGS)) {
    if (key === 'policy') {
      cmd.addOption(new Option(spec.flag + ' <value>', spec.help).choices(spec.choices!).hideHelp());
      continue;
    }
    const opt = new Option(`${spec.flag} <value>`, spec.help + (spec.choices ? ` (${spec.choices.join(' | ')})` : ''));
    opt.argParser((raw: string) => {
      try {
        return parseDropFlag(key as keyof DropConfig, raw);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
    cmd.addOption(opt);
  }
  return cmd;
}

const FLAG_KEYS: (keyof TrainConfig)[] = [
  'preset', 'n_layer', 'n_head', 'n_embd', 'seqLen', 'batchSize', 'gradAccum', 'steps', 'lr', 'minLrFrac', 'warmupSteps',
  'weightDecay', 'beta1', 'beta2', 'gradClip', 'seed', 'evalEvery', 'evalBatches', 'checkpointEvery', 'sampleTokens', 'out', 'data',
  'task', 'precision',
];

/** `--task NAME` and every task's own flags (src/tasks/index.ts), each labelled with its task. */
export function addTaskOptions(cmd: Command): Command {
  const what = TASKS.map((t) => `${t.name} (${t.description}${t.name === DEFAULT_TASK ? ', default' : ''})`).join(', ');
  cmd.addOption(new Option('--task <name>', `what to train: ${what}`).choices(TASKS.map((t) => t.name)));
  for (const { task, flag } of taskFlags()) {
    const help = `--task ${task.name}: ${flag.help}`;
    if (flag.kind === 'switch') {
      cmd.option(flag.flag, help).option(flag.flag.replace(/^--/, '--no-'), `--task ${task.name}: not ${flag.flag}`);
    } else {
      const name = flag.flag.split(' ')[0]!;
      cmd.option(flag.flag, help, flag.kind === 'int' ? int(name) : num(name));
    }
  }
  return cmd;
}

/** The commander option name of a config key: `patchSize` for `--patch-size`, `nLayer` for `--n-layer`. */
function optionName(flag: string): string {
  return flag.split(' ')[0]!.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * commander's camel-cased option values -> the config keys they set (no defaults filled in). With `given`, only
 * the options for which it says true (e.g. those typed on the command line).
 */
export function flagsFromOptions(o: Record<string, unknown>, given: (optionName: string) => boolean = () => true): Partial<TrainConfig> {
  const camel: Record<string, string> = { n_layer: 'nLayer', n_head: 'nHead', n_embd: 'nEmbd' };
  const flags: Partial<TrainConfig> = {};
  for (const k of FLAG_KEYS) {
    const name = camel[k] ?? k;
    const v = o[name];
    if (v !== undefined && given(name)) (flags as Record<string, unknown>)[k] = v;
  }
  for (const { flag } of taskFlags()) {
    const name = optionName(flag.flag);
    if (o[name] !== undefined && given(name)) (flags as Record<string, unknown>)[flag.key] = o[name];
  }
  const drop: Partial<DropConfig> = {};
  for (const [key, spec] of Object.entries(DROP_FLAGS)) {
    const optName = optionName(spec.flag);
    if (o[optName] !== undefined && given(optName)) (drop as Record<string, unknown>)[key] = o[optName];
  }
  if (o.drop !== undefined && given('drop')) drop.policy = o.drop as DropConfig['policy'];
  flags.drop = drop;
  return flags;
}

/** commander's camel-cased option values -> TrainConfig (validated). */
export function configFromOptions(o: Record<string, unknown>): TrainConfig {
  const flags = flagsFromOptions(o);
  const file = typeof o.config === 'string' ? readConfigFile(o.config) : {};
  return resolveTaskConfig(file, flags);
}

/**
 * Runs `main`, turning expected failures (bad flags, bad data, bad checkpoints) into one clear line on stderr
 * and exit code 1, without a stack trace. `DEBUG=1` shows the stack.
 */
export async function runCli(main: () => Promise<void>): Promise<void> {
  installSignalHandlers();
  try {
    await main();
  } catch (err) {
    const e = err as Error;
    if (e instanceof RunInterrupted) {
      // Not a failure to report: the run stopped where it was asked to, and says how to go on.
      console.error(e.message);
      process.exitCode = e.exitCode;
      return;
    }
    const known = [
      'ConfigError', 'DataError', 'DropConfigError', 'CheckpointError', 'GpuError', 'ShapeError', 'KernelCompileError', 'TrainingError',
      'RunLockError', 'RunFolderError', 'MetricsError',
    ];
    if (process.env.DEBUG) console.error(e?.stack ?? String(e));
    else if (known.includes(e?.name)) console.error(`error: ${e.message}`);
    else if (isFsError(e)) console.error(`error: ${describeFsError(e)}`);
    else console.error(e?.stack ?? String(e));
    process.exitCode = 1;
  }
}

export { ConfigError };
