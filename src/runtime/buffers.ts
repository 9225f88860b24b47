/**
 * GPU buffers: persistent allocations (parameters, optimizer state) and the step arena (activations and their
 * gradients), which hands the same buffers out again after a reset so a training step allocates nothing after
 * its first run. Also the small pools of copy buffers that readbacks and staged uploads go through.
 */
import { GpuError, type Gpu } from './device.js';
import { DTYPE_BYTES, numel, Tensor, type DType } from './tensor.js';

// STORAGE | COPY_SRC | COPY_DST. GPUBufferUsage exists only once `webgpu`'s globals are installed; the values
// are fixed by the spec.
const STORAGE_USAGE = 0x0080 | 0x0004 | 0x0008;
// MAP_READ | COPY_DST (readback) and COPY_SRC | COPY_DST (upload staging).
const READBACK_USAGE = 0x0001 | 0x0008;
const UPLOAD_USAGE = 0x0004 | 0x0008;
const UNIFORM_USAGE = 0x0040; // UNIFORM (written at creation)

/**
 * What the engine counts about allocation: storage buffers (persistent and arena) and upload buffers, what a
 * step would keep allocating if planning failed. Readback buffers (one per readback in flight, pooled by size)
 * and uniform buffers (one per distinct params value, a few dozen bytes) are not counted here; `MemoryReport`
 * has every kind.
 */
export interface AllocationCounters {
  bytesAllocated: number;
  buffersAllocated: number;
}

/**
 * GPU memory the engine holds, in bytes, by what it is for. Nothing is freed before the engine is destroyed (the
 * arena and the pools hand their buffers out again), so `totalBytes` is also the peak. The profiler's
 * timestamp buffers (timing.ts) are its own, made and destroyed around a profiled step, and not counted.
 */
export interface MemoryReport {
  /** Every buffer below together. */
  totalBytes: number;
  /** Parameters, gradients, optimizer state, op scratch: `create` outside the arena. */
  persistentBytes: number;
  /** The step arena's buffers, in use or free (activations and their gradients). */
  arenaBytes: number;
  /** Upload staging and readback pools, and the content-addressed uniform buffers of kernel params. */
  uploadBytes: number;
  readbackBytes: number;
  uniformBytes: number;
  /** Arena bytes handed out now. */
  arenaInUseBytes: number;
  /**
   * The most arena bytes in use at once since the last `resetHighWater` (the engine resets it with the arena,
   * once per step): what a step needs for its activations and their gradients, whatever the pools hold.
   */
  arenaHighWaterBytes: number;
}

type MemoryKind = 'persistent' | 'arena' | 'upload' | 'readback' | 'uniform';

/** Rounds a byte count up to the 16-byte padding every buffer here has (vec4 kernels read the tail). */
export function paddedBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** Buffers of one size handed out again once returned. */
class SizePool {
  private readonly free = new Map<number, GPUBuffer[]>();

  take(bytes: number, make: () => GPUBuffer): GPUBuffer {
    return this.free.get(bytes)?.pop() ?? make();
  }

  give(bytes: number, b: GPUBuffer): void {
    let list = this.free.get(bytes);
    if (!list) this.free.set(bytes, (list = []));
    list.push(b);
  }
}

