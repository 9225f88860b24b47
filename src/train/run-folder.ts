/**
 * The run folder's owner and its files, before a run writes anything: the folder is created (every file-system
 * failure one clear line), locked for the whole run (src/io/runlock.ts), and a new run refuses a folder that
 * already holds a run unless told `overwrite` (then the run's own files are removed, nothing else); a resume
 * keeps it as it is.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describeFsError, isFsError } from '../io/fs-errors.js';
import { CHECKPOINT_DIR, hasCheckpointTraces } from '../io/run-checkpoint.js';
import { acquireRunLock, LOCK_FILE, type RunLock } from '../io/runlock.js';

/** The run folder cannot be used as asked; the message says why and what to do. */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

export const METRICS_FILE = 'metrics.jsonl';
/** The files a run writes into its folder (besides the lock); `--overwrite` removes these and nothing else. */
const RUN_FILES = ['config.json', 'drop_resolved.json', METRICS_FILE];

/**
 * Creates `out` (and its parents) and checks that it is a writable folder, or throws RunFolderError naming the
 * real cause. The folders are made one level at a time: Node's recursive mkdir reports ENOENT on a read-only file
 * system, and can spin forever where a level can never be created (/proc).
 */
export function ensureWritableFolder(out: string, flag = '--out'): void {
  const missing: string[] = [];
  for (let d = out; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  try {
    for (const d of missing) mkdirSync(d);
    if (!statSync(out).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'EEXIST', syscall: 'mkdir', path: out });
    accessSync(out, constants.W_OK);
  } catch (err) {
    if (!isFsError(err)) throw err;
    throw new RunFolderError(`${flag} ${out}: cannot use it as a run folder: ${describeFsError(err)}`);
  }
}

/** What holds a run in `out`: its files, its checkpoint, or a crashed save's leftovers; null when none. */
export function describeExistingRun(out: string): string | null {
  if (!existsSync(out)) return null;
  const files = RUN_FILES.filter((f) => existsSync(join(out, f)));
  if (!hasCheckpointTraces(out)) return files.length ? `${files.join(', ')}; no checkpoint yet` : null;
  try {
    const state = JSON.parse(readFileSync(join(out, CHECKPOINT_DIR, 'trainer_state.json'), 'utf8')) as { step?: number };
    if (Number.isSafeInteger(state.step)) return `a checkpoint at step ${state.step}`;
  } catch {
    // unreadable or mid-swap: still a run
  }
  return 'a checkpoint';
}

/** Removes a run's own files from `out` (for `--overwrite`); anything else in the folder stays. */
function removeRun(out: string): void {
  for (const f of RUN_FILES) rmSync(join(out, f), { force: true });
  for (const n of readdirSync(out)) {
    if (n === CHECKPOINT_DIR || /^checkpoint\.(tmp|old)-\d+$/.test(n) || /^metrics\.jsonl\.tmp-/.test(n)) rmSync(join(out, n), { recursive: true, force: true });
  }
}

export interface ClaimOptions {
  resume?: boolean;
  overwrite?: boolean;
  /** A lock the caller already holds (the CLI locks before it reads the checkpoint's config to resume). */
  lock?: RunLock;
  say?: (line: string) => void;
}

/**
 * Makes `out` this process's run folder: creates it, takes its lock (RunLockError when another live process
 * holds it), and for a new run refuses a folder holding a run unless `overwrite` (which removes that run).
 * Returns the lock; the caller releases it when the run ends.
 */
export function claimRunFolder(outPath: string, o: ClaimOptions = {}): RunLock {
  const out = resolve(outPath);
  if (o.resume && o.overwrite) throw new RunFolderError('--resume and --overwrite contradict each other: --resume continues the run, --overwrite replaces it');
  ensureWritableFolder(out);
  const lock = o.lock ?? acquireRunLock(out);
  if (lock.tookOver) (o.say ?? console.log)(`${out}: ${lock.tookOver}`);
  try {
    // Temp files of a killed atomic write (config.json.tmp-*, ...): under the lock none is live.
    for (const n of readdirSync(out)) if (RUN_FILES.some((f) => n.startsWith(`${f}.tmp-`))) rmSync(join(out, n), { force: true });
    if (!o.resume) {
      const existing = describeExistingRun(out);
      if (existing !== null && !o.overwrite) {
        throw new RunFolderError(
          `--out ${out} already holds a run (${existing}): pass --resume ${outPath} to continue it, --overwrite to replace it, or another --out`,
        );
      }
      if (existing !== null) removeRun(out);
    }
    return lock;
  } catch (err) {
    if (!o.lock) lock.release();
    throw err;
  }
}

export { LOCK_FILE };
