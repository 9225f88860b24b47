/**
 * The summary line both `npm start` tasks print after training (src/cli/train.ts, for every task).
 */
import { AllocatorNotes } from '../drop/notes.js';
import type { RunSummary } from '../train/task.js';

/** What layer dropping skipped, and the time it saved (or cost) against running every layer. */
export function layerDroppingLine(s: RunSummary): string {
  const notes = AllocatorNotes.describe(s.allocator_notes).map((n) => `\n  ${n}`).join('');
  return (
    `layer dropping (${s.policy}): ${(100 * s.skipped_fraction).toFixed(1)}% of layer-steps skipped` +
    (s.est_saved_s === null
      ? ''
      : s.est_saved_s >= 0
        ? `, about ${s.est_saved_s.toFixed(1)} s saved against running every layer`
        : `, no net time saved (${(-s.est_saved_s).toFixed(1)} s more than full-depth steps would take)`) +
    notes
  );
}
