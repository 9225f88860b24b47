/**
 * Binding a dispatch's arguments: checks the given buffers and params against what the kernel declares (names,
 * dtypes, alignment, size limits, no written buffer bound twice over itself) and caches what it creates. Bind
 * groups are keyed by the exact buffer ranges, so a step that reuses the arena's buffers hits the cache;
 * uniform buffers are content-addressed, one per distinct params value, written once at creation.
 */
import type { Buffers } from './buffers.js';
import type { Gpu } from './device.js';
import { dtypeForElement, KernelBindingError, type KernelInfo } from './kernels.js';
import { fmtShape, ShapeError, Tensor } from './tensor.js';

export type Bindable = Tensor | GPUBuffer;


export class BindingCache {
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly groups = new Map<string, GPUBindGroup>();

  constructor(
    private readonly gpu: Gpu,
    private readonly buffers: Buffers,
    private readonly counters: { bindGroupsCreated: number },
  ) {}

  /** The bind group for `args` and `params`; `use` is told every buffer it binds. */
  bindGroup(kernel: KernelInfo, args: Record<string, Bindable>, params: Record<string, number> | null, use: (b: GPUBuffer) => void): GPUBindGroup {
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
    const entries: GPUBindGroupEntry[] = [];
    const bound: { name: string; kind: string; buffer: GPUBuffer; offset: number; size: number }[] = [];
    let key = `${kernel.id}`;
    for (const b of kernel.bindings) {
      const resource = this.resource(kernel, b.name, b.elementType, args[b.name]!);
      const offset = resource.offset ?? 0;
      const size = resource.size ?? resource.buffer.size;
      for (const prev of bound) {
        if (prev.buffer !== resource.buffer || (prev.kind !== 'storage' && b.kind !== 'storage')) continue;
        if (prev.offset < offset + size && offset < prev.offset + prev.size) {
          throw new KernelBindingError(`${kernel.name}: ${prev.name} and ${b.name} overlap in one buffer and one is written; pass distinct tensors`);
        }
      }
      bound.push({ name: b.name, kind: b.kind, buffer: resource.buffer, offset, size });
      entries.push({ binding: b.binding, resource });
      use(resource.buffer);
      key += `|${this.buffers.id(resource.buffer)}:${offset}:${resource.size ?? -1}`;
    }
    if (kernel.params) {
      const uniform = this.uniform(kernel, params ?? {});
      entries.push({ binding: kernel.params.binding, resource: { buffer: uniform } });
      key += `|u${this.buffers.id(uniform)}`;
    } else if (params && Object.keys(params).length) {
      throw new KernelBindingError(`${kernel.name}: has no params struct, given {${Object.keys(params).join(', ')}}`);
    }
    let group = this.groups.get(key);
    if (!group) {
      group = this.gpu.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.name });
      this.groups.set(key, group);
      this.counters.bindGroupsCreated++;
    }
    return group;
  }

  /** The buffer range for one binding, checked against the kernel's element type and the device's limits. */
  private resource(kernel: KernelInfo, name: string, elementType: string, arg: Bindable): GPUBufferBinding {
    if (!(arg instanceof Tensor)) return { buffer: arg };
    const { maxStorageBufferBindingSize: limit, minStorageBufferOffsetAlignment: align } = this.gpu.limits;
    const want = dtypeForElement(elementType);
    if (want && want !== arg.dtype) {
      throw new ShapeError(`${kernel.name}: ${name} is ${arg} but the kernel reads ${elementType} (dtype ${want})`);
    }
    if (arg.byteOffset % align !== 0) {
      throw new KernelBindingError(`${kernel.name}: ${name} starts at byte ${arg.byteOffset}, not a multiple of ${align}`);
    }
    if (arg.byteLength > limit) {
      throw new KernelBindingError(
        `${kernel.name}: ${name} ${fmtShape(arg.shape)} is ${arg.byteLength} bytes, over the device's maxStorageBufferBindingSize ${limit}; use a smaller batch or model`,
      );
    }
    if (arg.byteOffset + arg.byteLength > arg.buffer.size) {
      throw new KernelBindingError(`${kernel.name}: ${name} ${arg} extends past the end of its ${arg.buffer.size}-byte buffer`);
    }
    // Bind the 16-byte padded extent (every buffer is allocated padded), so vec4 kernels can read the tail.
    const size = Math.min(arg.buffer.size - arg.byteOffset, Math.max(16, Math.ceil(arg.byteLength / 16) * 16));
    return { buffer: arg.buffer, offset: arg.byteOffset, size };
  }

  /** The uniform buffer holding `params` laid out as the kernel's `params` struct. */
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
    const bytes = new Uint8Array(layout.size);
    const view = new DataView(bytes.buffer);
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
    const key = bytes.join(',');
    let buffer = this.uniforms.get(key);
    if (!buffer) {
      buffer = this.buffers.uniform(bytes);
      this.uniforms.set(key, buffer);
    }
    return buffer;
  }
}
