/**
 * `npx tsx bench/frontier/tuning-table.ts --baseline DIR [--variant NAME=DIR ...]`: the frontier table of
 * variants trained in separate folders against one folder's baseline runs. Tuning a policy flag (say
 * `--drop-sensitivity taylor`) changes every run's config, so a frontier call with it cannot reuse the baseline
 * runs of another; this reads the finished runs of each folder (DIR/runs/<policy>/b<budget>/seed-<s>/
 * metrics.jsonl), names a variant's dropping runs `<policy>:<NAME>`, and computes the speed-ups against the
 * baseline folder's `none` runs with the frontier's own analysis. Only seeds with baseline runs count.
 * `--baseline` may be given more than once to pool finished stages run on different seeds (say a stage and the
 * same stage on fresh seeds): every seed is still read against its own baseline frontier.
 */
import { parseArgs } from 'node:util';
import { markdownTable, meanStderr } from '../compare/analysis.js';
import { fmtSpeedup, frontierRows, type FrontierRun } from './analysis.js';
import { finishedRuns } from './finished-runs.js';
import { frontierRunOf } from './main.js';

/** Every finished run under DIR/runs, with its policy renamed by `rename` (null: left out). */
function runsIn(dir: string, rename: (policy: string) => string | null): FrontierRun[] {
  return finishedRuns(dir).flatMap((r) => {
    const name = rename(r.policy);
    return name === null ? [] : [frontierRunOf(name, r.budget, r.seed, r.metrics)];
  });
}

const { values } = parseArgs({ options: { baseline: { type: 'string', multiple: true }, variant: { type: 'string', multiple: true } } });
if (!values.baseline?.length) throw new Error('--baseline DIR is required (a frontier --out folder with the none runs)');
const runs: FrontierRun[] = [];
for (const dir of values.baseline) {
  const more = runsIn(dir, (p) => p);
  const clash = more.find((r) => r.policy === 'none' && runs.some((o) => o.policy === 'none' && o.seed === r.seed));
  if (clash) throw new Error(`--baseline ${dir}: seed ${clash.seed} already has baseline runs in an earlier --baseline folder; pool stages with different seeds`);
  runs.push(...more);
}
for (const v of values.variant ?? []) {
  const [name, dir] = v.split('=');
  if (!name || !dir) throw new Error(`--variant ${v}: expected NAME=DIR`);
  runs.push(...runsIn(dir, (p) => (p === 'none' ? null : `${p}:${name}`)));
}
const seeds = new Set(runs.filter((r) => r.policy === 'none').map((r) => r.seed));
const rows = frontierRows(runs.filter((r) => seeds.has(r.seed)), 'none');
console.log(
  markdownTable(
    ['policy', 'budget', 'steps', 'seeds', 'GFLOP', 'final val loss', 'speed-up (FLOPs)', 'speed-up (time)', 'skipped'],
    rows.map((r) => [
      r.policy,
      String(r.budget),
      String(r.steps),
      String(r.seeds.length),
      (r.flops / 1e9).toFixed(1),
      `${r.final_val_loss.toFixed(4)} ± ${r.final_val_loss_se.toFixed(4)}`,
      fmtSpeedup(r.speedup_flops, r.speedup_flops_se, r.speedup_flops_counts),
      fmtSpeedup(r.speedup_time, r.speedup_time_se, r.speedup_time_counts),
      `${(100 * r.skipped_fraction).toFixed(1)}%`,
    ]),
  ),
);
console.log('\nPer seed (final val loss; speed-up in FLOPs):');
for (const r of rows.filter((x) => x.policy !== 'none')) {
  console.log(`  ${r.policy}: ` + r.per_seed.map((s) => `seed ${s.seed} ${s.final_val_loss.toFixed(4)} (${s.speedup_flops === null ? s.speedup_flops_status : s.speedup_flops.toFixed(3) + 'x'})`).join(', '));
}
// Paired per seed: each dropping policy against PLD, and a variant `<policy>:<name>` against its own policy and
// against `pld:<name>` too. In FLOPs and loss; in wall time too, which means something only for runs made on a
// machine to themselves (tuning runs that shared it: ignore it).
function paired(r: (typeof rows)[number], otherPolicy: string): void {
  const other = rows.find((x) => x.policy === otherPolicy && x.budget === r.budget);
  if (!other) return;
  const pairs = r.per_seed.flatMap((s) => {
    const o = other.per_seed.find((x) => x.seed === s.seed);
    return o && s.speedup_flops !== null && o.speedup_flops !== null ? [[s.speedup_flops - o.speedup_flops, s.final_val_loss - o.final_val_loss] as const] : [];
  });
  if (pairs.length === 0) return;
  const speedup = meanStderr(pairs.map((d) => d[0]));
  const loss = meanStderr(pairs.map((d) => d[1]));
  const timed = r.per_seed.flatMap((s) => {
    const o = other.per_seed.find((x) => x.seed === s.seed);
    return o && s.speedup_time !== null && o.speedup_time !== null ? [s.speedup_time - o.speedup_time] : [];
  });
  const time = meanStderr(timed);
  console.log(
    `  ${r.policy} − ${otherPolicy}, paired per seed over ${pairs.length} seed(s): speed-up (FLOPs) ${speedup.mean.toFixed(3)} ± ${speedup.stderr.toFixed(3)}, ` +
      `final val loss ${loss.mean >= 0 ? '+' : ''}${loss.mean.toFixed(4)} ± ${loss.stderr.toFixed(4)}` +
      (timed.length ? `; speed-up (time) ${time.mean.toFixed(3)} ± ${time.stderr.toFixed(3)} over ${timed.length} seed(s)` : ''),
  );
}
for (const r of rows.filter((x) => x.policy !== 'none' && x.policy !== 'pld')) {
  paired(r, 'pld');
  const [base, name] = r.policy.split(':') as [string, string | undefined];
  if (name !== undefined && base !== 'pld') paired(r, base);
  if (name !== undefined && r.policy !== `pld:${name}`) paired(r, `pld:${name}`);
}
