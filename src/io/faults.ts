/**
 * Fault injection for crash tests: with `SBLD_FAULT_AT=<point>[#n]` in the environment, the process kills itself
 * with SIGKILL the n-th time (default the first) it reaches `faultPoint('<point>')`, so a test can stop a run at
 * each step of a checkpoint or metrics write without timing luck. The points are listed in FAULT_POINTS; with the
 * variable unset `faultPoint` is one comparison.
 */

/** Every point a writer reaches, in the order of one write. */
export const FAULT_POINTS = [
  'checkpoint:files-written', // every file in the temp folder, no manifest yet
  'checkpoint:manifest-written', // temp folder complete, old folder still in place
  'checkpoint:old-moved-aside', // between the swap's two renames: no checkpoint/ at all
  'checkpoint:swapped', // new folder in place, old one not yet removed
  'checkpoint:done',
  'metrics:mid-line', // half of a metrics line appended (a torn last line)
  'metrics:rewrite-temp-written', // resume's rewritten metrics in the temp file, not yet renamed
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

const spec = process.env.SBLD_FAULT_AT;
const [target, nth] = spec ? [spec.split('#')[0], Number(spec.split('#')[1] ?? 1)] : [undefined, 0];
let hits = 0;

/** Kills this process with SIGKILL if `SBLD_FAULT_AT` names this point (and this is its n-th hit). */
export function faultPoint(point: FaultPoint, before?: () => void): void {
  if (target !== point) return;
  if (++hits !== nth) return;
  before?.();
  process.kill(process.pid, 'SIGKILL');
}
