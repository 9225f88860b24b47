/**
 * Train/validation split and document joining, shared by the Brown corpus and `--data`.
 *
 * The rule (bump `SPLIT_RULE_VERSION` when it changes, which invalidates cached tokens):
 * - With at least `MIN_DOCUMENTS_FOR_DOCUMENT_SPLIT` documents, split by document: each document gets a score
 *   `hashUniform(SPLIT_SEED, fnv1a(id))` from its id alone (Brown: `ca01`; `--data`: the path relative to the
 *   folder, with `/`), and the `round(VAL_FRACTION * n)` documents with the lowest scores (at least one) are
 *   validation. Same on every machine; adding or removing a document moves at most the boundary document.
 *   A fixed count rather than a score threshold keeps the share at 5% (a threshold gave Brown 19 of 500).
 * - With fewer documents, the documents are joined into one stream and the last `VAL_FRACTION` of its tokens
 *   is validation (a split by position; a handful of documents would make a very uneven split by document).
 *
 * Documents are joined, in their given order, with their trailing whitespace trimmed and a blank line
 * (`DOCUMENT_SEPARATOR`) between them; the byte vocabulary has no end-of-text token.
 */
import { hashUniform } from '../../../util/rng.js';
import { encode } from './tokenizer.js';

/** Version of the rule above, part of every cache key. */
export const SPLIT_RULE_VERSION = 1;
/** Share of the data held out for validation. */
export const VAL_FRACTION = 0.05;
/** Below this many documents the split is by position instead of by document. */
export const MIN_DOCUMENTS_FOR_DOCUMENT_SPLIT = 20;
/** Text between two joined documents. */
export const DOCUMENT_SEPARATOR = '\n\n';
const SPLIT_SEED = 0x5b1d;

/** One document of a corpus: a stable id and its plain text. */
export interface Document {
  id: string;
  text: string;
}

/** Token streams of the two splits. */
export interface SplitTokens {
  /** (N_train,) byte tokens. */
  train: Uint8Array;
  /** (N_val,) byte tokens. */
  val: Uint8Array;
  rule: 'document' | 'position';
  /** Documents in each split; with the split by position, the document cut at the boundary counts in both. */
  trainDocuments: number;
  valDocuments: number;
}

/** 32-bit FNV-1a of the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of encode(s)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** Uniform in [0, 1) from a document id; the lowest scores go to validation. */
export function splitScore(id: string): number {
  return hashUniform(SPLIT_SEED, fnv1a32(id));
}

/** Ids of the validation documents under the split by document (`round(VAL_FRACTION * n)`, at least one). */
export function validationIds(ids: readonly string[]): Set<string> {
  const scored = ids.map((id) => ({ id, score: splitScore(id) }));
  scored.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const nVal = Math.min(Math.max(Math.round(VAL_FRACTION * ids.length), 1), ids.length - 1);
  return new Set(scored.slice(0, nVal).map((s) => s.id));
}

/** Encodes documents and joins them with `DOCUMENT_SEPARATOR`. Cost: O(total bytes). */
export function joinDocuments(docs: readonly Document[]): Uint8Array {
  return encode(docs.map((d) => d.text.trimEnd()).join(DOCUMENT_SEPARATOR));
}

/** Splits documents into train and validation tokens by the rule in the header. */
export function splitDocuments(docs: readonly Document[]): SplitTokens {
  if (docs.length >= MIN_DOCUMENTS_FOR_DOCUMENT_SPLIT) {
    const valIds = validationIds(docs.map((d) => d.id));
    const trainDocs = docs.filter((d) => !valIds.has(d.id));
    const valDocs = docs.filter((d) => valIds.has(d.id));
    return {
      train: joinDocuments(trainDocs),
      val: joinDocuments(valDocs),
      rule: 'document',
      trainDocuments: trainDocs.length,
      valDocuments: valDocs.length,
    };
  }
  const all = joinDocuments(docs);
  const cut = all.length - Math.ceil(all.length * VAL_FRACTION);
  // A document counts in train if it starts before the cut, in validation if it ends after it.
  let end = 0;
  let trainDocuments = 0;
  let valDocuments = 0;
  for (const d of docs) {
    const start = end;
    end = start + encode(d.text.trimEnd()).length + DOCUMENT_SEPARATOR.length;
    if (start < cut) trainDocuments++;
    if (end - DOCUMENT_SEPARATOR.length > cut) valDocuments++;
  }
  return { train: all.slice(0, cut), val: all.slice(cut), rule: 'position', trainDocuments, valDocuments };
}
