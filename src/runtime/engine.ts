/**
 * The engine: one WebGPU device with its kernel registry, buffer planning, command recording, autograd tape
 * and counters.
 *
 * Command recording: every dispatch goes into one open command encoder (and one compute pass while dispatches
 * follow each other); nothing is submitted until a sync point (`flush`, a readback, or a write to a buffer the
 * pending commands use). Buffers: parameters and optimizer state live in persistent buffers planned once;
 * activations and their gradients come from a step arena that hands the same buffers out again after
 * `resetArena()`, so after the first step nothing is allocated and bind groups are cache hits.
 */
import { acquireGpu, GpuError, type Gpu, type GpuOptions } from './device.js';
import { dtypeForElement, KernelBindingError, KernelRegistry, type KernelInfo, type Overrides } from './kernels.js';
import { dispatchFlops } from './flops.js';
import { Tape } from './tape.js';
import { DTYPE_BYTES, fmtShape, numel, shapeEq, ShapeError, Tensor, type DType } from './tensor.js';

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

/**
 * `timestamps`: every dispatch in its own pass bracketed by timestamp queries (exact GPU time).
 * `serialized`: for adapters without timestamp queries, every dispatch is submitted alone and timed from the
 * host by when the queue reports it done; includes submission overhead, so it over-states small kernels.
 */
export type TimingMode = 'timestamps' | 'serialized';

export interface Counters {
  dispatches: number;
  submits: number;
  /** Tape entries ever recorded. */
  tapeEntries: number;
  bytesAllocated: number;
  buffersAllocated: number;
  readbacks: number;
  bindGroupsCreated: number;
  /** Floating-point operations of every dispatch recorded, counted per dispatch (src/runtime/flops.ts). */
  flops: number;
}

export type Bindable = Tensor | GPUBuffer;

export interface EngineOptions extends GpuOptions {
  kernelDir?: string;
}

// STORAGE | COPY_SRC | COPY_DST. GPUBufferUsage exists only once `webgpu`'s globals are installed; the values
// are fixed by the spec.
const STORAGE_USAGE = 0x0080 | 0x0004 | 0x0008;

/** Two timestamps per dispatch; WebGPU caps a query set at 4096 queries, so 2048 dispatches per submit. */
const MAX_TIMED_DISPATCHES = 2048;

/**
 * Folds a count of workgroups into a 2-D grid [x, y] with x <= `max` (WebGPU's default per-dimension limit).
 * Kernels recover the linear index as `wid.x + wid.y * num_workgroups.x` and skip indices past the end.
 */
export function foldGrid(workgroups: number, max = 65535): [number, number] {
  if (workgroups <= max) return [workgroups, 1];
  const y = Math.ceil(workgroups / max);
  return [Math.ceil(workgroups / y), y];
}

export class Engine {
  readonly device: GPUDevice;
  readonly tape = new Tape();
  readonly counters: Counters = {
    dispatches: 0,
    submits: 0,
    tapeEntries: 0,
    bytesAllocated: 0,
    buffersAllocated: 0,
    readbacks: 0,
    bindGroupsCreated: 0,
    flops: 0,
  };
  /** Where dispatches are attributed: layer index (or null) and phase. */
  scope: { layer: number | null; phase: Phase } = { layer: null, phase: 'other' };
  /** When false, ops record nothing on the tape (evaluation, sensitivity probes). */
  gradEnabled = true;
  /** `DEBUG` level from the environment: 2 logs every dispatch. */
  readonly debug = Number(process.env.DEBUG ?? 0) || 0;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly pendingBuffers = new Set<GPUBuffer>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private readonly uniformCache = new Map<string, GPUBuffer>();
  private readonly bindGroupCache = new Map<string, GPUBindGroup>();
  private readonly arenaFree = new Map<number, GPUBuffer[]>();
  private arenaUsed: GPUBuffer[] = [];
  private readonly arenaSize = new WeakMap<GPUBuffer, number>();
  private readonly lossSeeds = new Map<number, Tensor>();
  private readonly stagingFree = new Map<number, GPUBuffer[]>();
  /** Set to [] to log every dispatch (tests); null: no log. */
  dispatchLog: DispatchRecord[] | null = null;
  private timing: {
    querySet: GPUQuerySet;
    resolve: GPUBuffer;
    inFlight: { records: DispatchRecord[]; readback: GPUBuffer }[];
    current: DispatchRecord[];
  } | null = null;
  private serialTiming: { records: DispatchRecord[]; done: Promise<number>[]; t0: number } | null = null;

