/**
 * On-disk cache of encoded train/validation tokens, so a run does not re-parse its corpus.
 *
 * Location: `<package root>/node_modules/.cache/sbld-webgpu/tokens-<key prefix>.bin`. The key is a SHA-256 of
 * whatever determines the tokens (see `cacheKey`); a changed source gets a new file, stale files are harmless.
 * File layout (little-endian):
 *   magic `SBLDTOK1` (8 bytes) | header length H (u32) | header JSON (H bytes) | train tokens | val tokens
 * The header holds the full key, both lengths, the SHA-256 of the token payload and the caller's metadata.
 * A file whose magic, key, size or payload hash does not match is treated as missing (and so rebuilt).
 * Writes go to a temporary file that is renamed into place, so readers never see a partial file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAGIC = 'SBLDTOK1';
const PREFIX_BYTES = MAGIC.length + 4;

/** Metadata stored next to the tokens (JSON-serialisable). */
export type CacheMeta = Record<string, string | number | boolean>;

/** Token arrays as stored in, or read from, the cache. */
export interface CachedTokens {
  /** (N_train,) byte tokens. */
  train: Uint8Array;
  /** (N_val,) byte tokens. */
  val: Uint8Array;
  meta: CacheMeta;
}

interface Header {
  key: string;
  trainLength: number;
  valLength: number;
  sha256: string;
  meta: CacheMeta;
}

/** `<package root>/node_modules/.cache/sbld-webgpu`, independent of the working directory. */
export function defaultCacheDir(): string {
  return fileURLToPath(new URL('../../node_modules/.cache/sbld-webgpu/', import.meta.url));
}

/** SHA-256 (hex) of the parts, separated so that `['a', 'bc']` and `['ab', 'c']` differ. */
export function cacheKey(parts: readonly (string | number)[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** Path of the cache file for `key` in `dir`. */
export function cachePath(dir: string, key: string): string {
  return join(dir, `tokens-${key.slice(0, 24)}.bin`);
}

function sha256(...chunks: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Reads the tokens cached under `key`, or `undefined` when there is no valid file (missing, truncated, wrong
 * key, or payload hash mismatch). Cost: one file read plus one SHA-256 over the tokens.
 */
export function readTokenCache(dir: string, key: string): CachedTokens | undefined {
  let file: Buffer;
  try {
    file = readFileSync(cachePath(dir, key));
  } catch {
    return undefined;
  }
  if (file.length < PREFIX_BYTES || file.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
  const headerLength = file.readUInt32LE(MAGIC.length);
  const payloadStart = PREFIX_BYTES + headerLength;
  if (payloadStart > file.length) return undefined;
  let header: Header;
  try {
    header = JSON.parse(file.toString('utf8', PREFIX_BYTES, payloadStart)) as Header;
  } catch {
    return undefined;
  }
  if (header.key !== key || payloadStart + header.trainLength + header.valLength !== file.length) return undefined;
  const payload = new Uint8Array(file.buffer, file.byteOffset + payloadStart, file.length - payloadStart);
  if (sha256(payload) !== header.sha256) return undefined;
  // Copies, so callers own plain Uint8Arrays not tied to Node's buffer pool.
  return {
    train: payload.slice(0, header.trainLength),
    val: payload.slice(header.trainLength),
    meta: header.meta,
  };
}

/** Writes tokens under `key` atomically (temporary file + rename); returns the file's path. */
export function writeTokenCache(dir: string, key: string, tokens: CachedTokens): string {
  mkdirSync(dir, { recursive: true });
  const header: Header = {
    key,
    trainLength: tokens.train.length,
    valLength: tokens.val.length,
    sha256: sha256(tokens.train, tokens.val),
    meta: tokens.meta,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(headerBytes.length, MAGIC.length);
  const path = cachePath(dir, key);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([prefix, headerBytes, tokens.train, tokens.val]));
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return path;
}
