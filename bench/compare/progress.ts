/**
 * The comparison's progress display. Runs go in sequence with `runTraining(cfg, { quiet: true })`, so this
 * follows each run through its `metrics.jsonl` (read as it grows, once a second: the step loop awaits the GPU
 * every step, so the timer gets its turn) and shows which run is going, its step, its last validation loss
 * (and top-1 accuracy for the ViT), and ETAs for the run and for the whole comparison. On a TTY a cli-progress bar; otherwise one line per
 * evaluation plus a line as each run starts and ends.
 *
 * ETA: every run has an idle-machine estimate (`estimateRunSeconds`); the ratio of the time actually spent to
 * the estimate of the work done so far (finished runs, plus the current run's steps done) scales the estimates
 * of the rest. The current run's projection is its estimate times that ratio (its time per step so far, once
 * it is the only evidence), less the time it has run.
 */
import cliProgress from 'cli-progress';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

/** "1:02:03" / "4:05" / "17s". */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`;
  if (m > 0) return `${m}:${String(r).padStart(2, '0')}`;
  return `${r}s`;
}

/** Reads the lines appended to a file since the last call (the file may not exist yet). */
class Tail {
  private offset = 0;
  private partial = '';
  constructor(private readonly path: string) {}

  read(): string[] {
    if (!existsSync(this.path)) return [];
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      let text = '';
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        text += buf.subarray(0, n).toString('utf8');
      }
      const lines = (this.partial + text).split('\n');
      this.partial = lines.pop() ?? '';
      return lines.filter((l) => l.trim());
    } finally {
      closeSync(fd);
    }
  }
}

export interface RunInfo {
  index: number;
  name: string;
  seed: number;
  steps: number;
  metricsPath: string;
}

export class CompareProgress {
  private bar: cliProgress.SingleBar | null = null;
  private timer: NodeJS.Timeout | null = null;
  private tail: Tail | null = null;
  private run: RunInfo | null = null;
  private t0 = 0;
  private done = 0;
  private val = '-';
  /** Actual and estimated seconds of the finished runs. */
  private actual = 0;
  private estimated = 0;

  constructor(
    /** Every planned run, in order, with its idle-machine estimate in seconds. */
    private readonly plan: readonly { name: string; steps: number; est_s: number }[],
    private readonly plain: boolean,
  ) {}

  /** Estimated seconds left for the current run and for everything. */
  eta(): { run: number; all: number } {
    const cur = this.run;
    const elapsed = cur ? (performance.now() - this.t0) / 1000 : 0;
    const curEst = cur ? this.plan[cur.index]!.est_s : 0;
    const spent = this.actual + (this.done > 0 ? elapsed : 0);
    const expected = this.estimated + (cur && this.done > 0 ? (curEst * this.done) / cur.steps : 0);
    const ratio = expected > 0 ? spent / expected : 1;
    const runLeft = cur ? Math.max(0, curEst * ratio - elapsed) : 0;
    let rest = 0;
    for (let i = (cur?.index ?? -1) + 1; i < this.plan.length; i++) rest += this.plan[i]!.est_s * ratio;
    return { run: runLeft, all: runLeft + rest };
  }

  private label(): string {
    const r = this.run!;
    return `[${r.index + 1}/${this.plan.length}] ${r.name} seed ${r.seed}`;
  }

  startRun(info: RunInfo): void {
    this.run = info;
    this.t0 = performance.now();
    this.done = 0;
    this.val = '-';
    this.tail = new Tail(info.metricsPath);
    if (this.plain) console.log(`${this.label()}: training ${info.steps} steps`);
    else {
      this.bar = new cliProgress.SingleBar(
        {
          format: '{label} |{bar}| {value}/{total} steps | val {val} | run ETA {runEta} | all ETA {allEta}',
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(info.steps, 0, { label: this.label(), val: '-', runEta: '?', allEta: '?' });
    }
    this.timer = setInterval(() => this.poll(), 1000);
  }

  private poll(): void {
    if (!this.tail || !this.run) return;
    for (const line of this.tail.read()) {
      let o: { type?: string; step?: number; val_loss?: number; val_top1?: number };
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        continue; // not a metrics line: the report reads the file again in full
      }
      if (o.type === undefined && o.step !== undefined) this.done = o.step + 1;
      if (o.type === 'eval' && o.val_loss !== undefined) {
        this.val = o.val_loss.toFixed(4) + (o.val_top1 !== undefined ? `, top-1 ${(100 * o.val_top1).toFixed(1)}%` : '');
        if (this.plain) {
          const e = this.eta();
          console.log(`${this.label()}: step ${o.step! + 1}/${this.run.steps}, val loss ${this.val} | run ETA ${fmtDuration(e.run)} | all ETA ${fmtDuration(e.all)}`);
        }
      }
    }
    if (this.bar) {
      const e = this.eta();
      this.bar.update(this.done, { val: this.val, runEta: fmtDuration(e.run), allEta: fmtDuration(e.all) });
    }
  }

  /** Ends the current run's display; `seconds` is its duration, used for later ETAs (omit for a failed run). */
  endRun(seconds?: number, line?: string): void {
    this.poll();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.bar?.stop();
    this.bar = null;
    const r = this.run!;
    if (seconds !== undefined) {
      this.actual += seconds;
      this.estimated += this.plan[r.index]!.est_s;
    }
    this.done = 0; // the finished run now counts through actual/estimated
    const e = this.eta();
    const left = e.all - e.run;
    if (line) console.log(`${this.label()}: ${line}${r.index + 1 < this.plan.length ? ` | all ETA ${fmtDuration(left)}` : ''}`);
    this.run = null;
  }

  /** Records a run that was not trained (reused) so ETAs skip it. */
  skipRun(info: RunInfo, line: string): void {
    this.run = info;
    console.log(`${this.label()}: ${line}`);
    this.run = null;
  }
}
