/**
 * The table of bench/precision-quality.sh: per seed, the final validation loss of the f32 and the f16 run (same
 * seed: same initialisation and data order), their difference f16 - f32, and over the seeds the mean ± standard
 * error of each and of the paired difference, the largest |difference|, and the steps each run skipped for
 * overflow. Reads DIR/<precision>-seed<seed>/metrics.jsonl.
 * Run: npx tsx bench/precision-quality.ts DIR
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtStat, meanStderr } from './compare/analysis.js';
import { parseMetrics, type Metrics } from './compare/metrics.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: npx tsx bench/precision-quality.ts DIR (the OUT folder of bench/precision-quality.sh)');

type Summary = NonNullable<Metrics['summary']> & { overflow_steps?: number; precision?: string };

function finished(name: string): Summary | null {
  const path = join(dir!, name, 'metrics.jsonl');
  if (!existsSync(path)) return null;
  return parseMetrics(readFileSync(path, 'utf8'), path).summary as Summary | null;
}

const seeds = [...new Set(readdirSync(dir).map((n) => /^f(?:16|32)-seed(\d+)$/.exec(n)?.[1]).filter((s): s is string => s !== undefined))].map(Number).sort((a, b) => a - b);
const rows: { seed: number; f32: Summary; f16: Summary }[] = [];
for (const seed of seeds) {
  const f32 = finished(`f32-seed${seed}`);
  const f16 = finished(`f16-seed${seed}`);
  if (f32 && f16) rows.push({ seed, f32, f16 });
  else console.log(`seed ${seed}: ${f32 ? '' : 'f32 '}${f16 ? '' : 'f16 '}run not finished; left out`);
}
if (rows.length === 0) throw new Error(`${dir}: no seed has both runs finished`);
const diffs = rows.map((r) => r.f16.val_loss - r.f32.val_loss);
console.log(`f16 mixed precision against f32 at equal steps (${rows[0]!.f32.steps} steps, preset small, policy none); ${dir}`);
console.log('');
console.log('| seed | f32 val loss | f16 val loss | f16 - f32 | f16 steps skipped (overflow) | wall s f32 / f16 |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.seed} | ${r.f32.val_loss.toFixed(4)} | ${r.f16.val_loss.toFixed(4)} | ${diffs[i]! >= 0 ? '+' : ''}${diffs[i]!.toFixed(4)} | ${r.f16.overflow_steps ?? '-'} | ${r.f32.wall_s.toFixed(0)} / ${r.f16.wall_s.toFixed(0)} |`);
}
console.log('');
console.log(`mean ± s.e. over ${rows.length} seeds: f32 ${fmtStat(meanStderr(rows.map((r) => r.f32.val_loss)), 4)}, f16 ${fmtStat(meanStderr(rows.map((r) => r.f16.val_loss)), 4)}`);
console.log(`paired f16 - f32: ${fmtStat(meanStderr(diffs), 4, true)} nats; largest |f16 - f32| ${Math.max(...diffs.map(Math.abs)).toFixed(4)} (target: within 0.01)`);