  private constructor(
    readonly gpu: Gpu,
    readonly kernels: KernelRegistry,
  ) {
    this.device = gpu.device;
  }

  /** Opens the device, loads and compiles every kernel. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const gpu = await acquireGpu(options);
    const kernels = await KernelRegistry.load(gpu.device, options.kernelDir);
    await kernels.prepareAll();
    return new Engine(gpu, kernels);
  }

  get features(): Set<string> {
    return this.gpu.features;
  }

  // ---------------------------------------------------------------- buffers and tensors

  /** A persistent GPU buffer (storage, copy source and destination). */
  createBuffer(bytes: number, label = ''): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (size > this.gpu.limits.maxBufferSize) {
      throw new GpuError(`buffer ${label}: ${size} bytes exceeds the device's maxBufferSize ${this.gpu.limits.maxBufferSize}`);
    }
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
    this.device.popErrorScope().then((err) => {
      if (err) console.error(`WebGPU out of memory allocating ${label} (${size} bytes): ${err.message}`);
    });
    this.bufferIds.set(buffer, this.nextBufferId++);
    this.counters.bytesAllocated += size;
    this.counters.buffersAllocated++;
    return buffer;
  }

  private placeholder: Tensor | null = null;
  /** A 4-element f32 tensor to bind where a kernel's optional input is absent (e.g. no bias). */
  get unused(): Tensor {
    return (this.placeholder ??= this.persistent([4], 'f32', 'unused'));
  }

  /** A standalone parameter (own value and zeroed gradient buffers); models use `ParamBlock` views instead. */
  parameter(shape: readonly number[], label = 'param'): Tensor {
    const value = this.createBuffer(numel(shape) * 4, label);
    const p = new Tensor(value, shape, 'f32', 0, label, true);
    p.grad = this.persistent(shape, 'f32', `d${label}`);
    this.zero(p.grad);
    return p;
  }

  /** A tensor in its own persistent buffer. */
  persistent(shape: readonly number[], dtype: DType = 'f32', label = ''): Tensor {
    return new Tensor(this.createBuffer(numel(shape) * DTYPE_BYTES[dtype], label), shape, dtype, 0, label);
  }

  /**
   * A tensor from the step arena: valid until the next `resetArena()`. The same sequence of requests after a
   * reset gets the same buffers back, so a training step allocates nothing after its first run.
   */
  alloc(shape: readonly number[], dtype: DType = 'f32', label = ''): Tensor {
    const bytes = Math.max(16, Math.ceil((numel(shape) * DTYPE_BYTES[dtype]) / 16) * 16);
    const free = this.arenaFree.get(bytes);
    let buffer = free?.pop();
    if (!buffer) {
      buffer = this.createBuffer(bytes, `arena:${label}`);
      this.arenaSize.set(buffer, bytes);
    }
    this.arenaUsed.push(buffer);
    return new Tensor(buffer, shape, dtype, 0, label);
  }

  /**
   * Returns every arena buffer for reuse and clears the tape (its entries refer to arena tensors). Tensors
   * allocated before are invalid afterwards.
   */
  resetArena(): void {
    this.releaseArena(0);
    this.tape.clear();
  }

  /** A mark for `releaseArena`: the number of arena buffers handed out so far. */
  arenaMark(): number {
    return this.arenaUsed.length;
  }

  /**
   * Returns the arena buffers handed out after `mark` (e.g. one micro-batch's activations once its backward is
   * recorded). Commands already recorded keep their order on the queue, so reuse is safe.
   */
  releaseArena(mark: number): void {
    // Reverse so that the next request gets the buffer the first request after the mark had.
    for (let i = this.arenaUsed.length - 1; i >= mark; i--) {
      const b = this.arenaUsed[i]!;
      const size = this.arenaSize.get(b)!;
      let list = this.arenaFree.get(size);
      if (!list) this.arenaFree.set(size, (list = []));
      list.push(b);
    }
    this.arenaUsed.length = Math.min(this.arenaUsed.length, mark);
  }

  /** Uploads `data` into `t`. Submits pending work first when that work uses `t`'s buffer. */
  write(t: Tensor, data: ArrayBufferView): void {
    if (data.byteLength !== t.byteLength) {
      throw new ShapeError(`write ${t}: got ${data.byteLength} bytes, tensor holds ${t.byteLength}`);
    }
    if (this.pendingBuffers.has(t.buffer)) this.flush();
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Reads a tensor back to the host (a sync point). */
  async read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    const bytes = Math.ceil(t.byteLength / 4) * 4;
    const staging = this.staging(bytes);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, bytes);
    this.flush();
    this.counters.readbacks++;
    await staging.mapAsync(GPUMapMode.READ, 0, bytes);
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.stagingFree.get(bytes)!.push(staging);
    if (this.gpu.lostReason) throw new GpuError(`device lost: ${this.gpu.lostReason}`);
    if (t.dtype === 'i32') return new Int32Array(copy);
    if (t.dtype === 'u32') return new Uint32Array(copy);
    return new Float32Array(copy);
  }

  async readFloat(t: Tensor): Promise<Float32Array> {
    const data = await this.read(t);
    if (!(data instanceof Float32Array)) throw new ShapeError(`readFloat ${t}: tensor is ${t.dtype}`);
    return data;
  }

  private staging(bytes: number): GPUBuffer {
    let list = this.stagingFree.get(bytes);
    if (!list) this.stagingFree.set(bytes, (list = []));
    return list.pop() ?? this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Zeroes a tensor (a buffer command, not a dispatch). */
  zero(t: Tensor): void {
    this.endPass();
    const bytes = Math.ceil(t.byteLength / 4) * 4;
    this.commandEncoder().clearBuffer(t.buffer, t.byteOffset, bytes);
    this.pendingBuffers.add(t.buffer);
  }

  /** Copies `src` into `dst` (same byte length). */
  copy(src: Tensor, dst: Tensor): void {
    if (src.byteLength !== dst.byteLength) throw new ShapeError(`copy ${src} -> ${dst}: sizes differ`);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, src.byteLength);
    this.pendingBuffers.add(src.buffer);
    this.pendingBuffers.add(dst.buffer);
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Records one kernel dispatch. `args` binds buffers by the names the WGSL declares; `params` fills the
   * kernel's uniform `params` struct by member name. A missing or extra name throws and lists both sets;
   * a tensor whose dtype does not match the declared element type, a binding over the device's size limit, or
   * a grid over the workgroup-count limit throws before anything is recorded.
   */
  dispatch(
    name: string,
    args: Record<string, Bindable>,
    params: Record<string, number> | null,
    workgroups: readonly [number, number?, number?],
    overrides: Overrides = {},
  ): void {
    const kernel = this.kernels.kernel(name);
    const pipeline = this.kernels.pipeline(name, overrides);
    const bindGroup = this.bindGroup(kernel, args, params);
    const [x, y = 1, z = 1] = workgroups;
    const maxWg = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (![x, y, z].every((n) => Number.isInteger(n) && n >= 0 && n <= maxWg)) {
      throw new KernelBindingError(`${name}: workgroup grid [${x}, ${y}, ${z}] outside 0..${maxWg} per dimension`);
    }
    if (this.gpu.lostReason) throw new GpuError(`device lost: ${this.gpu.lostReason}`);
    const flops = dispatchFlops(name, params, [x, y, z]);
    const record: DispatchRecord = { kernel: name, layer: this.scope.layer, phase: this.scope.phase, flops };
    let pass: GPUComputePassEncoder;
    if (this.timing) {
      this.endPass();
      const i = this.timing.current.length;
      if (i >= MAX_TIMED_DISPATCHES) throw new GpuError(`timing: more than ${MAX_TIMED_DISPATCHES} dispatches between two submits`);
      pass = this.commandEncoder().beginComputePass({
        timestampWrites: { querySet: this.timing.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      this.timing.current.push(record);
    } else {
      pass = this.pass ??= this.commandEncoder().beginComputePass();
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    if (this.timing) pass.end();
    if (this.serialTiming) {
      this.flush();
      this.serialTiming.records.push(record);
      this.serialTiming.done.push(this.device.queue.onSubmittedWorkDone().then(() => performance.now()));
    }
    this.counters.dispatches++;
    this.counters.flops += flops;
    this.dispatchLog?.push(record);
    if (this.debug >= 2) console.error(`[dispatch] ${name} [${x},${y},${z}] layer=${record.layer} ${record.phase}`);
  }

  private bindGroup(kernel: KernelInfo, args: Record<string, Bindable>, params: Record<string, number> | null): GPUBindGroup {
    const expected = kernel.bindings.map((b) => b.name);
    const given = Object.keys(args);
    const missing = expected.filter((n) => !(n in args));
    const extra = given.filter((n) => !expected.includes(n));
    if (missing.length || extra.length) {
      throw new KernelBindingError(
        `${kernel.name}: bindings do not match` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') +
          (extra.length ? `; unexpected: ${extra.join(', ')}` : '') +
          `. The kernel declares {${expected.join(', ')}}; given {${given.join(', ')}}`,
      );
    }
    const limit = this.gpu.limits.maxStorageBufferBindingSize;
    const align = this.gpu.limits.minStorageBufferOffsetAlignment;
    const entries: GPUBindGroupEntry[] = [];
    const bound: { name: string; kind: string; buffer: GPUBuffer; offset: number; size: number }[] = [];
    let key = `${kernel.id}`;
    for (const b of kernel.bindings) {
      const arg = args[b.name]!;
      let resource: GPUBufferBinding;
      if (arg instanceof Tensor) {
        const want = dtypeForElement(b.elementType);
        if (want && want !== arg.dtype) {
          throw new ShapeError(`${kernel.name}: ${b.name} is ${arg} but the kernel reads ${b.elementType} (dtype ${want})`);
        }
        if (arg.byteOffset % align !== 0) {
          throw new KernelBindingError(`${kernel.name}: ${b.name} starts at byte ${arg.byteOffset}, not a multiple of ${align}`);
        }
        if (arg.byteLength > limit) {
          throw new KernelBindingError(
            `${kernel.name}: ${b.name} ${fmtShape(arg.shape)} is ${arg.byteLength} bytes, over the device's maxStorageBufferBindingSize ${limit}; use a smaller batch or model`,
          );
        }
        if (arg.byteOffset + arg.byteLength > arg.buffer.size) {
          throw new KernelBindingError(`${kernel.name}: ${b.name} ${arg} extends past the end of its ${arg.buffer.size}-byte buffer`);
        }
        // Bind the 16-byte padded extent (every buffer is allocated padded), so vec4 kernels can read the tail.
        const size = Math.min(arg.buffer.size - arg.byteOffset, Math.max(16, Math.ceil(arg.byteLength / 16) * 16));
        resource = { buffer: arg.buffer, offset: arg.byteOffset, size };
      } else {
        resource = { buffer: arg };
      }
      for (const prev of bound) {
        if (prev.buffer !== resource.buffer || (prev.kind !== 'storage' && b.kind !== 'storage')) continue;
        const [a0, a1] = [prev.offset, prev.offset + prev.size];
        const [b0, b1] = [resource.offset ?? 0, (resource.offset ?? 0) + (resource.size ?? resource.buffer.size)];
        if (a0 < b1 && b0 < a1) {
          throw new KernelBindingError(`${kernel.name}: ${prev.name} and ${b.name} overlap in one buffer and one is written; pass distinct tensors`);
        }
      }
      bound.push({ name: b.name, kind: b.kind, buffer: resource.buffer, offset: resource.offset ?? 0, size: resource.size ?? resource.buffer.size });
      entries.push({ binding: b.binding, resource });
      this.pendingBuffers.add(resource.buffer);
      key += `|${this.bufferId(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? -1}`;
    }
    if (kernel.params) {
      const uniform = this.uniform(kernel, params ?? {});
      entries.push({ binding: kernel.params.binding, resource: { buffer: uniform } });
      key += `|u${this.bufferId(uniform)}`;
    } else if (params && Object.keys(params).length) {
      throw new KernelBindingError(`${kernel.name}: has no params struct, given {${Object.keys(params).join(', ')}}`);
    }
    let group = this.bindGroupCache.get(key);
    if (!group) {
      group = this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.name });
      this.bindGroupCache.set(key, group);
      this.counters.bindGroupsCreated++;
    }
    return group;
  }

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  /** Uniform buffers are content-addressed: one per distinct params value, written once at creation. */
  private uniform(kernel: KernelInfo, params: Record<string, number>): GPUBuffer {
    const layout = kernel.params!;
    const names = layout.members.map((m) => m.name);
    const missing = names.filter((n) => !(n in params));
    const extra = Object.keys(params).filter((n) => !names.includes(n));
    if (missing.length || extra.length) {
      throw new KernelBindingError(
        `${kernel.name}: params do not match` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') +
          (extra.length ? `; unexpected: ${extra.join(', ')}` : '') +
          `. The struct declares {${names.join(', ')}}; given {${Object.keys(params).join(', ')}}`,
      );
    }
    const bytes = new ArrayBuffer(layout.size);
    const view = new DataView(bytes);
    for (const m of layout.members) {
      const v = params[m.name]!;
      if (m.type === 'f32') view.setFloat32(m.offset, v, true);
      else {
        if (!Number.isInteger(v) || (m.type === 'u32' && v < 0)) {
          throw new KernelBindingError(`${kernel.name}: params.${m.name} is ${m.type} but got ${v}`);
        }
        if (m.type === 'u32') view.setUint32(m.offset, v, true);
        else view.setInt32(m.offset, v, true);
      }
    }
    const key = Buffer.from(bytes).toString('base64');
    let buffer = this.uniformCache.get(key);
    if (!buffer) {
      buffer = this.device.createBuffer({ size: layout.size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(bytes));
      buffer.unmap();
      this.uniformCache.set(key, buffer);
    }
    return buffer;
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything recorded so far (a sync point). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.timing && this.timing.current.length > 0) {
      const n = this.timing.current.length * 2;
      const readback = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.encoder.resolveQuerySet(this.timing.querySet, 0, n, this.timing.resolve, 0);
      this.encoder.copyBufferToBuffer(this.timing.resolve, 0, readback, 0, n * 8);
      this.timing.inFlight.push({ records: this.timing.current, readback });
      this.timing.current = [];
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pendingBuffers.clear();
    this.counters.submits++;
  }

  /** Submits and waits for the GPU to finish. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    if (this.gpu.lostReason) throw new GpuError(`device lost: ${this.gpu.lostReason}`);
  }

  // ---------------------------------------------------------------- timing

  get timestampsSupported(): boolean {
    return this.gpu.features.has('timestamp-query');
  }

  /** From now on every dispatch is timed (see `TimingMode`); `endTiming` returns the records. */
  beginTiming(mode: TimingMode = this.timestampsSupported ? 'timestamps' : 'serialized'): void {
    if (this.timing || this.serialTiming) throw new GpuError('beginTiming: already timing');
    this.flush();
    if (mode === 'serialized') {
      this.serialTiming = { records: [], done: [], t0: performance.now() };
      return;
    }
    if (!this.timestampsSupported) throw new GpuError('the adapter has no timestamp-query feature; use serialized timing');
    this.timing = {
      querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED_DISPATCHES }),
      resolve: this.device.createBuffer({
        size: 2 * MAX_TIMED_DISPATCHES * 8,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      }),
      inFlight: [],
      current: [],
    };
  }

  /** Stops timing and returns the timed dispatches in order, each with `gpuNs`. */
  async endTiming(): Promise<DispatchRecord[]> {
    if (this.serialTiming) {
      const st = this.serialTiming;
      this.serialTiming = null;
      const ends = await Promise.all(st.done);
      let prev = st.t0;
      st.records.forEach((r, i) => {
        r.startNs = (prev - st.t0) * 1e6;
        r.gpuNs = Math.max(0, ends[i]! - prev) * 1e6;
        prev = ends[i]!;
      });
      return st.records;
    }
    const timing = this.timing;
    if (!timing) throw new GpuError('endTiming without beginTiming');
    this.flush();
    this.timing = null;
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

  // ---------------------------------------------------------------- autograd

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
    if (t.grad) return { grad: t.grad, accumulate: true };
    t.grad = this.alloc(t.shape, t.dtype, `d${t.label}`);
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
    if (!g) {
      g = this.persistent([1], 'f32', `dloss=${seed}`);
      this.device.queue.writeBuffer(g.buffer, 0, new Float32Array([seed]));
      this.lossSeeds.set(seed, g);
    }
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

  destroy(): void {
    this.flush();
    this.gpu.destroy();
  }
}
