/**
 * Parameter blocks: the parameters of one transformer layer (or of everything outside the layers) live in one
 * flat buffer, with their gradients, AdamW moments and values laid out identically in four buffers. Each tensor
 * is a view at a 256-byte aligned offset. Weight-decayed tensors come first, so the optimizer updates a whole
 * block in one dispatch with decay on elements [0, decayCount). A layer skipped for a step is a block that is
 * not zeroed, not reduced and not updated: nothing about it changes.
 */
import type { Engine } from '../runtime/engine.js';
import { numel, Tensor } from '../runtime/tensor.js';
import type { Rng } from '../util/rng.js';

/** How a parameter starts: normal(0, std), or a constant. */
export type Init = { normal: number } | { constant: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  decay: boolean;
  init: Init;
}

/** Elements per alignment unit: 256 bytes, the usual minStorageBufferOffsetAlignment. */
const ALIGN = 64;

export class ParamBlock {
  /** (n) all values / gradients / first moments / second moments. */
  readonly params: Tensor;
  readonly grads: Tensor;
  readonly m: Tensor;
  readonly v: Tensor;
  /** Elements [0, decayCount) get weight decay. */
  readonly decayCount: number;
  readonly tensors = new Map<string, Tensor>();
  /** Element offset of each tensor, in spec order. */
  readonly offsets = new Map<string, number>();
  /** Optimizer steps this block has taken (its own AdamW bias-correction count). */
  stepCount = 0;

  constructor(
    e: Engine,
    readonly label: string,
    readonly specs: ParamSpec[],
  ) {
    const ordered = [...specs.filter((s) => s.decay), ...specs.filter((s) => !s.decay)];
    let n = 0;
    let decayCount = 0;
    for (const s of ordered) {
      this.offsets.set(s.name, n);
      n += Math.ceil(numel(s.shape) / ALIGN) * ALIGN;
      if (s.decay) decayCount = n;
    }
    this.decayCount = decayCount;
    this.params = e.persistent([n], 'f32', `${label}.params`);
    this.grads = e.persistent([n], 'f32', `${label}.grads`);
    this.m = e.persistent([n], 'f32', `${label}.m`);
    this.v = e.persistent([n], 'f32', `${label}.v`);
    for (const s of specs) {
      const byteOffset = this.offsets.get(s.name)! * 4;
      const p = new Tensor(this.params.buffer, s.shape, 'f32', byteOffset, s.name, true);
      p.grad = new Tensor(this.grads.buffer, s.shape, 'f32', byteOffset, `d${s.name}`);
      this.tensors.set(s.name, p);
    }
    e.zero(this.m);
    e.zero(this.v);
    e.zero(this.grads);
  }

  get size(): number {
    return this.params.size;
  }

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.label}: no parameter ${name}`);
    return t;
  }

  /** Host-side initial values for the whole block (padding stays zero), drawn in spec order. */
  initialValues(rng: Rng): Float32Array {
    const data = new Float32Array(this.size);
    for (const s of this.specs) {
      const off = this.offsets.get(s.name)!;
      const count = numel(s.shape);
      for (let i = 0; i < count; i++) data[off + i] = 'normal' in s.init ? rng.normal() * s.init.normal : s.init.constant;
    }
    return data;
  }

  /** Copies `name`'s elements out of a flat block array. */
  slice(flat: Float32Array, name: string): Float32Array {
    const off = this.offsets.get(name)!;
    return flat.slice(off, off + numel(this.get(name).shape));
  }

  /** Writes `values` for `name` into a flat block array. */
  place(flat: Float32Array, name: string, values: Float32Array): void {
    flat.set(values, this.offsets.get(name)!);
  }
}
