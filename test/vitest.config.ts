import { readdirSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/** The test files that train or run ops on the suite's shared engine (./helpers/gpu.ts): precision reaches them. */
const onEngine = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts') && readFileSync(`test/${f}`, 'utf8').includes('./helpers/gpu.js'))
  .map((f) => `test/${f}`);

// GPU tests share one Dawn device: one worker, no isolation, so the device (and its compiled pipelines) is
// opened once for the whole suite. Parallel workers each opening lavapipe on 2 cores thrash.
// Two projects, one after the other in their own processes: the whole suite with the engine's precision rule taken
// as f32, then every engine test again with it taken as f16 (SBLD_TEST_PRECISION, ./helpers/gpu.ts), whichever
// the adapter's own rule picks. Runs in child processes (the CLI, the benches) keep the adapter's rule.
// One of them alone: `--project f32` or `--project f16`.
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 1,
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'f32', include: ['test/**/*.test.ts'], env: { SBLD_TEST_PRECISION: 'f32' } } },
      { extends: true, test: { name: 'f16', include: onEngine, env: { SBLD_TEST_PRECISION: 'f16' } } },
    ],
  },
});
