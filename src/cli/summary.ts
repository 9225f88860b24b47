/**
 * The summary line both `npm start` tasks print after training (src/cli/train.ts, for every task).
 */
import { AllocatorNotes } from '../drop/notes.js';
import type { RunSummary } from '../train/task.js';

/** The precision the run trained in, and the steps it skipped for non-finite gradients (none is the norm). */
export function precisionLine(s: RunSummary): string {
  const scaling = s.precision === 'f16' ? 'f16 mixed precision (f16 matmul operands, f32 accumulation, dynamic loss scaling)' : 'f32';
  const skipped = s.overflow_steps > 0 ? `; ${s.overflow_steps} step${s.overflow_steps === 1 ? '' : 's'} skipped for non-finite gradients (metrics.jsonl: type "overflow")` : '';
  return `precision: ${scaling}${skipped}`;
}

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
