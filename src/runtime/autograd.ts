/**
 * The autograd hooks ops call: record a backward rule, find where a gradient goes, run the tape backwards, and
 * attribute dispatches to a layer and phase (for the profiler and the backward-of-a-layer bookkeeping).
 */
import { Tape } from './tape.js';
import { fmtShape, shapeEq, ShapeError, Tensor, type DType } from './tensor.js';
import type { Phase } from './timing.js';

/** What the hooks need from the engine: arena tensors, and a persistent scalar holding a given value. */
export interface GradientStore {
  alloc(shape: readonly number[], dtype: DType, label: string): Tensor;
  constant(value: number, label: string): Tensor;
}

export class Autograd {
  readonly tape = new Tape();
  /** Where dispatches are attributed: layer index (or null) and phase. */
  scope: { layer: number | null; phase: Phase } = { layer: null, phase: 'other' };
  /** When false, ops record nothing on the tape (evaluation, sensitivity probes). */
  gradEnabled = true;
  private readonly lossSeeds = new Map<number, Tensor>();

  constructor(
    private readonly store: GradientStore,
    private readonly counters: { tapeEntries: number },
  ) {}

  /** Records a tape entry (no-op while gradients are disabled). */
  record(op: string, outputs: Tensor[], backward: () => void): void {
    if (!this.gradEnabled) return;
    // Backward dispatches are attributed to the layer that recorded the entry.
    const layer = this.scope.layer;
    this.tape.push({ op, outputs, backward: () => this.inLayer(layer, backward) });
    this.counters.tapeEntries++;
  }

  /**
   * Where a backward rule writes the gradient of `t`: a parameter's gradient block (always +=), a fresh arena
   * tensor (=) the first time an activation receives a gradient, and the same tensor (+=) afterwards.
   */
  gradOf(op: string, t: Tensor): { grad: Tensor; accumulate: boolean } {
    if (t.isParameter) {
      if (!t.grad) throw new ShapeError(`${op}: parameter ${t} has no gradient buffer`);
      return { grad: t.grad, accumulate: true };
    }
    if (t.grad) {
      t.grad.halfCopy = null; // the rule is about to add into it
      return { grad: t.grad, accumulate: true };
    }
    // Gradients are f32, also of an f16 activation (f16 mixed precision stores some activations in f16).
    t.grad = this.store.alloc(t.shape, t.dtype === 'f16' ? 'f32' : t.dtype, `d${t.label}`);
    return { grad: t.grad, accumulate: false };
  }

  /** The gradient arriving at an op's output, shape-checked against the output (error names the op). */
  gradIn(op: string, out: Tensor): Tensor {
    const g = out.grad;
    if (!g) throw new ShapeError(`${op}: output ${out} has no gradient`);
    if (!shapeEq(g.shape, out.shape)) {
      throw new ShapeError(`${op}: gradient has shape ${fmtShape(g.shape)} but the output has ${fmtShape(out.shape)}`);
    }
    return g;
  }

  /** Runs the tape backwards from a scalar `loss`, seeding dloss = `seed` (e.g. 1/micro-batches). */
  backward(loss: Tensor, seed = 1): void {
    if (loss.size !== 1) throw new ShapeError(`backward: loss must have one element, got ${fmtShape(loss.shape)}`);
    let g = this.lossSeeds.get(seed);
    if (!g) this.lossSeeds.set(seed, (g = this.store.constant(seed, `dloss=${seed}`)));
    loss.grad = new Tensor(g.buffer, loss.shape, 'f32', 0, 'dloss');
    const prev = this.scope.phase;
    this.scope.phase = 'backward';
    try {
      this.tape.replay();
    } finally {
      this.scope.phase = prev;
    }
  }

  /** Runs `fn` with the tape off. */
  noGrad<T>(fn: () => T): T {
    const prev = this.gradEnabled;
    this.gradEnabled = false;
    try {
      return fn();
    } finally {
      this.gradEnabled = prev;
    }
  }

  /** Attributes the dispatches `fn` records to `layer` (and `phase`, when given). */
  inLayer<T>(layer: number | null, fn: () => T, phase?: Phase): T {
    const prev = { ...this.scope };
    this.scope.layer = layer;
    if (phase) this.scope.phase = phase;
    try {
      return fn();
    } finally {
      this.scope = prev;
    }
  }
}