export class Buffers {
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private readonly arenaFree = new SizePool();
  private arenaUsed: GPUBuffer[] = [];
  private readonly arenaSize = new WeakMap<GPUBuffer, number>();
  private readonly readbacks = new SizePool();
  private readonly uploads = new SizePool();
  /** Upload buffers written since the last submit (they go back to the pool when it is submitted). */
  private uploadsInFlight: { bytes: number; buffer: GPUBuffer }[] = [];
  private readonly held: Record<MemoryKind, number> = { persistent: 0, arena: 0, upload: 0, readback: 0, uniform: 0 };
  private arenaInUse = 0;
  private arenaHighWater = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly counters: AllocationCounters,
  ) {}

  /** A persistent GPU buffer (storage, copy source and destination). */
  create(bytes: number, label = '', kind: 'persistent' | 'arena' = 'persistent'): GPUBuffer {
    const size = paddedBytes(bytes);
    if (size > this.gpu.limits.maxBufferSize) {
      throw new GpuError(`buffer ${label}: ${size} bytes exceeds the device's maxBufferSize ${this.gpu.limits.maxBufferSize}`);
    }
    return this.allocate(size, STORAGE_USAGE, label, kind);
  }

  /** A uniform buffer holding `bytes` (binding.ts caches them by content). */
  uniform(bytes: Uint8Array): GPUBuffer {
    const buffer = this.gpu.device.createBuffer({ size: bytes.byteLength, usage: UNIFORM_USAGE, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(bytes);
    buffer.unmap();
    this.held.uniform += bytes.byteLength;
    return buffer;
  }

  private allocate(size: number, usage: number, label: string, kind: MemoryKind): GPUBuffer {
    const device = this.gpu.device;
    device.pushErrorScope('out-of-memory');
    const buffer = device.createBuffer({ size, usage, label });
    device.popErrorScope().then((err) => {
      if (err) console.error(`WebGPU out of memory allocating ${label} (${size} bytes): ${err.message}`);
    });
    this.ids.set(buffer, this.nextId++);
    if (kind !== 'readback') {
      this.counters.bytesAllocated += size;
      this.counters.buffersAllocated++;
    }
    this.held[kind] += size;
    return buffer;
  }

  /** What the engine holds now, by kind, and the arena's high-water mark (see `MemoryReport`). */
  memory(): MemoryReport {
    const h = this.held;
    return {
      totalBytes: h.persistent + h.arena + h.upload + h.readback + h.uniform,
      persistentBytes: h.persistent,
      arenaBytes: h.arena,
      uploadBytes: h.upload,
      readbackBytes: h.readback,
      uniformBytes: h.uniform,
      arenaInUseBytes: this.arenaInUse,
      arenaHighWaterBytes: this.arenaHighWater,
    };
  }

  /** Starts a new high-water mark from the arena bytes in use now. */
  resetHighWater(): void {
    this.arenaHighWater = this.arenaInUse;
  }

  /** A small integer naming `b` in cache keys. */
  id(b: GPUBuffer): number {
    let id = this.ids.get(b);
    if (id === undefined) this.ids.set(b, (id = this.nextId++));
    return id;
  }

  /** A tensor from the step arena: valid until its buffer is released. */
  alloc(shape: readonly number[], dtype: DType, label: string): Tensor {
    const bytes = paddedBytes(numel(shape) * DTYPE_BYTES[dtype]);
    const buffer = this.arenaFree.take(bytes, () => {
      const b = this.create(bytes, `arena:${label}`, 'arena');
      this.arenaSize.set(b, bytes);
      return b;
    });
    this.arenaUsed.push(buffer);
    this.arenaInUse += bytes;
    this.arenaHighWater = Math.max(this.arenaHighWater, this.arenaInUse);
    return new Tensor(buffer, shape, dtype, 0, label);
  }

  /** The number of arena buffers handed out so far. */
  arenaMark(): number {
    return this.arenaUsed.length;
  }

  /** Returns the arena buffers handed out after `mark`. */
  releaseArena(mark: number): void {
    // Reverse so that the next request gets the buffer the first request after the mark had.
    for (let i = this.arenaUsed.length - 1; i >= mark; i--) {
      const b = this.arenaUsed[i]!;
      const bytes = this.arenaSize.get(b)!;
      this.arenaFree.give(bytes, b);
      this.arenaInUse -= bytes;
    }
    this.arenaUsed.length = Math.min(this.arenaUsed.length, mark);
  }

  /** A mappable buffer to copy `bytes` into for reading; hand it back with `returnReadback`. */
  readback(bytes: number): GPUBuffer {
    return this.readbacks.take(bytes, () => this.allocate(bytes, READBACK_USAGE, 'readback', 'readback'));
  }

  returnReadback(bytes: number, b: GPUBuffer): void {
    this.readbacks.give(bytes, b);
  }

  /**
   * A buffer holding `data`, to copy from in the commands being recorded. Upload buffers are not used by any
   * pending command when taken, so `queue.writeBuffer` into them needs no submit first.
   */
  upload(data: ArrayBufferView): GPUBuffer {
    const bytes = paddedBytes(data.byteLength);
    const buffer = this.uploads.take(bytes, () => this.allocate(bytes, UPLOAD_USAGE, 'upload', 'upload'));
    this.gpu.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.uploadsInFlight.push({ bytes, buffer });
    return buffer;
  }

  /** The recorded commands were submitted: upload buffers may be written again. */
  submitted(): void {
    for (const { bytes, buffer } of this.uploadsInFlight) this.uploads.give(bytes, buffer);
    this.uploadsInFlight = [];
  }
}
