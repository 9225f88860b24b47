import { defineConfig } from 'vitest/config';

// GPU tests share one Dawn device: one worker, no isolation, so the device (and its compiled pipelines) is
// opened once for the whole suite. Parallel workers each opening lavapipe on 2 cores thrash.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
