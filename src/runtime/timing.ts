/**
 * GPU timing of single dispatches, for the profiler.
 *
 * `timestamps`: every dispatch in its own pass bracketed by timestamp queries (exact GPU time).
 * `serialized`: for adapters without timestamp queries, every dispatch is submitted alone and timed from the
 * host by when the queue reports it done; includes submission overhead, so it over-states small kernels.
 */
import type { CommandRecorder } from './commands.js';
import { GpuError } from './device.js';

export type Phase = 'forward' | 'backward' | 'optimizer' | 'other';

/** One dispatch as the profiler sees it. */
export interface DispatchRecord {
  kernel: string;
  /** Layer index the dispatch belongs to, or null for embedding, head, loss and the like. */
  layer: number | null;
  phase: Phase;
  /** Floating-point operations of the dispatch (src/runtime/flops.ts). */
  flops: number;
  /** GPU time of the dispatch (only while timing). */
  gpuNs?: number;
  /** Start of the dispatch relative to the first timed one, ns (only while timing). */
  startNs?: number;
}

export type TimingMode = 'timestamps' | 'serialized';

/** Two timestamps per dispatch; WebGPU caps a query set at 4096 queries, so 2048 dispatches per submit. */
const MAX_TIMED_DISPATCHES = 2048;

interface StampTiming {
  querySet: GPUQuerySet;
  resolve: GPUBuffer;
  inFlight: { records: DispatchRecord[]; readback: GPUBuffer }[];
  current: DispatchRecord[];
}

export class DispatchTimer {
  private stamps: StampTiming | null = null;
  private serial: { records: DispatchRecord[]; done: Promise<number>[]; t0: number } | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly commands: CommandRecorder,
    readonly timestampsSupported: boolean,
  ) {}

  get active(): boolean {
    return this.stamps !== null || this.serial !== null;
  }

  begin(mode: TimingMode): void {
    if (this.active) throw new GpuError('beginTiming: already timing');
    this.commands.flush();
    if (mode === 'serialized') {
      this.serial = { records: [], done: [], t0: performance.now() };
      return;
    }
    if (!this.timestampsSupported) throw new GpuError('the adapter has no timestamp-query feature; use serialized timing');
    const stamps: StampTiming = {
      querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED_DISPATCHES }),
      resolve: this.device.createBuffer({ size: 2 * MAX_TIMED_DISPATCHES * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      inFlight: [],
      current: [],
    };
    this.stamps = stamps;
    this.commands.beforeSubmit = (encoder) => {
      if (stamps.current.length === 0) return;
      const n = stamps.current.length * 2;
      const readback = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      encoder.resolveQuerySet(stamps.querySet, 0, n, stamps.resolve, 0);
      encoder.copyBufferToBuffer(stamps.resolve, 0, readback, 0, n * 8);
      stamps.inFlight.push({ records: stamps.current, readback });
      stamps.current = [];
    };
  }

  /** The pass a dispatch goes into: its own, bracketed by timestamps, while timing that way; else the shared one. */
  pass(record: DispatchRecord): { pass: GPUComputePassEncoder; own: boolean } {
    const st = this.stamps;
    if (!st) return { pass: this.commands.computePass(), own: false };
    const i = st.current.length;
    if (i >= MAX_TIMED_DISPATCHES) throw new GpuError(`timing: more than ${MAX_TIMED_DISPATCHES} dispatches between two submits`);
    st.current.push(record);
    const timestampWrites = { querySet: st.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
    return { pass: this.commands.computePass({ timestampWrites }), own: true };
  }

  /** After a dispatch was recorded: serialized timing submits it alone and notes when it finishes. */
  dispatched(record: DispatchRecord): void {
    if (!this.serial) return;
    this.commands.flush();
    this.serial.records.push(record);
    this.serial.done.push(this.device.queue.onSubmittedWorkDone().then(() => performance.now()));
  }

  /** Stops timing and returns the timed dispatches in order, each with `gpuNs`. */
  async end(): Promise<DispatchRecord[]> {
    if (this.serial) {
      const st = this.serial;
      this.serial = null;
      const ends = await Promise.all(st.done);
      let prev = st.t0;
      st.records.forEach((r, i) => {
        r.startNs = (prev - st.t0) * 1e6;
        r.gpuNs = Math.max(0, ends[i]! - prev) * 1e6;
        prev = ends[i]!;
      });
      return st.records;
    }
    const timing = this.stamps;
    if (!timing) throw new GpuError('endTiming without beginTiming');
    this.commands.flush();
    this.stamps = null;
    this.commands.beforeSubmit = null;
    const out: DispatchRecord[] = [];
    let first: bigint | null = null;
    for (const batch of timing.inFlight) {
      await batch.readback.mapAsync(GPUMapMode.READ);
      const stamps = new BigInt64Array(batch.readback.getMappedRange());
      batch.records.forEach((r, i) => {
        const begin = stamps[2 * i]!;
        first ??= begin;
        const dt = Number(stamps[2 * i + 1]! - begin);
        r.gpuNs = dt > 0 ? dt : 0;
        r.startNs = Number(begin - first);
        out.push(r);
      });
      batch.readback.unmap();
      batch.readback.destroy();
    }
    timing.querySet.destroy();
    timing.resolve.destroy();
    return out;
  }
}
