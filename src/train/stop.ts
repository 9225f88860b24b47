/**
 * A stop asked for from outside the run (Ctrl-C, SIGTERM: src/cli/signals.ts turns signals into requests). The
 * step loop arms it while it runs; after each step it asks `stopRequested()`, and when set it writes a checkpoint
 * and throws `RunInterrupted`, which the CLI reports with where the checkpoint is and how to resume.
 */

let requested: NodeJS.Signals | null = null;
let armed = false;

/** Exit status of a process stopped by `signal`, as shells report it: 128 + the signal's number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as Record<string, number>)[signal]!;
}

/** Asks the running loop to stop after its current step; false when no loop is running (nothing to save). */
export function requestStop(signal: NodeJS.Signals): boolean {
  requested = signal;
  return armed;
}

/** The signal that asked the loop to stop, or null. */
export function stopRequested(): NodeJS.Signals | null {
  return requested;
}

/** The loop says whether it is running (armed) or not; arming clears an old request. */
export function armStop(on: boolean): void {
  armed = on;
  if (on) requested = null;
}

/** The run stopped early at a signal's request, after writing a checkpoint at `step`. */
export class RunInterrupted extends Error {
  override name = 'RunInterrupted';
  readonly exitCode: number;

  constructor(
    readonly signal: NodeJS.Signals,
    readonly step: number,
    readonly totalSteps: number,
    readonly out: string,
  ) {
    super(
      `stopped by ${signal} after step ${step} of ${totalSteps}; checkpoint written to ${out}/checkpoint\n` +
        `resume with: npm start -- --resume ${out}`,
    );
    this.exitCode = signalExitCode(signal);
  }
}
