/**
 * A training run the page can watch, pause and stop: the trainer's step sequence (src/train/loop.ts: measure
 * when SBLD asks, plan, step, read the loss, validate every `evalEvery` steps) on a `TrainingSession`, reporting
 * each step as it happens. It uses only the library's browser entry, so the browser test runs this same module
 * under Node (Dawn) to compare per-step losses with the page (Chromium).
 *
 * What was trained stays downloadable after a device loss: the parameters are copied to the host at every
 * validation and at the end, and `snapshot` is the latest copy.
 */
import {
  activeBlocks,
  evaluate,
  generate,
  decode,
  planBitString,
  profileRows,
  readWeights,
  resolveConfig,
  type DropConfig,
  type Engine,
  type KeepPlan,
  type ProfileRow,
  type SbldMeasurement,
  type TrainConfig,
  type TrainingSession,
} from '../../src/browser.js';

/** What the page's form sets; everything else is the trainer's default (src/train/config.ts). */
export interface PageSettings {
  preset: TrainConfig['preset'];
  steps: number;
  lr: number;
  seed: number;
  evalEvery: number;
  drop: Partial<DropConfig>;
}

/** The training config of the page's settings (the browser test's Node run builds it the same way). */
export function pageConfig(s: PageSettings): TrainConfig {
  // No checkpoints in a page; 4 validation batches keep validation quick.
  return resolveConfig({}, { ...s, evalBatches: 4, checkpointEvery: 0, out: 'browser' });
}

export interface StepRecord {
  step: number;
  loss: number;
  lr: number;
  ms: number;
  /** Training time so far (validation and sampling excluded), s. */
  elapsedS: number;
  tokensPerS: number;
  /** Which layers ran, per micro-batch, as bit strings (`1101`). */
  layers: string[];
  keep: KeepPlan;
}

export interface StepProfileView {
  step: number;
  mode: 'timestamps' | 'serialized';
  rows: ProfileRow[];
  layersRun: boolean[];
}

export interface RunEvents {
  onStep?(r: StepRecord): void;
  onEval?(step: number, valLoss: number, elapsedS: number): void;
  onSensitivity?(m: SbldMeasurement): void;
  onSample?(step: number, text: string): void;
  onProfile?(p: StepProfileView): void;
}

export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'done';

export interface LiveRunOptions {
  /** Sample text every this many steps (0: only at the end). */
  sampleEvery?: number;
  sampleTokens?: number;
}

export class LiveRun {
  state: RunState = 'idle';
  readonly losses: number[] = [];
  /** The latest host copy of the parameters (HF names) and the step it was taken after. */
  snapshot: { step: number; params: Record<string, Float32Array> } | null = null;
  private resumeWaiter: (() => void) | null = null;
  private profileNext = false;
  private step = 0;

  constructor(
    readonly session: TrainingSession,
    private readonly events: RunEvents = {},
    private readonly options: LiveRunOptions = {},
  ) {}

  get e(): Engine {
    return this.session.e;
  }

  pause(): void {
    if (this.state === 'running') this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    this.resumeWaiter?.();
    this.resumeWaiter = null;
  }

  /** Stops after the step in progress; the model stays as trained so far. */
  stop(): void {
    if (this.state === 'running' || this.state === 'paused') {
      const wasPaused = this.state === 'paused';
      this.state = 'stopped';
      if (wasPaused) this.resumeWaiter?.();
    }
  }

  /** Times every dispatch of the next step (timestamp queries where the adapter has them). */
  profileNextStep(): void {
    this.profileNext = true;
  }

  /** Runs the remaining steps; resolves when done or stopped, rejects on a training or device error. */
  async run(): Promise<void> {
    const { session: s, events } = this;
    const cfg = s.cfg;
    const sampleEvery = this.options.sampleEvery ?? 0;
    this.state = 'running';
    let elapsedMs = 0;
    for (; this.step < cfg.steps; this.step++) {
      if (this.current() === 'paused') await new Promise<void>((r) => (this.resumeWaiter = r));
      if (this.current() === 'stopped') break;
      const step = this.step;
      const t0 = performance.now();
      const rec = await s.measureIfDue(step);
      if (rec) events.onSensitivity?.(rec);
      const { keep, plans } = s.plan(step);
      const profiling = this.profileNext;
      this.profileNext = false;
      const mode = this.e.timestampsSupported ? 'timestamps' : 'serialized';
      if (profiling) this.e.beginTiming(mode);
      const { lr, readLoss } = s.step(step, plans);
      const records = profiling ? await this.e.endTiming() : null;
      const loss = await readLoss();
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step}: loss is ${loss}; try a lower learning rate`);
      const ms = performance.now() - t0;
      elapsedMs += ms;
      this.losses.push(loss);
      const tokensPerS = (s.B * s.T * cfg.gradAccum) / (ms / 1000);
      events.onStep?.({ step, loss, lr, ms, elapsedS: elapsedMs / 1000, tokensPerS, layers: plans.map((p) => planBitString(p.run)), keep });
      if (records) {
        const layersRun = activeBlocks(plans, cfg.n_layer).slice(0, cfg.n_layer);
        events.onProfile?.({ step, mode, rows: profileRows([{ step, records, layersRun }]), layersRun });
      }
      const last = step === cfg.steps - 1;
      if ((cfg.evalEvery > 0 && (step + 1) % cfg.evalEvery === 0) || last) {
        const valLoss = await evaluate(this.e, s.model, s.valBatches, s.B, s.T);
        events.onEval?.(step, valLoss, elapsedMs / 1000);
        await this.takeSnapshot(step + 1);
      }
      if ((sampleEvery > 0 && (step + 1) % sampleEvery === 0) || last) await this.sample(step);
    }
    if (this.current() !== 'stopped') this.state = 'done';
    if (this.snapshot?.step !== this.step) await this.takeSnapshot(this.step);
  }

  /** The state as pause() and stop() may have changed it while a step was awaited. */
  private current(): RunState {
    return this.state;
  }

  private async takeSnapshot(step: number): Promise<void> {
    const { params } = await readWeights(this.e, this.session.model, false);
    this.snapshot = { step, params };
  }

  private async sample(step: number): Promise<void> {
    if (!this.events.onSample) return;
    const ids = await generate(this.e, this.session.model, { prompt: 'The ', tokens: this.options.sampleTokens ?? 120, temperature: 0.8, topK: 0, seed: step });
    this.events.onSample(step, decode(ids));
  }
}
