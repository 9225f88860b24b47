/**
 * What the SBLD allocator could not do in a run, for metrics.jsonl and the end summary:
 *   - the cap note: D = L·ρ(t) exceeded the caps' capacity (q_max × droppable layers), so fewer layers were
 *     dropped than the schedule asked. Logged as an `alloc` line the first step it happens and whenever the
 *     note's wording changes back from uncapped (not every step: it can hold for hundreds of steps), and
 *     counted: capped steps, the first and last;
 *   - the clamp note: a measurement raised layers to the clamp eps·max(s) (they tie) or found no positive
 *     sensitivity; the `sensitivity` line carries it, and the summary lists each.
 * Counts cover this invocation of the trainer (a resumed run counts from where it resumed).
 */
import type { KeepPlan } from './policy.js';
import type { SbldMeasurement } from './sbld.js';

export interface AllocatorNotesSummary {
  capped_steps: number;
  first_capped_step: number | null;
  last_capped_step: number | null;
  /** The cap note of the first capped step. */
  cap_note: string | null;
  /** One per measurement with a clamp note: `step N: note`. */
  clamp_notes: string[];
}

export class AllocatorNotes {
  private capped = 0;
  private first: number | null = null;
  private last: number | null = null;
  private capNote: string | null = null;
  private wasCapped = false;
  private readonly clampNotes: string[] = [];

  /** Call once per step with its keep plan; returns the `alloc` line to log when a capped stretch begins. */
  onPlan(step: number, keep: KeepPlan): { type: 'alloc'; step: number; note: string } | null {
    if (!keep.capped) {
      this.wasCapped = false;
      return null;
    }
    this.capped++;
    this.first ??= step;
    this.last = step;
    this.capNote ??= keep.note ?? 'capped';
    const begins = !this.wasCapped;
    this.wasCapped = true;
    return begins ? { type: 'alloc', step, note: keep.note ?? 'capped' } : null;
  }

  onMeasurement(rec: SbldMeasurement): void {
    if (rec.note) this.clampNotes.push(`step ${rec.step}: ${rec.note}`);
    if (rec.signal && !rec.signal.ok) {
      this.clampNotes.push(`step ${rec.step}: no signal (${rec.signal.reasons.join('; ')}): ${rec.signal.action === 'retry' ? 'uniform allocation, measuring again' : 'uniform allocation from now on'}`);
    }
  }

  summary(): AllocatorNotesSummary {
    return { capped_steps: this.capped, first_capped_step: this.first, last_capped_step: this.last, cap_note: this.capNote, clamp_notes: [...this.clampNotes] };
  }

  /** Lines for the printed end summary (none when the allocator did everything asked). */
  static describe(s: AllocatorNotesSummary | undefined): string[] {
    if (!s) return [];
    const out: string[] = [];
    if (s.capped_steps > 0) out.push(`allocator capped on ${s.capped_steps} step(s) (${s.first_capped_step}-${s.last_capped_step}): ${s.cap_note}`);
    for (const n of s.clamp_notes) out.push(`sensitivity clamp, ${n}`);
    return out;
  }
}
