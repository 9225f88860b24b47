/**
 * `npm start -- --resume DIR`: the run's own config, from its checkpoint. The run folder is locked first (so a
 * run still going is refused before anything is read), the checkpoint found by the resolver eval and sample use
 * (src/io/run-checkpoint.ts), and its config taken as it was. Flags that would change the model, the data or the
 * training are refused with the list of what differs; only the run's length and how often it evaluates, saves
 * and samples may change.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_DROP_CONFIG, type DropConfig } from '../drop/config.js';
import { DROP_FLAGS } from '../drop/flags.js';
import { CheckpointError } from '../io/errors.js';
import { resolveRunCheckpoint } from '../io/run-checkpoint.js';
import { acquireRunLock, type RunLock } from '../io/runlock.js';
import { readConfigFile } from './config-file.js';
import { ConfigError, FLAG_NAMES, type TrainConfig } from '../train/config.js';
import { DEFAULT_TASK, flagNameOf, resolveTaskConfig } from '../tasks/index.js';

/** What a resume may change: how long the run goes, how often it evaluates and saves, the final sample. */
export const RESUME_SAFE_KEYS: readonly (keyof TrainConfig)[] = ['steps', 'evalEvery', 'evalBatches', 'checkpointEvery', 'sampleTokens', 'out'];

const show = (v: unknown) => (v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v));

function same(k: string, a: unknown, b: unknown): boolean {
  if (k === 'data' && typeof a === 'string' && typeof b === 'string') return resolve(a) === resolve(b);
  if (k === 'task') return (a ?? DEFAULT_TASK) === (b ?? DEFAULT_TASK);
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The flags in `given` that would change the run `run`, each as `--lr 0.01 (the run has 0.003)`. */
export function resumeDifferences(run: TrainConfig, given: Partial<TrainConfig>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(given) as [keyof TrainConfig, unknown][]) {
    if (k === 'drop' || RESUME_SAFE_KEYS.includes(k)) continue;
    if (!same(k, v, run[k])) out.push(`${flagNameOf(k, FLAG_NAMES)} ${show(v)} (the run has ${show(run[k] ?? (k === 'task' ? DEFAULT_TASK : undefined))})`);
  }
  const runDrop: Record<string, unknown> = { ...DEFAULT_DROP_CONFIG, ...run.drop };
  for (const [k, v] of Object.entries(given.drop ?? {})) {
    if (!same(k, v, runDrop[k])) out.push(`${DROP_FLAGS[k as keyof DropConfig]?.flag ?? k} ${show(v)} (the run has ${show(runDrop[k])})`);
  }
  return out;
}

/** The config a checkpoint was written under: trainer_state.json's, or (older checkpoints) the run's config.json. */
function readRunConfig(ckptDir: string, runDir: string): TrainConfig {
  const statePath = join(ckptDir, 'trainer_state.json');
  let state: { config?: TrainConfig };
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8')) as { config?: TrainConfig };
  } catch (e) {
    throw new CheckpointError(`cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, statePath);
  }
  if (state?.config && typeof state.config === 'object') return state.config;
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) throw new CheckpointError('the checkpoint holds no config and the run folder has no config.json', runDir);
  return readConfigFile(path) as TrainConfig;
}

/**
 * Locks the run folder `o.resume`, finds its checkpoint and returns the run's config with the safe flags of
 * `given` applied (and the lock, which the run then owns). `given` holds what the user typed: flags and the
 * keys of a --config file.
 */
export async function prepareResume(resumeDir: string, given: Partial<TrainConfig>, configFile?: string): Promise<{ cfg: TrainConfig; lock: RunLock }> {
  const runDir = resolve(resumeDir);
  if (given.out !== undefined && resolve(given.out) !== runDir) {
    throw new ConfigError(`--out ${given.out} with --resume ${resumeDir}: a resumed run stays in its folder; leave out --out`);
  }
  if (!existsSync(runDir)) throw new ConfigError(`--resume ${resumeDir}: no such run folder`);
  const lock = acquireRunLock(runDir);
  if (lock.tookOver) console.log(`${runDir}: ${lock.tookOver}`);
  try {
    const ckptDir = await resolveRunCheckpoint(runDir);
    if (ckptDir === null) {
      throw new ConfigError(
        `--resume ${resumeDir}: this run wrote no checkpoint before it stopped, so there is nothing to resume; ` +
          `start it again without --resume (add --overwrite to replace what is in the folder)`,
      );
    }
    const run = readRunConfig(ckptDir, runDir);
    const file = configFile !== undefined ? readConfigFile(configFile) : {};
    const asked: Partial<TrainConfig> = { ...file, ...given, drop: { ...file.drop, ...given.drop } };
    const differs = resumeDifferences(run, asked);
    if (differs.length > 0) {
      throw new ConfigError(
        `--resume ${resumeDir}: a resume continues the run as it was configured; these would change it: ${differs.join(', ')}. ` +
          `Only ${RESUME_SAFE_KEYS.filter((k) => k !== 'out').map((k) => FLAG_NAMES[k]).join(', ')} may change`,
      );
    }
    const safe: Partial<TrainConfig> = { out: runDir };
    for (const k of RESUME_SAFE_KEYS) if (asked[k] !== undefined && k !== 'out') (safe as Record<string, unknown>)[k] = asked[k];
    const cfg = resolveTaskConfig(run, safe);
    return { cfg, lock };
  } catch (err) {
    lock.release();
    throw err;
  }
}
