/**
 * Crash-safe writes of one file and of a whole checkpoint folder.
 *
 * The folder scheme (`writeDirAtomic`), for a checkpoint folder `D`:
 *   1. write every file into `D.tmp-<pid>`, fsync each; then write `MANIFEST.json` (each file's size and
 *      sha256) LAST, fsync it and the folder. A folder whose manifest is present and whose files have the
 *      listed sizes is "complete"; a crash before this point leaves no manifest, so the folder is incomplete.
 *   2. swap: rename `D` -> `D.old-<pid>`, rename `D.tmp-<pid>` -> `D`, fsync the parent folder.
 *   3. remove `D.old-<pid>`.
 * A kill at any moment leaves one of: `D` old and complete (before step 2); `D` missing with a complete
 * `D.tmp-*` and `D.old-*` (between the two renames); `D` new and complete (after). `resolveCheckpointDir(D)`
 * settles the middle case by renaming the newest complete `.tmp-*` (or, failing that, an `.old-*`) to `D`,
 * and removes leftovers of dead writers. Every reader calls it first, so readers only ever see a complete
 * checkpoint. One writer per folder at a time; `D` is owned by the writer and replaced whole.
 *
 * The manifest's sha256 also lets loaders detect a file corrupted later (bit rot, a partial copy).
 * The file-system steps go through an `AtomicFs` object so tests can simulate a kill at every step.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError } from './errors.js';
import { faultPoint } from './faults.js';

/** Name of the completeness marker: written last, lists every other file with size and sha256. */
export const MANIFEST_FILE = 'MANIFEST.json';
const MANIFEST_FORMAT = 'sbld-checkpoint-manifest';

/** Contents of `MANIFEST.json`. */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: 1;
  /** When the folder was written (ISO 8601); picks the newest among leftover complete folders. */
  created: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** The file-system steps the writers are made of. Tests wrap them to simulate a crash at any step. */
export interface AtomicFs {
  /** Creates `path` (which must not exist), writes all of `data`, fsyncs and closes it. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Creates a folder and its missing parents. */
  mkdir(path: string): Promise<void>;
  /** Removes a file or a folder tree; no error when it does not exist. */
  rm(path: string): Promise<void>;
  /** fsyncs a folder, so entries created or renamed in it survive a power loss. */
  syncDir(path: string): Promise<void>;
}

/** `AtomicFs` on Node's file system. */
export const nodeAtomicFs: AtomicFs = {
  async writeFile(path, data) {
    const fh = await fsp.open(path, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  rename: (from, to) => fsp.rename(from, to),
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  rm: (path) => fsp.rm(path, { recursive: true, force: true }),
  async syncDir(path) {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(path, 'r');
      await fh.sync();
    } catch (e) {
      // Some platforms (Windows) and file systems cannot open or fsync a folder; durability is best effort there.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw e;
    } finally {
      await fh?.close();
    }
  },
};

/** Options of the writers. */
export interface AtomicOptions {
  /** File-system steps to use (default `nodeAtomicFs`). */
  fs?: AtomicFs;
}

/** Temp folders this process is writing right now; `resolveCheckpointDir` leaves them alone. */
const inFlight = new Set<string>();

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Replaces the file at `path` with `data` so that a crash leaves either the old or the new content: writes
 * `path.tmp-<pid>-<random>`, fsyncs it, renames it over `path`, fsyncs the folder.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicOptions = {}): Promise<void> {
  const fs = opts.fs ?? nodeAtomicFs;
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await fs.writeFile(tmp, toBytes(data));
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp).catch(() => {});
    throw e;
  }
  await fs.syncDir(dirname(resolve(path)));
}

function checkFileName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new CheckpointError(`"${name}" is not a plain file name`);
  }
  if (name === MANIFEST_FILE) throw new CheckpointError(`"${MANIFEST_FILE}" is written by writeDirAtomic itself`);
}

/**
 * Writes the folder `dir` holding exactly `files` (name -> content) so that a kill at any moment leaves either
 * the previous complete folder or the new complete one (see the file header for the scheme). Adds
 * `MANIFEST.json`. Cost: each byte written once, plus one sha256 pass over it.
 */
