/**
 * The engine: one WebGPU device with its kernel registry and kernel choices, and the parts an op talks to,
 * each in its own module: buffers and the step arena (buffers.ts), command recording and submits
 * (commands.ts), argument binding and its caches (binding.ts), GPU timing (timing.ts) and the autograd hooks
 * (autograd.ts). This class wires them together and counts what they do.
 */
import { Float16Array } from '@petamoriken/float16';
import { Autograd } from './autograd.js';
import { type Bindable, BindingCache } from './binding.js';
import { Buffers, type MemoryReport } from './buffers.js';
import { KernelChoice } from './choice.js';
import { CommandRecorder, type PendingRead } from './commands.js';
import { acquireGpu, GpuError, type Gpu, type GpuOptions } from './device.js';
import { dispatchFlops } from './flops.js';
import { KernelBindingError, KernelRegistry, type Overrides } from './kernels.js';
import { loadKernelSources } from './kernel-sources.js';
import { WriteVersions } from './write-versions.js';
import { debugLevel } from '../util/env.js';
import type { Tape } from './tape.js';
import { DTYPE_BYTES, numel, ShapeError, Tensor, type DType } from './tensor.js';
import { DispatchTimer, type DispatchRecord, type Phase, type TimingMode } from './timing.js';

export type { Bindable } from './binding.js';
export type { DispatchRecord, Phase, TimingMode } from './timing.js';
export type { PendingRead } from './commands.js';
export type { MemoryReport } from './buffers.js';

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

