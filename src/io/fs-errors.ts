/**
 * File-system failures a user can cause or meet (a bad --out, a full disk, a read-only mount) as one line that
 * says what happened to which path, instead of Node's stack trace.
 */

const WHY: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file is in the way',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error (a failing disk?)',
  ENOENT: 'no such file or folder',
};

/** Whether `err` is a Node file-system error this module can describe. */
export function isFsError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code in WHY && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** "no space left on the device (ENOSPC): write /runs/x/metrics.jsonl" */
export function describeFsError(err: NodeJS.ErrnoException): string {
  const dest = (err as { dest?: string }).dest;
  const where = err.path ? `${err.syscall} ${err.path}${dest ? ` -> ${dest}` : ''}` : err.syscall;
  return `${WHY[err.code!] ?? err.message} (${err.code}): ${where}`;
}
