/**
 * Command recording and submits. Every dispatch goes into one open command encoder (and one compute pass while
 * dispatches follow each other); nothing is submitted until a sync point: `flush`, or a readback that needs its
 * data now. A write to a buffer the pending commands use does not submit: the data is staged in an upload
 * buffer and copied in order with the recorded commands. So a training step is one submit however many
 * micro-batches it uploads, and its loss readback is recorded into that same submit.
 */
import type { Buffers } from './buffers.js';
import { GpuError, type Gpu } from './device.js';
import { ShapeError, type Tensor } from './tensor.js';

export interface SubmitCounters {
  submits: number;
  readbacks: number;
}

/** A readback recorded into the pending commands; `read()` waits for it (submitting first if still pending). */
export type PendingRead = () => Promise<ArrayBuffer>;

export class CommandRecorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly pending = new Set<GPUBuffer>();
  /** Called with the encoder just before it is finished and submitted (GPU timing resolves its queries here). */
  beforeSubmit: ((encoder: GPUCommandEncoder) => void) | null = null;
  /** Submits so far; a readback recorded in submit n is ready once `submitted > n`. */
  private submitted = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly buffers: Buffers,
    private readonly counters: SubmitCounters,
  ) {}

  private get device(): GPUDevice {
    return this.gpu.device;
  }

  commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** The open compute pass, or (with `descriptor`) a new pass of its own that the caller ends. */
  computePass(descriptor?: GPUComputePassDescriptor): GPUComputePassEncoder {
    if (descriptor) {
      this.endPass();
      return this.commandEncoder().beginComputePass(descriptor);
    }
    return (this.pass ??= this.commandEncoder().beginComputePass());
  }

  /** Notes that the pending commands use `b` (so a write to it is staged). */
  use(b: GPUBuffer): void {
    this.pending.add(b);
  }

  /**
   * Uploads `data` into `t`. When pending commands use `t`'s buffer the data goes through an upload buffer and a
   * recorded copy, so it lands after those commands and before the ones recorded next: no submit.
   */
  write(t: Tensor, data: ArrayBufferView): void {
    if (data.byteLength !== t.byteLength) {
      throw new ShapeError(`write ${t}: got ${data.byteLength} bytes, tensor holds ${t.byteLength}`);
    }
    if (!this.pending.has(t.buffer)) {
      // writeBuffer takes whole 4-byte words: an odd count of f16 values gets one zero half of padding.
      const padded = data.byteLength % 4 === 0 ? data : padToWords(data);
      this.device.queue.writeBuffer(t.buffer, t.byteOffset, padded.buffer, padded.byteOffset, padded.byteLength);
      return;
    }
    const staged = this.buffers.upload(data);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(staged, 0, t.buffer, t.byteOffset, Math.ceil(data.byteLength / 4) * 4);
    this.pending.add(t.buffer);
  }

  /** Records a copy of `t` to the host into the pending commands; nothing is submitted until it is awaited. */
  readLater(t: Tensor): PendingRead {
    const bytes = Math.ceil(t.byteLength / 4) * 4;
    const staging = this.buffers.readback(bytes);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, bytes);
    this.pending.add(t.buffer);
    const inSubmit = this.submitted;
    let done: Promise<ArrayBuffer> | null = null;
    return () =>
      (done ??= (async () => {
        if (this.submitted <= inSubmit) this.flush();
        this.counters.readbacks++;
        await staging.mapAsync(GPUMapMode.READ, 0, bytes);
        const copy = staging.getMappedRange(0, bytes).slice(0);
        staging.unmap();
        this.buffers.returnReadback(bytes, staging);
        if (this.gpu.lostReason) throw new GpuError(`device lost: ${this.gpu.lostReason}`);
        return copy;
      })());
  }

  /** Zeroes a tensor (a buffer command, not a dispatch). */
  zero(t: Tensor): void {
    this.endPass();
    this.commandEncoder().clearBuffer(t.buffer, t.byteOffset, Math.ceil(t.byteLength / 4) * 4);
    this.pending.add(t.buffer);
  }

  /** Copies `src` into `dst` (same byte length). */
  copy(src: Tensor, dst: Tensor): void {
    if (src.byteLength !== dst.byteLength) throw new ShapeError(`copy ${src} -> ${dst}: sizes differ`);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, src.byteLength);
    this.pending.add(src.buffer);
    this.pending.add(dst.buffer);
  }

  /** Submits everything recorded so far (a sync point). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    this.beforeSubmit?.(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pending.clear();
    this.buffers.submitted();
    this.submitted++;
    this.counters.submits++;
  }

  /** Submits and waits for the GPU to finish. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    if (this.gpu.lostReason) throw new GpuError(`device lost: ${this.gpu.lostReason}`);
  }
}

function padToWords(data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}
