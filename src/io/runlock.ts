/**
 * One owner per run folder: an exclusive lock file `<run>/run.lock` holding the owner's PID, host and start
 * time, created with O_EXCL (`open(..., 'wx')`) so exactly one of two racing processes gets it. The owner removes
 * it when it exits (normally, by an error, or by a signal it handles); a SIGKILL leaves it behind, and the next
 * process on the same host sees that the PID is gone and takes the lock over, saying so.
 *
 * Why not proper-lockfile: it locks with a `<file>.lock` folder whose mtime the owner refreshes on a timer and
 * calls a lock stale by age, so it cannot say which process holds a run (the message users need is "run by PID
 * 1234"), and a process starved for CPU past the stale time loses its lock. A PID check is exact on one host;
 * a lock from another host (a shared file system) is never taken over, only reported.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'run.lock';

/** The folder is owned by another live process (or one on another host): the message names it. */
export class RunLockError extends Error {
  override name = 'RunLockError';
}

export interface LockOwner {
  pid: number;
  host: string;
  started: string;
  command?: string;
}

export interface RunLock {
  readonly path: string;
  /** Set when a stale lock of a dead process was taken over: what to tell the user. */
  readonly tookOver: string | null;
  release(): void;
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return Number.isSafeInteger(o?.pid) && typeof o.host === 'string' ? o : null;
  } catch {
    return null; // unreadable or half-written: treated below
  }
}

/** Whether `pid` is a live process on this host (signal 0 checks existence; EPERM means it exists). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks held by this process, released on exit even when the process exits through process.exit. */
const held = new Set<string>();
let exitHookInstalled = false;

function releaseAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of held) releasePath(p);
  });
}

function releasePath(path: string): void {
  // Remove only a lock that is still ours (an operator may have deleted it and another run taken it since).
  const o = readOwner(path);
  if (o && o.pid === process.pid && o.host === hostname()) rmSync(path, { force: true });
  held.delete(path);
}

/**
 * Takes the lock of run folder `dir` (which must exist) or throws RunLockError naming the owner. A lock whose
 * owner is a dead process on this host, or that is empty or unreadable and older than a few seconds (a writer
 * killed between creating and filling it), is taken over; `tookOver` then says so.
 */
export function acquireRunLock(dir: string, command = process.argv.slice(1).join(' ')): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command };
  let tookOver: string | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readOwner(path);
      if (owner && owner.host !== hostname()) {
        throw new RunLockError(`${dir} is in use by process ${owner.pid} on host ${owner.host} (since ${owner.started}); if that run is gone, delete ${path}`);
      }
      if (owner && (owner.pid === process.pid ? held.has(path) : pidAlive(owner.pid))) {
        throw new RunLockError(`${dir} is in use by process ${owner.pid} (since ${owner.started}): wait for it to finish or stop it first (kill ${owner.pid})`);
      }
      if (owner === null && attempt === 0) {
        // Possibly a writer between open and write: give it a moment before calling the file stale.
        sleepMs(200);
        if (readOwner(path) !== null) continue;
      }
      // Stale: move it aside under a name only we use, then check that what we moved is the stale lock we
      // judged (another process may have replaced it in between); if not, put it back and try again.
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else moved it first
        throw err;
      }
      const moved = readOwner(aside);
      if (moved && moved.pid !== owner?.pid && pidAlive(moved.pid)) {
        renameSync(aside, path);
        continue;
      }
      rmSync(aside, { force: true });
      tookOver = owner
        ? `took over the lock of process ${owner.pid} (started ${owner.started}), which is no longer running`
        : 'took over an unreadable lock file left by a killed process';
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me) + '\n');
    } finally {
      closeSync(fd);
    }
    held.add(path);
    releaseAllOnExit();
    return { path, tookOver, release: () => releasePath(path) };
  }
  throw new RunLockError(`${dir}: could not take ${LOCK_FILE} (other processes keep taking it); try again`);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
