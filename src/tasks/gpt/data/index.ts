/**
 * Public API of the data layer: byte tokenizer, corpora (Brown, `--data`), the token cache, and batch loaders.
 * The trainer needs `loadCorpus`, `BatchLoader` and `validationBatches`; the rest is exported for tools and
 * tests.
 */
export { VOCAB_SIZE, encode, decode } from './tokenizer.js';
export { DataError } from '../../../io/data-errors.js';
export { loadCorpus, type Corpus, type LoadCorpusOptions } from './corpus.js';
export { BatchLoader, validationBatches, type Batch, type BatchLoaderState } from './loader.js';
export { brownPackage, readBrownDocuments, cleanBrownText, type BrownDocument } from './brown.js';
export { listTextFiles, readTextDocuments, type TextSource, type TextFile } from './text.js';
export {
  splitDocuments,
  validationIds,
  SPLIT_RULE_VERSION,
  VAL_FRACTION,
  MIN_DOCUMENTS_FOR_DOCUMENT_SPLIT,
  type Document,
  type SplitTokens,
} from './split.js';
export { defaultCacheDir, readTokenCache, writeTokenCache, cacheKey, cachePath } from './cache.js';
