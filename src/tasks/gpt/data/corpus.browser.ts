/**
 * `loadCorpus` in a browser bundle, where there are no files to read: it refuses, pointing at
 * `corpusFromDocuments` (documents.ts). Replaces corpus.ts there, so modules that import `loadCorpus` (the
 * training session's `open`) still bundle.
 */
import type { Corpus } from './documents.js';
import { DataError } from '../../../io/data-errors.js';
import type { LoadCorpusOptions } from './corpus.js';

export type { Corpus } from './documents.js';
export type { LoadCorpusOptions } from './corpus.js';

export function loadCorpus(options: LoadCorpusOptions): Corpus {
  throw new DataError(
    `loadCorpus(${options.data ?? 'Brown'}) reads files, which a browser cannot: build the corpus with ` +
      'corpusFromDocuments and pass it to new TrainingSession(engine, config, corpus)',
  );
}
