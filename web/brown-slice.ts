/**
 * The page's built-in data: every tenth document of the Brown corpus (50 of 500, all 15 categories), cleaned as
 * the trainer cleans it (src/tasks/gpt/data/brown.ts). The build writes it to dist/brown-slice.json; the browser test's
 * Node run reads it from here, so both train on the same documents.
 */
import { readBrownDocuments } from '../src/tasks/gpt/data/brown.js';
import type { Document } from '../src/tasks/gpt/data/split.js';

export const BROWN_SLICE_EVERY = 10;

export function brownSlice(): Document[] {
  return readBrownDocuments()
    .filter((_, i) => i % BROWN_SLICE_EVERY === 0)
    .map((d) => ({ id: d.id, text: d.text }));
}
