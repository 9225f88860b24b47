/**
 * A corpus from documents in memory: the split (split.ts), the check that each split holds one training
 * window, and the description line. `loadCorpus` (corpus.ts, Node) builds its corpora with these after reading
 * files; a page builds one from the built-in Brown slice or from pasted text with `corpusFromDocuments`.
 */
import { DataError } from '../../../io/data-errors.js';
import { splitDocuments, VAL_FRACTION, type Document } from './split.js';

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

/** How a corpus was split, for its description. */
export interface SplitSummary {
  documents: number;
  trainDocuments: number;
  valDocuments: number;
  rule: 'document' | 'position';
  skippedEmpty: number;
}

/** The fewest bytes one text (one document, so split by position) needs for sequence length `seqLen`. */
export function minimumTextBytes(seqLen: number): number {
  // Validation is the last VAL_FRACTION of the stream (rounded up) and must hold seqLen + 1 tokens.
  return Math.ceil((seqLen + 1) / VAL_FRACTION);
}

/** Splits documents held in memory and checks that each split holds one window of `seqLen + 1` tokens. */
export function corpusFromDocuments(docs: readonly Document[], seqLen: number, name: string, source: string): Corpus {
  if (docs.length === 0) throw new DataError(`${source} has no documents`);
  const split = splitDocuments(docs);
  checkSplitsFitWindow(split.train, split.val, split.rule, seqLen, source);
  const summary: SplitSummary = { documents: docs.length, trainDocuments: split.trainDocuments, valDocuments: split.valDocuments, rule: split.rule, skippedEmpty: 0 };
  return { name, train: split.train, val: split.val, documents: docs.length, description: describeCorpus(source, split.train, split.val, summary), cacheHit: false, cachePath: undefined };
}

/** One log line: source, split and token counts. */
export function describeCorpus(source: string, train: Uint8Array, val: Uint8Array, m: SplitSummary): string {
  const split = m.rule === 'document'
    ? `split by document: ${m.trainDocuments} train / ${m.valDocuments} validation documents`
    : `split by position: last ${VAL_FRACTION * 100}% of the stream is validation`;
  const skipped = m.skippedEmpty > 0 ? `, ${m.skippedEmpty} empty files skipped` : '';
  return `${source}: ${m.documents} documents${skipped}, ${split}; ` +
    `${train.length} train / ${val.length} validation tokens (bytes)`;
}

/** Throws `DataError` unless both splits hold at least `seqLen + 1` tokens. */
export function checkSplitsFitWindow(train: Uint8Array, val: Uint8Array, rule: 'document' | 'position', seqLen: number, source: string): void {
  const need = seqLen + 1;
  if (train.length >= need && val.length >= need) return;
  const total = train.length + val.length;
  const hint = rule === 'position'
    ? `validation is the last ${VAL_FRACTION * 100}% of the text, so about ${minimumTextBytes(seqLen)} ` +
      'tokens (bytes) in all are needed'
    : `validation is about ${VAL_FRACTION * 100}% of the documents, chosen by a hash of their ids`;
  throw new DataError(`${source} is too short for sequence length ${seqLen}: each split needs ${need} tokens ` +
    `(seqLen + 1), found ${train.length} train and ${val.length} validation tokens ` +
    `(${total} in all; ${hint}). Add more text or lower the sequence length.`);
}