export async function writeDirAtomic(
  dir: string,
  files: Record<string, Uint8Array | string>,
  opts: AtomicOptions = {},
): Promise<void> {
  const fs = opts.fs ?? nodeAtomicFs;
  dir = resolve(dir);
  const names = Object.keys(files).sort();
  names.forEach(checkFileName);
  await resolveCheckpointDir(dir); // settle what an earlier crash left, before adding to it

  const parent = dirname(dir);
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  let swapStarted = false;
  inFlight.add(tmp);
  try {
    await fs.mkdir(parent);
    await fs.rm(tmp);
    await fs.mkdir(tmp);
    const manifest: Manifest = { format: MANIFEST_FORMAT, version: 1, created: new Date().toISOString(), files: {} };
    for (const name of names) {
      const bytes = toBytes(files[name]!);
      await fs.writeFile(join(tmp, name), bytes);
      manifest.files[name] = { bytes: bytes.length, sha256: sha256(bytes) };
    }
    faultPoint('checkpoint:files-written');
    await fs.writeFile(join(tmp, MANIFEST_FILE), toBytes(`${JSON.stringify(manifest, null, 2)}\n`));
    await fs.syncDir(tmp);
    faultPoint('checkpoint:manifest-written');

    const hadOld = await exists(dir);
    swapStarted = true;
    if (hadOld) {
      await fs.rm(old);
      await fs.rename(dir, old);
      faultPoint('checkpoint:old-moved-aside');
    }
    try {
      await fs.rename(tmp, dir);
    } catch (e) {
      if (hadOld) await fs.rename(old, dir).catch(() => {}); // if this fails too, resolveCheckpointDir recovers
      throw e;
    }
    await fs.syncDir(parent);
    faultPoint('checkpoint:swapped');
    if (hadOld) {
      await fs.rm(old);
      await fs.syncDir(parent);
    }
    faultPoint('checkpoint:done');
  } catch (e) {
    // Before the swap the temp folder is garbage; after it started, it may be the only complete copy: keep it.
    if (!swapStarted) await fs.rm(tmp).catch(() => {});
    throw e;
  } finally {
    inFlight.delete(tmp);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Reads and checks `dir/MANIFEST.json` against the folder: every listed file (or, with `only`, every one of
 * those) is present with its listed size (sha256 is checked by the loaders, which read the bytes anyway).
 *
 * @throws CheckpointError naming what is missing or wrong.
 */
export async function readManifest(dir: string, only?: readonly string[]): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CheckpointError(`no ${MANIFEST_FILE}: not a complete checkpoint folder`, dir);
    }
    throw e;
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new CheckpointError(`not valid JSON (corrupted?): ${(e as Error).message}`, path);
  }
  if (m?.format !== MANIFEST_FORMAT || m.version !== 1 || m.files === null || typeof m.files !== 'object') {
    throw new CheckpointError(`not a version-1 ${MANIFEST_FORMAT}`, path);
  }
  const problems: string[] = [];
  for (const [name, f] of Object.entries(m.files)) {
    if (only !== undefined && !only.includes(name)) continue; // a reader checks the files it reads, only those
    if (!Number.isSafeInteger(f?.bytes) || typeof f?.sha256 !== 'string') {
      problems.push(`${name}: bad manifest entry ${JSON.stringify(f)}`);
      continue;
    }
    try {
      const st = await fsp.stat(join(dir, name));
      if (st.size !== f.bytes) problems.push(`${name}: ${st.size} bytes on disk, manifest lists ${f.bytes} (truncated?)`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      problems.push(`${name}: listed in ${MANIFEST_FILE} but missing`);
    }
  }
  if (problems.length > 0) throw new CheckpointError(`incomplete checkpoint:\n  ${problems.join('\n  ')}`, dir);
  return m;
}

/**
 * Checks bytes read from `dir/name` against the manifest's size and sha256.
 *
 * @throws CheckpointError when the file is not listed, or its size or hash differ (corrupted or truncated).
 */
