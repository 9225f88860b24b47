/**
 * Which code trained a run, for `--reuse`: the git commit, plus a hash of any uncommitted change to the code
 * (src/, kernels/, bench/, package-lock.json; tracked diffs and untracked files), so a run trained before an
 * edit is not reused after it even when nothing was committed in between. Outputs written elsewhere (e.g. a
 * study's folder under docs/results) do not change it. 'unknown' outside a git checkout: such runs match only
 * each other.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CODE_PATHS = ['src', 'kernels', 'bench', 'package-lock.json'];

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 });
}

let cached: string | null = null;

export function codeVersion(): string {
  if (cached) return cached;
  try {
    const head = git(['rev-parse', 'HEAD']).trim();
    const diff = git(['diff', 'HEAD', '--', ...CODE_PATHS]);
    const untracked = git(['ls-files', '--others', '--exclude-standard', '--', ...CODE_PATHS]).split('\n').filter(Boolean);
    if (!diff && untracked.length === 0) return (cached = head);
    const h = createHash('sha256').update(diff);
    for (const f of untracked.sort()) h.update(f).update(readFileSync(join(ROOT, f)));
    return (cached = `${head}+uncommitted-${h.digest('hex').slice(0, 12)}`);
  } catch {
    return (cached = 'unknown');
  }
}
