/**
 * The layer dropper: the one owner of layer-dropping state in a run. It holds the resolved drop config, SBLD's
 * state and (in taylor mode) the device buffer the layers' online sensitivities land in. The trainer asks it
 * for each step's plans and tells it what happened:
 *   measureIfDue(step, skipLoss)  SBLD's measurement when due (taylor: the online estimate; skip_loss: the
 *                                 task's probe forwards, which the trainer passes in)
 *   plan(step)                    keep probabilities and one drawn plan per micro-batch
 *   stepDone(plans, taylor)       the step ran: feed SBLD the online sensitivities of the layers that ran
 *   toJSON() / restore(json)      its part of a checkpoint (trainer_state.json's `sbld`)
 *   sensitivityLine(rec)          what a measurement logs to metrics.jsonl and prints
 *   notes                         what the allocator could not do this invocation (./notes.ts)
 */
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import type { LayerPlan } from '../model/trunk.js';
import type { DropConfig, ResolvedDropConfig } from './config.js';
import { resolveDropConfig } from './resolve.js';
import { AllocatorNotes } from './notes.js';
import { drawPlan, keepProbabilities, type KeepPlan } from './policy.js';
import { SbldState, type SbldMeasurement, type SbldView } from './sbld.js';

export interface DropperRun {
  nLayer: number;
  totalSteps: number;
  /** Seed of the plans' draws. */
  seed: number;
  /** Micro-batches per step: one plan each. */
  gradAccum: number;
}

/** A step's plans: keep probabilities, one plan per micro-batch, and the `alloc` line to log when a capped stretch begins. */
export interface StepPlans {
  keep: KeepPlan;
  plans: LayerPlan[];
  alloc: { type: 'alloc'; step: number; note: string } | null;
}

export class LayerDropper {
  private sbld: SbldState | null;
  /** What the allocator could not do in this invocation (capped steps, clamped measurements). */
  readonly notes = new AllocatorNotes();
  /** (L) per-layer online sensitivity of the last step, when SBLD uses `taylor`. */
  readonly taylor: Tensor | null;
  /** Taylor: the step a measurement fell due at while no step had given an estimate yet. */
  private taylorDueSince: number | null = null;

  constructor(
    e: Engine,
    readonly config: ResolvedDropConfig,
    private readonly run: Pick<DropperRun, 'seed' | 'gradAccum'>,
  ) {
    this.sbld = config.policy === 'sbld' ? new SbldState(config) : null;
    this.taylor = this.sbld && config.sensitivity === 'taylor' ? e.persistent([config.nLayer], 'f32', 'taylor') : null;
  }

  /** Resolves `drop` for this run (the one resolution a run makes) and builds the dropper. */
  static create(e: Engine, drop: Partial<DropConfig>, run: DropperRun): LayerDropper {
    return new LayerDropper(e, resolveDropConfig(drop, { nLayer: run.nLayer, totalSteps: run.totalSteps }), run);
  }

  /** SBLD's state, read-only (null for the other policies). */
  get state(): SbldView | null {
    return this.sbld;
  }

  /**
   * SBLD's measurement at `step` if it wants one (its time counts in the run's wall clock): `taylor` takes the
   * online estimate gathered by earlier steps (none yet: null, and it is taken at the first step after one ran,
   * recording `postponedFrom`); `skip_loss` runs `skipLoss` (the task's probe forwards).
   */
  async measureIfDue(step: number, skipLoss: () => Promise<{ values: number[]; ms: number; stderr?: number[] }>): Promise<SbldMeasurement | null> {
    if (!this.sbld?.needsMeasurement(step)) return null;
    let rec: SbldMeasurement;
    if (this.taylor) {
      // Taylor estimates come from steps that ran, so at T_pre = 0 (runs under 10 steps at the default warm-up
      // fraction) there is none yet: the measurement waits for the first step that gives one. SbldState keeps
      // asking while nothing is measured, and nothing is lost: ρ(0) = 0, every layer runs at step 0 anyway.
      if (!this.sbld.hasTaylorEstimate()) {
        this.taylorDueSince ??= step;
        return null;
      }
      rec = this.sbld.applyMeasurement(step, this.sbld.taylorSnapshot(), 0);
      if (this.taylorDueSince !== null) rec.postponedFrom = this.taylorDueSince;
      this.taylorDueSince = null;
    } else {
      const m = await skipLoss();
      rec = this.sbld.applyMeasurement(step, m.values, m.ms, m.stderr);
    }
    this.notes.onMeasurement(rec);
    return rec;
  }