export function verifyManifestEntry(manifest: Manifest, dir: string, name: string, bytes: Uint8Array): void {
  const f = manifest.files[name];
  const path = join(dir, name);
  if (f === undefined) throw new CheckpointError(`not listed in ${MANIFEST_FILE}`, path);
  if (bytes.length !== f.bytes) {
    throw new CheckpointError(`${bytes.length} bytes, ${MANIFEST_FILE} lists ${f.bytes} (truncated?)`, path);
  }
  const h = sha256(bytes);
  if (h !== f.sha256) {
    throw new CheckpointError(`sha256 ${h} differs from ${f.sha256} in ${MANIFEST_FILE}: file corrupted`, path);
  }
}

interface Sibling {
  path: string;
  kind: 'tmp' | 'old';
  pid: number;
}

function isDeadOrOurs(s: Sibling): boolean {
  if (s.pid === process.pid) return !inFlight.has(s.path);
  try {
    process.kill(s.pid, 0); // signal 0: existence check only
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function listSiblings(dir: string): Promise<Sibling[]> {
  const base = basename(dir);
  let entries: string[];
  try {
    entries = await fsp.readdir(dirname(dir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: Sibling[] = [];
  for (const e of entries) {
    if (!e.startsWith(`${base}.`)) continue;
    const m = /^\.(tmp|old)-(\d+)$/.exec(e.slice(base.length));
    if (m === null) continue;
    const path = join(dirname(dir), e);
    if (!(await fsp.stat(path)).isDirectory()) continue;
    out.push({ path, kind: m[1] as 'tmp' | 'old', pid: Number(m[2]) });
  }
  return out;
}

/** The manifest's creation time when the folder is complete, else null. */
async function completeSince(path: string): Promise<number | null> {
  try {
    return Date.parse((await readManifest(path)).created) || 0;
  } catch (e) {
    if (e instanceof CheckpointError) return null;
    throw e;
  }
}

/**
 * Makes `dir` a complete checkpoint folder again after a crash, and returns it; returns null when there is
 * no complete checkpoint at all (e.g. the first save was killed).
 *
 * If `dir` exists it is complete by construction, and only leftovers of dead writers (`dir.tmp-*`,
 * `dir.old-*`) are removed. If it is missing (a crash between the two renames of the swap), the newest
 * complete `dir.tmp-*` is renamed to `dir`; failing that, the newest `dir.old-*` (the previous checkpoint;
 * one without a manifest counts, as it was once `dir`).
 */
export async function resolveCheckpointDir(dir: string): Promise<string | null> {
  dir = resolve(dir);
  let siblings = await listSiblings(dir);
  // A live writer between its two renames (a reader such as eval looking at a running training): wait for it
  // to finish its swap rather than race it for the folder.
  for (let wait = 0; wait < 40 && !(await exists(dir)) && siblings.some((s) => !isDeadOrOurs(s)); wait++) {
    await new Promise((r) => setTimeout(r, 50));
    siblings = await listSiblings(dir);
  }
  if (!(await exists(dir))) {
    let best: { path: string; rank: number } | undefined;
    for (const s of siblings) {
      if (s.kind === 'tmp' && !isDeadOrOurs(s)) continue; // a live writer's (or our own) folder in progress
      const t = await completeSince(s.path);
      const oldWithoutManifest = s.kind === 'old' && !(await exists(join(s.path, MANIFEST_FILE)));
      if (t === null && !oldWithoutManifest) continue;
      // Any complete new folder beats any old one; within a kind, the newest wins.
      const rank = (s.kind === 'tmp' ? 2 : 1) * 1e15 + (t ?? 0);
      if (best === undefined || rank > best.rank) best = { path: s.path, rank };
    }
    if (best === undefined) return null;
    await fsp.rename(best.path, dir);
    await nodeAtomicFs.syncDir(dirname(dir));
    siblings = siblings.filter((s) => s.path !== best.path);
  }
  for (const s of siblings) {
    if (isDeadOrOurs(s)) await fsp.rm(s.path, { recursive: true, force: true });
  }
  return dir;
}