export interface EngineOptions extends GpuOptions {
  kernelDir?: string;
}

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
  /** `DEBUG` level from the environment: 2 logs every dispatch. */
  readonly debug = debugLevel();
  /** Set to [] to log every dispatch (tests); null: no log. */
  dispatchLog: DispatchRecord[] | null = null;
  /** Which kernel each op runs on this adapter. */
  readonly choice: KernelChoice;
  readonly autograd: Autograd;
  /** Write counts of the buffers something derives copies from (src/ops/half-weights.ts: f16 weights). */
  readonly writes = new WriteVersions();
  private readonly buffers: Buffers;
  private readonly commands: CommandRecorder;
  private readonly binding: BindingCache;
  private readonly timer: DispatchTimer;
  private readonly scratch = new Map<string, Tensor>();

  private constructor(
    readonly gpu: Gpu,
    readonly kernels: KernelRegistry,
  ) {
    this.device = gpu.device;
    this.choice = new KernelChoice(gpu, kernels);
    this.buffers = new Buffers(gpu, this.counters);
    this.commands = new CommandRecorder(gpu, this.buffers, this.counters);
    this.binding = new BindingCache(gpu, this.buffers, this.counters);
    this.timer = new DispatchTimer(this.device, this.commands, gpu.features.has('timestamp-query'));
    this.autograd = new Autograd(
      {
        alloc: (shape, dtype, label) => this.alloc(shape, dtype, label),
        constant: (value, label) => {
          const t = this.persistent([1], 'f32', label);
          this.device.queue.writeBuffer(t.buffer, 0, new Float32Array([value]));
          return t;
        },
      },
      this.counters,
    );
  }

  /** Opens the device, loads and compiles every kernel. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const gpu = await acquireGpu(options);
    const kernels = await KernelRegistry.load(gpu.device, loadKernelSources(options.kernelDir));
    await kernels.prepareAll();
    return new Engine(gpu, kernels);
  }

  get features(): Set<string> {
    return this.gpu.features;
  }

  // ---------------------------------------------------------------- buffers and tensors

  /** A persistent GPU buffer (storage, copy source and destination). */
  createBuffer(bytes: number, label = ''): GPUBuffer {
    return this.buffers.create(bytes, label);
  }

  /** A 4-element f32 tensor to bind where a kernel's optional input is absent (e.g. no bias). */
  get unused(): Tensor {
    return this.scratchTensor('unused', [4]);
  }

  /** A persistent tensor shared by every caller that names it `key` (e.g. an op's scratch); made on first use. */
  scratchTensor(key: string, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    let t = this.scratch.get(key);
    if (!t) this.scratch.set(key, (t = this.persistent(shape, dtype, key)));
    if (t.size !== numel(shape) || t.dtype !== dtype) throw new ShapeError(`scratch ${key}: asked for ${dtype}[${shape.join(', ')}], holds ${t}`);
    return t;
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
    return this.buffers.alloc(shape, dtype, label);
  }

  /** Returns every arena buffer for reuse and clears the tape (its entries refer to arena tensors). */
  resetArena(): void {
    this.buffers.releaseArena(0);
    this.buffers.resetHighWater();
    this.tape.clear();
  }

  /** GPU memory the engine holds, by kind, and the arena's high-water mark since the last `resetArena` (buffers.ts). */
  memory(): MemoryReport {
    return this.buffers.memory();
  }

  /** A mark for `releaseArena`: the number of arena buffers handed out so far. */
  arenaMark(): number {
    return this.buffers.arenaMark();
  }

  /**
   * Returns the arena buffers handed out after `mark` (e.g. one micro-batch's activations once its backward is
   * recorded). Commands already recorded keep their order on the queue, so reuse is safe.
   */
  releaseArena(mark: number): void {
    this.buffers.releaseArena(mark);
  }

  // ---------------------------------------------------------------- commands

  /** Uploads `data` into `t`, in order with the recorded commands; never submits (see commands.ts). */
  write(t: Tensor, data: ArrayBufferView): void {
    this.writes.touch(t.buffer);
    this.commands.write(t, data);
  }

  /** Reads a tensor back to the host (a sync point); f16 tensors come back as their values in a Float32Array. */
  async read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    return typedAs(t, await this.commands.readLater(t)());
  }

  /**
   * Records a readback of `t` into the pending commands (so it rides the next submit) and returns its reader;
   * the reader submits only if nothing else has by then.
   */
  readLater(t: Tensor): () => Promise<Float32Array | Int32Array | Uint32Array> {
    const pending: PendingRead = this.commands.readLater(t);
    return async () => typedAs(t, await pending());
  }

  async readFloat(t: Tensor): Promise<Float32Array> {
    const data = await this.read(t);
    if (!(data instanceof Float32Array)) throw new ShapeError(`readFloat ${t}: tensor is ${t.dtype}`);
    return data;
  }

  /** Zeroes a tensor (a buffer command, not a dispatch). */
  zero(t: Tensor): void {
    this.writes.touch(t.buffer);
    this.commands.zero(t);
  }

  /** Copies `src` into `dst` (same byte length). */
  copy(src: Tensor, dst: Tensor): void {
    this.writes.touch(dst.buffer);
    this.commands.copy(src, dst);
  }

  /** Submits everything recorded so far (a sync point). */
  flush(): void {
    this.commands.flush();
  }

  /** Submits and waits for the GPU to finish. */
  async sync(): Promise<void> {
    await this.commands.sync();
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
    const bindGroup = this.binding.bindGroup(kernel, args, params, (b) => this.commands.use(b));
    if (this.writes.tracking) {
      for (const b of kernel.bindings) if (b.kind === 'storage') this.writes.touch(bufferOf(args[b.name]!));
    }
    const [x, y = 1, z = 1] = workgroups;
    const maxWg = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (![x, y, z].every((n) => Number.isInteger(n) && n >= 0 && n <= maxWg)) {
      throw new KernelBindingError(`${name}: workgroup grid [${x}, ${y}, ${z}] outside 0..${maxWg} per dimension`);
    }
    if (this.gpu.lostReason) throw new GpuError(`device lost: ${this.gpu.lostReason}`);
    const flops = dispatchFlops(name, params, [x, y, z]);
    const record: DispatchRecord = { kernel: name, layer: this.scope.layer, phase: this.scope.phase, flops };
    const { pass, own } = this.timer.pass(record);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    if (own) pass.end();
    this.timer.dispatched(record);
    this.counters.dispatches++;
    this.counters.flops += flops;
    this.dispatchLog?.push(record);
    if (this.debug >= 2) console.error(`[dispatch] ${name} [${x},${y},${z}] layer=${record.layer} ${record.phase}`);
  }

  /** The workgroup size of `name` as its WGSL declares it (override defaults applied), read by reflection. */
  workgroupSize(name: string): [number, number, number] {
    return this.kernels.kernel(name).workgroupSize;
  }

  /**
   * The (folded) grid of a one-dimensional kernel over `items` work items: one workgroup per `workgroupSize(name)[0]`
   * invocations, each taking `perInvocation` items.
   */
  grid(name: string, items: number, perInvocation = 1): [number, number] {
    return foldGrid(Math.ceil(items / (this.workgroupSize(name)[0] * perInvocation)));
  }

  // ---------------------------------------------------------------- timing

  get timestampsSupported(): boolean {
    return this.timer.timestampsSupported;
  }

  /** From now on every dispatch is timed (see `TimingMode`); `endTiming` returns the records. */
  beginTiming(mode: TimingMode = this.timestampsSupported ? 'timestamps' : 'serialized'): void {
    this.timer.begin(mode);
  }

  /** Stops timing and returns the timed dispatches in order, each with `gpuNs`. */
  endTiming(): Promise<DispatchRecord[]> {
    return this.timer.end();
  }

  // ---------------------------------------------------------------- autograd (see autograd.ts)

  get tape(): Tape {
    return this.autograd.tape;
  }

  /** Where dispatches are attributed: layer index (or null) and phase. */
  get scope(): { layer: number | null; phase: Phase } {
    return this.autograd.scope;
  }

  set scope(s: { layer: number | null; phase: Phase }) {
    this.autograd.scope = s;
  }

  /** When false, ops record nothing on the tape (evaluation, sensitivity probes). */
  get gradEnabled(): boolean {
    return this.autograd.gradEnabled;
  }

  set gradEnabled(on: boolean) {
    this.autograd.gradEnabled = on;
  }

  record(op: string, outputs: Tensor[], backward: () => void): void {
    this.autograd.record(op, outputs, backward);
  }

  gradOf(op: string, t: Tensor): { grad: Tensor; accumulate: boolean } {
    return this.autograd.gradOf(op, t);
  }

  gradIn(op: string, out: Tensor): Tensor {
    return this.autograd.gradIn(op, out);
  }

  backward(loss: Tensor, seed = 1): void {
    this.autograd.backward(loss, seed);
  }

  noGrad<T>(fn: () => T): T {
    return this.autograd.noGrad(fn);
  }

  inLayer<T>(layer: number | null, fn: () => T, phase?: Phase): T {
    return this.autograd.inLayer(layer, fn, phase);
  }

  destroy(): void {
    this.flush();
    this.gpu.destroy();
  }
}

function bufferOf(b: Bindable): GPUBuffer {
  return b instanceof Tensor ? b.buffer : b;
}

function typedAs(t: Tensor, bytes: ArrayBuffer): Float32Array | Int32Array | Uint32Array {
  if (t.dtype === 'i32') return new Int32Array(bytes);
  if (t.dtype === 'u32') return new Uint32Array(bytes);
  if (t.dtype === 'f16') return Float32Array.from(new Float16Array(bytes, 0, t.size));
  return new Float32Array(bytes);
}
