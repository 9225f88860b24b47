/**
 * Ctrl-C and SIGTERM for the command-line programs. The first one asks the training loop to finish its step,
 * write a checkpoint and stop (src/train/stop.ts; the program then exits 130 or 143); when no loop is running
 * (building, loading data) there is nothing to save and the process exits at once. A second signal aborts at
 * once; the checkpoint writer is crash-safe, so even an abort mid-write leaves the last complete checkpoint.
 *
 * A second signal counts only from 0.5 s after the first: a Ctrl-C in a terminal reaches the process twice at
 * the same moment (from the terminal, and forwarded by `npm run`), and that is still one press.
 */
import { requestStop, signalExitCode } from '../train/stop.js';

const SAME_PRESS_MS = 500;

/** The handler, with its exit and clock passed in (tests drive it without signals). */
export function signalHandler(exit: (code: number) => void, now: () => number = () => performance.now()): (signal: NodeJS.Signals) => void {
  let first: number | null = null;
  return (signal) => {
    const t = now();
    if (first === null) {
      first = t;
      if (requestStop(signal)) {
        console.error(`\n${signal}: finishing this step and writing a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to abort at once)`);
        return;
      }
      exit(signalExitCode(signal)); // nothing running that a checkpoint could keep
      return;
    }
    if (t - first < SAME_PRESS_MS) return;
    console.error(`\n${signal} again: aborted; the last complete checkpoint is kept`);
    exit(signalExitCode(signal));
  };
}

export function installSignalHandlers(): void {
  const onSignal = signalHandler((code) => process.exit(code));
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
}
