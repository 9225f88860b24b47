/**
 * metrics.jsonl, the run's log: one JSON object per line, appended as the run goes. Never rewritten in place:
 * a resume, which drops the lines of steps it will run again, writes the kept lines to `metrics.jsonl.tmp-<pid>`,
 * fsyncs it and renames it over the file, so a kill at any moment leaves the old file or the new one. A last line
 * cut short by a kill mid-append is dropped with a warning; any other line that is not JSON is refused with the
 * file and line number.
 */
import { appendFileSync, closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { faultPoint } from './faults.js';

/** A metrics.jsonl that cannot be read back; the message names the file and line. */
export class MetricsError extends Error {
  override name = 'MetricsError';
}

export interface MetricsLine {
  /** 1-based line number in the file. */
  line: number;
  text: string;
  record: Record<string, unknown>;
}

/**
 * Parses metrics.jsonl text. A last line without its newline, or that is not JSON, is returned as `torn`
 * (what a kill mid-append leaves); any other bad line throws MetricsError naming `path` and the line.
 */
export function parseMetrics(text: string, path: string): { lines: MetricsLine[]; torn: { line: number; text: string } | null } {
  const endsClean = text === '' || text.endsWith('\n');
  const parts = text.split('\n');
  if (endsClean) parts.pop(); // the '' after the last newline
  let torn: { line: number; text: string } | null = endsClean ? null : { line: parts.length, text: parts.pop()! };
  const lines: MetricsLine[] = [];
  parts.forEach((t, i) => {
    const line = i + 1;
    if (t.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(t);
    } catch (e) {
      if (torn === null && i === parts.length - 1) {
        torn = { line, text: t }; // garbage on the last line: a torn write, as far as anyone can tell
        return;
      }
      throw new MetricsError(`${path}:${line}: not valid JSON (${(e as Error).message}); fix or delete that line`);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new MetricsError(`${path}:${line}: not a JSON object`);
    lines.push({ line, text: t, record: record as Record<string, unknown> });
  });
  return { lines, torn };
}

/** Writes `text` to `path` through a temp file, fsync and rename: a kill leaves the old file or the new one. */
function replaceFile(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  faultPoint('metrics:rewrite-temp-written');
  renameSync(tmp, path);
}

/** Removes temp files of killed rewrites (the caller holds the run folder's lock, so none is live). */
function removeLeftovers(path: string): void {
  const base = basename(path);
  for (const n of readdirSync(dirname(path))) if (n.startsWith(`${base}.tmp-`)) rmSync(join(dirname(path), n), { force: true });
}

export class MetricsFile {
  private constructor(readonly path: string) {}

  /** A new run: an empty metrics.jsonl. */
  static fresh(path: string): MetricsFile {
    removeLeftovers(path);
    replaceFile(path, '');
    return new MetricsFile(path);
  }

  /**
   * A resume at step `start`: keeps the lines of steps before `start` (lines without a step, such as an earlier
   * summary, go too), dropping a torn last line with a warning through `warn`.
   */
  static resume(path: string, start: number, warn: (line: string) => void): MetricsFile {
    removeLeftovers(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      text = '';
    }
    const { lines, torn } = parseMetrics(text, path);
    if (torn) warn(`warning: ${path}:${torn.line}: the last line is cut short (a write was killed): dropped`);
    const kept = lines.filter((l) => typeof l.record.step === 'number' && l.record.step < start);
    replaceFile(path, kept.map((l) => l.text + '\n').join(''));
    return new MetricsFile(path);
  }

  /** Appends one line. */
  append(obj: object): void {
    const line = JSON.stringify(obj) + '\n';
    faultPoint('metrics:mid-line', () => appendFileSync(this.path, line.slice(0, Math.ceil(line.length / 2))));
    appendFileSync(this.path, line);
  }
}
