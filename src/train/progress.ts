/**
 * What the user sees while training: a progress bar on a TTY (step, loss, tokens/s, layers run, ETA), plain
 * periodic lines otherwise (CI, pipes, --json), and nothing on stdout when `quiet`.
 */
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  total: number;
  start: number;
  /** Plain lines instead of a bar (not a TTY, or --json). */
  plain: boolean;
  quiet: boolean;
  /** Plain mode prints every this many steps. */
  every: number;
}

export interface StepInfo {
  step: number;
  loss: number;
  tokensPerS: number;
  layers: string;
  lr: number;
}

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly t0 = performance.now();

  constructor(private readonly o: ProgressOptions) {
    if (!o.plain && !o.quiet) this.startBar(o.start);
  }

  private startBar(at: number): void {
    this.bar = new cliProgress.SingleBar(
      {
        format: 'train |{bar}| {value}/{total} | loss {loss} | {tps} tok/s | layers {layers} | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(this.o.total, at, { loss: '-', tps: '-', layers: '-' });
  }

  update(s: StepInfo): void {
    if (this.o.quiet) return;
    if (this.bar) {
      this.bar.update(s.step + 1, { loss: s.loss.toFixed(4), tps: Math.round(s.tokensPerS), layers: s.layers });
      return;
    }
    const done = s.step + 1;
    if (done % this.o.every === 0 || done === this.o.total) {
      const elapsed = (performance.now() - this.t0) / 1000;
      const eta = ((this.o.total - done) * elapsed) / Math.max(1, done - this.o.start);
      console.log(
        `step ${done}/${this.o.total} | loss ${s.loss.toFixed(4)} | lr ${s.lr.toExponential(2)} | ${Math.round(s.tokensPerS)} tok/s | layers ${s.layers} | ETA ${eta.toFixed(0)}s`,
      );
    }
  }

  /** Prints a line above the bar (evaluations, measurements). */
  log(line: string): void {
    if (this.o.quiet) return;
    if (this.bar) {
      this.bar.stop();
      console.log(line);
      this.bar = null;
      this.restart = true;
    } else console.log(line);
  }

  private restart = false;

  /** After `log`, the bar resumes on the next update. */
  resume(step: number): void {
    if (!this.restart || this.o.quiet || this.o.plain) return;
    this.restart = false;
    this.startBar(step);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
