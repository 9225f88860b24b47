/**
 * The table of bench/precision-quality.sh: per seed, the final validation loss of the f32 run and of each f16
 * variant (f16; f16-head-f32 where it was run), all from the same seed (same initialisation and data order); over
 * the seeds the mean ± standard error of each, and of each variant's paired difference to f32 with its largest
 * |difference|; the steps each f16 run skipped for overflow. Reads DIR/<variant>-seed<seed>/metrics.jsonl.
 * Run: npx tsx bench/precision-quality.ts DIR
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtStat, meanStderr } from './compare/analysis.js';
import { parseMetrics, type Metrics } from './compare/metrics.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: npx tsx bench/precision-quality.ts DIR (the OUT folder of bench/precision-quality.sh)');

type Summary = NonNullable<Metrics['summary']> & { overflow_steps?: number; task?: string; top1?: number };
const VARIANTS = ['f16', 'f16-head-f32'] as const;

function finished(name: string): Summary | null {
  const path = join(dir!, name, 'metrics.jsonl');
  if (!existsSync(path)) return null;
  return parseMetrics(readFileSync(path, 'utf8'), path).summary as Summary | null;
}

const seeds = [...new Set(readdirSync(dir).map((n) => /^f32-seed(\d+)$/.exec(n)?.[1]).filter((s): s is string => s !== undefined))].map(Number).sort((a, b) => a - b);
const base = new Map(seeds.map((s) => [s, finished(`f32-seed${s}`)] as const));
const task = [...base.values()].find((s) => s)?.task ?? 'gpt';
console.log(`f16 mixed precision against f32 at equal steps (${task}, preset small, policy none); ${dir}`);
for (const v of VARIANTS) {
  const rows = seeds.flatMap((seed) => {
    const f32 = base.get(seed);
    const other = finished(`${v}-seed${seed}`);
    return f32 && other ? [{ seed, f32, other }] : [];
  });
  if (rows.length === 0) continue;
  const diffs = rows.map((r) => r.other.val_loss - r.f32.val_loss);
  console.log('');
  console.log(`## ${v} (${rows[0]!.f32.steps} steps)`);
  console.log('');
  console.log(`| seed | f32 val loss | ${v} val loss | ${v} - f32 | steps skipped (overflow) |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const [i, r] of rows.entries()) {
    console.log(`| ${r.seed} | ${r.f32.val_loss.toFixed(4)} | ${r.other.val_loss.toFixed(4)} | ${diffs[i]! >= 0 ? '+' : ''}${diffs[i]!.toFixed(4)} | ${r.other.overflow_steps ?? '-'} |`);
  }
  console.log('');
  console.log(`mean ± s.e. over ${rows.length} seeds: f32 ${fmtStat(meanStderr(rows.map((r) => r.f32.val_loss)), 4)}, ${v} ${fmtStat(meanStderr(rows.map((r) => r.other.val_loss)), 4)}`);
  console.log(`paired ${v} - f32: ${fmtStat(meanStderr(diffs), 4, true)} nats; largest |${v} - f32| ${Math.max(...diffs.map(Math.abs)).toFixed(4)} (target: within 0.01)`);
  if (rows.every((r) => r.f32.top1 !== undefined && r.other.top1 !== undefined)) {
    const top1 = rows.map((r) => 100 * (r.other.top1! - r.f32.top1!));
    console.log(`validation top-1 per seed, f32 / ${v}: ${rows.map((r) => `${(100 * r.f32.top1!).toFixed(2)}% / ${(100 * r.other.top1!).toFixed(2)}%`).join(', ')}; paired ${fmtStat(meanStderr(top1), 2, true)} points`);
  }
}
