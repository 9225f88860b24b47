/**
 * Tensors: a typed, shaped view of a GPU buffer. A tensor owns nothing: its buffer belongs to the engine (a
 * parameter block, the step arena, or a persistent allocation), so users never free anything.
 */

/** Element types. f16 is reserved for a later half-precision path; kernels today use f32, i32 and u32. */
export type DType = 'f32' | 'i32' | 'u32' | 'f16';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, i32: 4, u32: 4, f16: 2 };

let nextTensorId = 1;

export class Tensor {
  readonly id = nextTensorId++;
  /**
   * Gradient of the loss with respect to this tensor, set during backward. For parameters it is preset to a
   * view of the layer's gradient block, and gradients accumulate into it (+=); for activations it is allocated
   * by the first backward rule that writes it (=) and later ones add (+=).
   */
  grad: Tensor | null = null;
  /**
   * An f16 copy of this tensor's value that the kernel writing it stored beside it, for a linear that reads it as
   * an f16 operand under f16 mixed precision (an activation: attention's output; a gradient: attention's dqkv).
   * Whoever writes the tensor again drops it: for gradients that is `gradOf` (every later rule adds through it),
   * and activations are written once, by their producer.
   */
  halfCopy: Tensor | null = null;
  /** Parameters accumulate gradients across micro-batches and are updated by the optimizer. */
  readonly isParameter: boolean;

  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    /** Offset of element 0 in the buffer, in bytes; a multiple of the device's storage offset alignment. */
    readonly byteOffset = 0,
    readonly label = '',
    isParameter = false,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor ${label || ''}: bad shape [${shape.join(', ')}]`);
    }
    this.isParameter = isParameter;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  toString(): string {
    return `${this.label || 'tensor'}[${this.shape.join(', ')}]:${this.dtype}`;
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeEq(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws an error that names the op when `t` does not have `shape`. */
export function expectShape(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  if (!shapeEq(t.shape, shape)) {
    throw new ShapeError(`${op}: ${what} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
  }
}

export function expectDType(op: string, what: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) throw new ShapeError(`${op}: ${what} has dtype ${t.dtype}, expected ${dtype}`);
}

export class ShapeError extends Error {
  override name = 'ShapeError';
}
