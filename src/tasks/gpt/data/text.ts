/**
 * `--data PATH`: user text as documents. PATH is one UTF-8 text file (one document) or a folder, read
 * recursively in sorted order of relative path, skipping hidden files and folders (names starting with `.`);
 * each file is one document whose id is its path relative to the folder, with `/` separators. Empty
 * (whitespace-only) files in a folder are skipped. Every failure is a `DataError` that names the file and says
 * how to fix it; the split itself is in `split.ts`.
 */
import { readFileSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { DataError } from '../../../io/data-errors.js';
import type { Document } from './split.js';

/** Most invalid UTF-8 tolerated in a text file, as a share of its bytes; above it the file counts as binary. */
export const MAX_INVALID_UTF8_SHARE = 0.01;

/** One file found under `--data`. */
export interface TextFile {
  /** Absolute path. */
  path: string;
  /** Document id: path relative to the folder (`/` separators), or the file name for a single file. */
  id: string;
  size: number;
  mtimeMs: number;
}

/** What `--data PATH` points at. */
export interface TextSource {
  /** Absolute path. */
  root: string;
  kind: 'file' | 'folder';
  files: TextFile[];
}

/** Resolves `--data PATH` to its files, sorted by id. Throws `DataError` for a missing path or empty folder. */
export function listTextFiles(path: string): TextSource {
  const root = resolve(path);
  const stat = statOrUndefined(root);
  if (!stat) {
    throw new DataError(`--data ${path}: no such file or folder (looked for ${root}). ` +
      'Pass a UTF-8 text file or a folder of them, or leave --data out to train on the Brown corpus.');
  }
  if (stat.isFile()) {
    return { root, kind: 'file', files: [{ path: root, id: basename(root), size: stat.size, mtimeMs: stat.mtimeMs }] };
  }
  if (!stat.isDirectory()) throw new DataError(`--data ${path}: ${root} is neither a file nor a folder.`);
  const files: TextFile[] = [];
  walk(root, root, new Set([realpathSync(root)]), files);
  files.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (files.length === 0) {
    throw new DataError(`--data ${path}: the folder ${root} has no files (hidden files, starting with '.', ` +
      'are skipped). Put one or more UTF-8 text files in it.');
  }
  return { root, kind: 'folder', files };
}

/** Adds the non-hidden files under `dir` to `out`, following links to folders once. */
function walk(root: string, dir: string, seen: Set<string>, out: TextFile[]): void {
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const stat = statOrUndefined(path); // follows links; a dangling link is skipped
    if (!stat) continue;
    if (stat.isDirectory()) {
      const real = realpathSync(path);
      if (seen.has(real)) continue;
      seen.add(real);
      walk(root, path, seen, out);
    } else if (stat.isFile()) {
      out.push({ path, id: relative(root, path).split(sep).join('/'), size: stat.size, mtimeMs: stat.mtimeMs });
    }
  }
}

function statOrUndefined(path: string): Stats | undefined {
  return statSync(path, { throwIfNoEntry: false });
}

/**
 * Decodes one file's bytes as UTF-8 text (a leading byte-order mark is dropped). Throws `DataError` if the file
 * looks binary: it contains a NUL byte, or more than `MAX_INVALID_UTF8_SHARE` of it is invalid UTF-8 (a
 * smaller share is kept, as U+FFFD).
 */
export function decodeTextFile(bytes: Uint8Array, path: string): string {
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new DataError(`--data: ${path} looks binary (NUL byte at offset ${nul}). --data takes UTF-8 text; ` +
      'convert the file to text or remove it from the folder.');
  }
  const text = new TextDecoder('utf-8').decode(bytes);
  const invalid = countInvalidUtf8(bytes, text);
  if (invalid > MAX_INVALID_UTF8_SHARE * bytes.length) {
    const percent = ((100 * invalid) / bytes.length).toFixed(1);
    throw new DataError(`--data: ${path} is not UTF-8 text (${invalid} invalid sequences, ${percent}% of ` +
      `${bytes.length} bytes). Convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8) or remove it from the folder.`);
  }
  return text;
}

/** Invalid sequences in `bytes`: U+FFFD in the decoded text that were not already U+FFFD (EF BF BD) in it. */
function countInvalidUtf8(bytes: Uint8Array, decoded: string): number {
  let replaced = 0;
  for (let i = decoded.indexOf('\uFFFD'); i >= 0; i = decoded.indexOf('\uFFFD', i + 1)) replaced++;
  if (replaced === 0) return 0;
  let genuine = 0;
  for (let i = bytes.indexOf(0xef); i >= 0 && i + 2 < bytes.length; i = bytes.indexOf(0xef, i + 1)) {
    if (bytes[i + 1] === 0xbf && bytes[i + 2] === 0xbd) genuine++;
  }
  return replaced - genuine;
}

/**
 * Reads the files of a `--data` source as documents, skipping whitespace-only files in a folder. Throws
 * `DataError` for a binary file or when nothing but whitespace is left. Cost: reads every file once.
 */
export function readTextDocuments(source: TextSource): { documents: Document[]; skippedEmpty: string[] } {
  const documents: Document[] = [];
  const skippedEmpty: string[] = [];
  for (const file of source.files) {
    const text = decodeTextFile(readFileSync(file.path), file.path);
    if (text.trim().length === 0) skippedEmpty.push(file.id);
    else documents.push({ id: file.id, text });
  }
  if (documents.length === 0) {
    const what = source.kind === 'file'
      ? `the file ${source.root} is empty`
      : `all ${source.files.length} files under ${source.root} are empty (or whitespace only)`;
    throw new DataError(`--data: ${what}. Give it some UTF-8 text to train on.`);
  }
  return { documents, skippedEmpty };
}