  /** Keep probabilities at `step` and the drawn plan of each micro-batch (with the taylor buffer in taylor mode). */
  plan(step: number): StepPlans {
    const keep = keepProbabilities(this.config, step, this.sbld);
    const plans: LayerPlan[] = [];
    const scope = this.config.scope;
    for (let mb = 0; mb < this.run.gradAccum; mb++) {
      const plan: LayerPlan = { run: drawPlan(keep.keep, this.run.seed, step, mb), scale: keep.scale, scope };
      plans.push(this.taylor ? { ...plan, taylor: this.taylor } : plan);
    }
    return { keep, plans, alloc: this.notes.onPlan(step, keep) };
  }

  /** The step with `plans` ran; `taylor` is the read-back taylor buffer (taylor mode): feed SBLD the layers that ran. */
  stepDone(plans: readonly LayerPlan[], taylor: Float32Array | null): void {
    if (!this.sbld || !this.taylor) return;
    if (!taylor) throw new Error('LayerDropper.stepDone: taylor mode needs the step\'s taylor values');
    plans[0]!.run.forEach((_, l) => {
      if (plans.some((p) => p.run[l])) this.sbld!.updateTaylor(l, taylor[l]!);
    });
  }

  /** Its part of a checkpoint: SBLD's state, or null. */
  toJSON(): unknown {
    return this.sbld ? this.sbld.toJSON() : null;
  }

  /** Restores what `toJSON` saved (nothing to restore for the other policies). */
  restore(json: unknown): void {
    if (this.sbld && json) this.sbld = SbldState.fromJSON(this.config, json);
  }

  /** A measurement's metrics.jsonl line and its printed line. */
  sensitivityLine(rec: SbldMeasurement): { log: object; text: string } {
    const { note, clamped, stderr, signal, postponedFrom } = rec;
    return {
      log: {
        type: 'sensitivity',
        step: rec.step,
        values: rec.values,
        sensitivities: rec.sensitivities,
        block: rec.block,
        allow: rec.allow,
        ms: rec.ms,
        ...(note ? { note, clamped } : {}),
        ...(stderr ? { stderr } : {}),
        ...(signal ? { signal } : {}),
        ...(postponedFrom !== undefined ? { postponed_from: postponedFrom } : {}),
      },
      text:
        `sensitivity at step ${rec.step} (${rec.ms.toFixed(0)} ms): [${rec.sensitivities.map((s) => s.toFixed(4)).join(', ')}] ` +
        `block ${JSON.stringify(rec.block)} allow ${JSON.stringify(rec.allow)}` +
        (note ? `; ${note}` : '') +
        (postponedFrom !== undefined ? `; taylor: due at step ${postponedFrom}, taken once a step had given an estimate` : '') +
        (signal && !signal.ok ? `; no signal (${signal.reasons.join('; ')}): ${signal.action === 'retry' ? 'uniform allocation, measuring again later' : 'uniform allocation from now on'}` : ''),
    };
  }

  /** The header's policy part, e.g. `policy sbld (rho_peak 0.420: equal expected compute to PLD)`. */
  describe(): string {
    const d = this.config;
    return `policy ${d.policy}` + (d.rhoMatch ? ` (rho_peak ${d.rhoPeak.toFixed(3)}: ${d.rhoMatch.note ?? 'equal expected compute to PLD'})` : '');
  }
}
