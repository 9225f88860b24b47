/** Checks that an output file can be written before the work that produces it starts. */
import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../train/config.js';
import { describeFsError, isFsError } from './fs-errors.js';

/** Opens `path` for appending (creating it if needed, then removing what it created); ConfigError naming `flag` if that fails. */
export function checkWritableFile(path: string, flag: string): void {
  const p = resolve(path);
  const existed = existsSync(p);
  try {
    if (existed && statSync(p).isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR', syscall: 'open', path: p });
    closeSync(openSync(p, 'a'));
    if (!existed) rmSync(p, { force: true });
  } catch (err) {
    if (!isFsError(err)) throw err;
    throw new ConfigError(`${flag} ${path}: cannot write it: ${describeFsError(err)}`);
  }
}
