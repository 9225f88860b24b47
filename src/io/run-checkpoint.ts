/**
 * The one checkpoint resolver of every command that reads a run's checkpoint (`--resume`, eval, sample): a run
 * folder or a checkpoint folder in, the checkpoint folder out, after `resolveCheckpointDir` has settled what a
 * crashed save left (e.g. a kill between the swap's two renames leaves no `checkpoint/`, only its siblings).
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { MANIFEST_FILE, resolveCheckpointDir } from './atomic.js';
import { CheckpointError } from './errors.js';

export const CHECKPOINT_DIR = 'checkpoint';

/** Whether `dir` itself looks like a checkpoint folder (rather than a run folder holding one). */
function isCheckpointFolder(dir: string): boolean {
  return existsSync(join(dir, MANIFEST_FILE)) || existsSync(join(dir, 'model.safetensors'));
}

/** Whether a run folder holds a checkpoint or what a crashed save of one left (checkpoint.tmp-*, .old-*). */
export function hasCheckpointTraces(runDir: string): boolean {
  if (!existsSync(runDir)) return false;
  return readdirSync(runDir).some((n) => n === CHECKPOINT_DIR || /^checkpoint\.(tmp|old)-\d+$/.test(n));
}

/**
 * The checkpoint folder of `path` (a run folder, or a checkpoint folder itself), recovered from a crashed save,
 * or null when there is none. Throws CheckpointError when `path` does not exist.
 */
export async function resolveRunCheckpoint(path: string): Promise<string | null> {
  const p = resolve(path);
  if (!existsSync(p)) {
    // `run/checkpoint` named directly while a crashed save left only its siblings: recover it as --resume would.
    if (basename(p) === CHECKPOINT_DIR && hasCheckpointTraces(dirname(p))) return resolveCheckpointDir(p);
    throw new CheckpointError('no such folder', p);
  }
  if (isCheckpointFolder(p)) return resolveCheckpointDir(p);
  return resolveCheckpointDir(join(p, CHECKPOINT_DIR));
}

/** `resolveRunCheckpoint`, throwing a CheckpointError that says what is there when there is no checkpoint. */
export async function requireRunCheckpoint(path: string): Promise<string> {
  const dir = await resolveRunCheckpoint(path);
  if (dir !== null) return dir;
  const p = resolve(path);
  const isRun = existsSync(join(p, 'metrics.jsonl')) || existsSync(join(p, 'config.json'));
  throw new CheckpointError(isRun ? 'this run has written no checkpoint yet' : 'no checkpoint here (pass a run folder or its checkpoint/ folder)', p);
}
