/**
 * The finished runs of a frontier --out folder, read from DIR/runs/<policy>/b<budget>/seed-<s>/metrics.jsonl (the
 * layout `npm run bench -- frontier` writes): what the study-reading tools (pace, skip-profile, robustness,
 * tuning-table) share. A run counts as finished when its metrics end with the summary line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetrics, type Metrics } from '../compare/metrics.js';

export interface FinishedRun {
  policy: string;
  /** The budget as a number (the folder is `b<budget>`). */
  budget: number;
  seed: number;
  metrics: Metrics;
}

/** Every finished run under DIR/runs, ordered by policy, budget and seed. */
export function finishedRuns(dir: string): FinishedRun[] {
  const root = join(dir, 'runs');
  if (!existsSync(root)) throw new Error(`${dir}: no runs/ folder (a frontier --out folder is expected)`);
  const runs: FinishedRun[] = [];
  for (const policy of readdirSync(root).sort()) {
    for (const b of readdirSync(join(root, policy))) {
      for (const s of readdirSync(join(root, policy, b))) {
        const path = join(root, policy, b, s, 'metrics.jsonl');
        if (!existsSync(path)) continue;
        const metrics = parseMetrics(readFileSync(path, 'utf8'), path);
        if (metrics.summary) runs.push({ policy, budget: Number(b.slice(1)), seed: Number(s.slice('seed-'.length)), metrics });
      }
    }
  }
  return runs.sort((x, y) => (x.policy < y.policy ? -1 : x.policy > y.policy ? 1 : x.budget - y.budget || x.seed - y.seed));
}
