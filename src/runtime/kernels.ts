/**
 * Kernel registry: every `kernels/*.wgsl` file is parsed with wgsl_reflect; each `@compute` entry point becomes
 * a kernel named after the entry point. Its bind-group layout is built from the storage and uniform variables
 * that entry point uses (never `'auto'`), its uniform `params` struct layout is taken from the reflected member
 * offsets, and its `override` constants are the tuning knobs. Pipelines are compiled with
 * `createComputePipelineAsync` and cached per (kernel, overrides).
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { DType } from './tensor.js';
import { debugLevel } from '../util/env.js';

/**
 * One WGSL file as the registry takes it: its file name and its text, byte for byte. Where the text comes from
 * is the platform's business (kernel-sources.ts reads `kernels/` under Node; kernel-sources.browser.ts has the
 * same files inlined by the browser build), so this module needs no file system.
 */
export interface KernelSource {
  file: string;
  source: string;
}

export interface KernelBinding {
  name: string;
  binding: number;
  kind: 'read-only-storage' | 'storage' | 'uniform';
  /** Element type of a storage array (`f32`, `i32`, `u32`, `vec4<f32>` ...), used to check tensor dtypes. */
  elementType: string;
}

export interface ParamMember {
  name: string;
  offset: number;
  type: 'u32' | 'i32' | 'f32';
}

export interface ParamsLayout {
  binding: number;
  size: number;
  members: ParamMember[];
}

export interface KernelInfo {
  name: string;
  file: string;
  /** Storage (and non-`params` uniform) buffers bound by name. */
  bindings: KernelBinding[];
  /** The uniform `params` struct, written from a plain object of numbers. */
  params: ParamsLayout | null;
  overrides: { name: string; type: string }[];
  /** Workgroup size with the override defaults. */
  workgroupSize: [number, number, number];
  layout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
  module: GPUShaderModule;
  /** Small integer, unique per kernel, for cache keys. */
  id: number;
}

export class KernelCompileError extends Error {
  override name = 'KernelCompileError';
}

export class KernelBindingError extends Error {
  override name = 'KernelBindingError';
}

/** The dtype a tensor must have to bind to a storage array of `elementType`. */
export function dtypeForElement(elementType: string): DType | null {
  if (elementType === 'f32' || /^vec[24](<f32|f$)/.test(elementType)) return 'f32';
  if (elementType === 'i32' || elementType.startsWith('vec4<i32')) return 'i32';
  if (elementType === 'u32' || elementType.startsWith('vec4<u32') || elementType.startsWith('atomic<u32')) return 'u32';
  if (elementType === 'f16' || /^vec[24](<f16|h$)/.test(elementType)) return 'f16';
  return null;
}

export type Overrides = Record<string, number | boolean>;

/** One pipeline of a kernel: its name and override constants. */
export interface KernelVariant {
  name: string;
  overrides: Overrides;
}

/** WebGPU feature that provides each WGSL `enable` extension. */
const FEATURE_OF_EXTENSION: Record<string, string> = { f16: 'shader-f16', subgroups: 'subgroups' };

/** Extensions named by the source's `enable` directives. */
export function enabledExtensions(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*enable\s+([^;]+);/gm)) out.push(...m[1]!.split(',').map((x) => x.trim()).filter(Boolean));
  return out;
}

/** The line by which a file declares its operand type, and so has an f16 twin (see `f16Twin`). */
const OPERAND_ALIAS = /^alias Operand = f32;$/m;

/**
 * The f16 twin of a source that declares `alias Operand = f32;` (the matmul kernels, LayerNorm, and the kernels
 * that store an f16 copy of what they write: GELU's and the residual add's backward, attention, AdamW), else null:
 * the same text with `enable f16;`, the alias set to f16, `to_operand` made f16's and `load4` / `store4` reading
 * and writing packed halves (both below), and every entry point renamed NAME_f16. The twin's kernels read
 * Operand-typed bindings as f16 and convert each loaded value to f32 (the source writes `f32(a[i])` or
 * `load4(a[i])`, the identity in the f32 original), and convert what they store with `to_operand` or `store4`,
 * so the two cannot drift apart. Like any file that enables f16, the twin is skipped on a device
 * without `shader-f16`.
 */
export function f16Twin(file: string, source: string): KernelSource | null {
  if (!OPERAND_ALIAS.test(source)) return null;
  const renamed = source
    .replace(/(@compute[^\n]*\n\s*fn\s+)(\w+)\(/g, '$1$2_f16(')
    .replace(OPERAND_ALIAS, 'alias Operand = f16;')
    .replace(TO_OPERAND, TO_HALF_OPERAND)
    .replace(OPERAND4, PACKED_HALF_OPERAND4);
  return { file: file.replace(/\.wgsl$/, '.f16.wgsl'), source: `enable f16;\n${renamed}` };
}

/**
 * A file that stores Operand values (a LayerNorm or a GELU epilogue writing the next matmul's input) converts
 * with this function, the identity in f32. In the twin it becomes the rule of kernels/cast.wgsl: a value past
 * f16's range or not finite is stored as an infinity of its sign, never clamped (WGSL leaves that conversion to
 * the implementation), so an overflow reaches the loss scaler.
 */
const TO_OPERAND = /^fn to_operand\(v: f32\) -> Operand \{ return Operand\(v\); \}$/m;
const TO_HALF_OPERAND = `fn to_operand(v: f32) -> Operand {
  let nonfinite = (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
  if (nonfinite || abs(v) > 65504.0) { return bitcast<vec2<f16>>(select(0x7c00u, 0xfc00u, v < 0.0)).x; }
  return f16(v);
}`;

/**
 * A file that reads or writes its operands four at a time declares how (`Operand4`, `load4`, `store4`;
 * kernels/matmul_subgroup.wgsl). The twin stores four f16 as two u32 and unpacks or packs them: the same values
 * as reading or writing vec4<f16>, in half the 32-bit loads and stores, which is what a CPU adapter pays for
 * (see that file).
 */
const OPERAND4 = /^alias Operand4 = vec4<f32>;\nfn load4\(x: Operand4\) -> vec4<f32> \{ return x; \}\nfn store4\(v: vec4<f32>\) -> Operand4 \{ return v; \}$/m;
const PACKED_HALF_OPERAND4 = `alias Operand4 = vec2<u32>;
fn load4(x: Operand4) -> vec4<f32> { return vec4(unpack2x16float(x.x), unpack2x16float(x.y)); }
fn store4(v: vec4<f32>) -> Operand4 {
  return vec2(bitcast<u32>(vec2(to_operand(v.x), to_operand(v.y))), bitcast<u32>(vec2(to_operand(v.z), to_operand(v.w))));
}`;

/** The element type recorded for a binding of packed halves, so that only an f16 tensor binds to it. */
const PACKED_HALVES = 'vec4<f16> packed in vec2<u32>';

/** Names of the storage arrays that hold packed halves (a twin's `array<Operand4>`). */
function packedHalfBindings(source: string): Set<string> {
  if (!source.includes(PACKED_HALF_OPERAND4)) return new Set();
  return new Set([...source.matchAll(/var<storage,\s*read(?:_write)?>\s+(\w+)\s*:\s*array<Operand4>/g)].map((m) => m[1]!));
}

export class KernelRegistry {
  private readonly kernels = new Map<string, KernelInfo>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pending = new Map<string, Promise<GPUComputePipeline>>();
  /** Pipelines compiled synchronously because nobody prepared them; `DEBUG` reports these. */
  lateCompiles = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Files skipped because they `enable` a WGSL extension the device lacks (ops fall back to other kernels). */
  readonly skipped: { file: string; missing: string[] }[] = [];

  /**
   * Loads the given WGSL files (`loadKernelSources()` of ./kernel-sources.js: the package's `kernels/`). A file that
   * `enable`s an extension the device does not have (e.g. `subgroups`, `f16`) is skipped and listed in `skipped`;
   * ops check `has()` and fall back. Files with an f16 twin (`f16Twin`) load it too.
   */
  static async load(device: GPUDevice, sources: readonly KernelSource[]): Promise<KernelRegistry> {
    const registry = new KernelRegistry(device);
    const withTwins = sources.flatMap((s) => {
      const twin = f16Twin(s.file, s.source);
      return twin ? [s, twin] : [s];
    });
    const usable = withTwins.filter(({ file, source }) => {
      const missing = enabledExtensions(source).filter((ext) => !device.features.has(FEATURE_OF_EXTENSION[ext] ?? ext));
      if (missing.length) registry.skipped.push({ file, missing });
      return missing.length === 0;
    });
    await Promise.all(usable.map(({ file, source }) => registry.addSource(file, source)));
    return registry;
  }

  /** Whether a kernel of this name was loaded. */
  has(name: string): boolean {
    return this.kernels.has(name);
  }

  /** Adds the kernels of one WGSL source; throws `KernelCompileError` naming file, line and column. */
  async addSource(file: string, source: string): Promise<KernelInfo[]> {
    // The error scope keeps a compile error out of the device's uncaptured-error log: it is thrown below instead.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: source, label: file });
    void this.device.popErrorScope();
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) {
      const lines = source.split('\n');
      const text = errors
        .map((m) => `${file}:${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`)
        .join('\n');
      throw new KernelCompileError(`WGSL compile error in ${file}\n${text}`);
    }
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(source);
    } catch (err) {
      throw new KernelCompileError(`wgsl_reflect could not parse ${file}: ${(err as Error).message}`);
    }
    const added: KernelInfo[] = [];
    const packedHalves = packedHalfBindings(source);
    for (const entry of reflect.entry.compute) {
      if (this.kernels.has(entry.name)) {
        throw new KernelCompileError(`kernel ${entry.name} in ${file} is also defined in ${this.kernels.get(entry.name)!.file}`);
      }
      const bindings: KernelBinding[] = [];
      let params: ParamsLayout | null = null;
      for (const v of entry.resources) {
        if (v.group !== 0) throw new KernelCompileError(`${file}:${entry.name}: ${v.name} uses group ${v.group}; only group 0 is supported`);
        if (v.resourceType === 0 /* Uniform */ && v.name === 'params') {
          const members = (v.members ?? []).map((m) => {
            const type = m.type.name;
            if (type !== 'u32' && type !== 'i32' && type !== 'f32') {
              throw new KernelCompileError(`${file}:${entry.name}: params.${m.name} has type ${type}; params members must be u32, i32 or f32`);
            }
            return { name: m.name, offset: m.offset, type } as ParamMember;
          });
          params = { binding: v.binding, size: Math.max(16, Math.ceil(v.size / 16) * 16), members };
        } else if (v.resourceType === 0 || v.resourceType === 1) {
          const kind = v.resourceType === 0 ? 'uniform' : v.access === 'read' ? 'read-only-storage' : 'storage';
          const reflected = v.type.name === 'array' ? (v.format?.getTypeName() ?? '') : v.type.getTypeName();
          const elementType = packedHalves.has(v.name) ? PACKED_HALVES : reflected;
          bindings.push({ name: v.name, binding: v.binding, kind, elementType });
        } else {
          throw new KernelCompileError(`${file}:${entry.name}: ${v.name} is a texture or sampler; compute kernels here use buffers only`);
        }
      }
      const entries: GPUBindGroupLayoutEntry[] = bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.kind },
      }));
      if (params) entries.push({ binding: params.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
      const layout = this.device.createBindGroupLayout({ entries, label: entry.name });
      const wg = entry.workgroupSize ?? [1, 1, 1];
      const kernel: KernelInfo = {
        name: entry.name,
        file,
        bindings: bindings.sort((a, b) => a.binding - b.binding),
        params,
        overrides: reflect.overrides.map((o) => ({ name: o.name, type: o.type?.name ?? "unknown" })),
        workgroupSize: [wg[0] ?? 1, wg[1] ?? 1, wg[2] ?? 1],
        layout,
        pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: entry.name }),
        module,
        id: this.kernels.size + 1,
      };
      this.kernels.set(entry.name, kernel);
      added.push(kernel);
    }
    return added;
  }

  /** The kernel named `name`; throws listing the known kernels. */
  kernel(name: string): KernelInfo {
    const k = this.kernels.get(name);
    if (!k) throw new KernelBindingError(`unknown kernel ${name}; known kernels: ${[...this.kernels.keys()].sort().join(', ')}`);
    return k;
  }

  names(): string[] {
    return [...this.kernels.keys()].sort();
  }

  private key(name: string, overrides: Overrides): string {
    const keys = Object.keys(overrides).sort();
    return keys.length ? `${name}|${keys.map((k) => `${k}=${Number(overrides[k])}`).join(',')}` : name;
  }

  private descriptor(kernel: KernelInfo, overrides: Overrides): GPUComputePipelineDescriptor {
    const known = new Set(kernel.overrides.map((o) => o.name));
    const unknown = Object.keys(overrides).filter((k) => !known.has(k));
    if (unknown.length) {
      throw new KernelBindingError(`${kernel.name}: unknown override(s) ${unknown.join(', ')}; it declares ${[...known].join(', ') || 'none'}`);
    }
    const constants: Record<string, number> = {};
    for (const [k, v] of Object.entries(overrides)) constants[k] = Number(v);
    return {
      layout: kernel.pipelineLayout,
      compute: { module: kernel.module, entryPoint: kernel.name, constants },
      label: this.key(kernel.name, overrides),
    };
  }

  /** Compiles (once) the pipeline for `name` with `overrides`, asynchronously. */
  prepare(name: string, overrides: Overrides = {}): Promise<GPUComputePipeline> {
    const key = this.key(name, overrides);
    const done = this.pipelines.get(key);
    if (done) return Promise.resolve(done);
    let p = this.pending.get(key);
    if (!p) {
      const kernel = this.kernel(name);
      p = this.device.createComputePipelineAsync(this.descriptor(kernel, overrides)).then(
        (pipeline) => {
          this.pipelines.set(key, pipeline);
          this.pending.delete(key);
          return pipeline;
        },
        (err: Error) => {
          this.pending.delete(key);
          throw new KernelCompileError(`${kernel.file}:${name}: pipeline creation failed: ${err.message}`);
        },
      );
      this.pending.set(key, p);
    }
    return p;
  }

  /** Compiles every kernel with its default overrides. */
  async prepareAll(): Promise<void> {
    await Promise.all(this.names().map((n) => this.prepare(n)));
  }

  /** Compiles the given variants (those a model will dispatch) with the async pipeline cache. */
  async prepareVariants(variants: readonly KernelVariant[]): Promise<void> {
    await Promise.all(variants.map((v) => this.prepare(v.name, v.overrides)));
  }

  /** The pipeline, compiled synchronously if nobody prepared it (counted in `lateCompiles`). */
  pipeline(name: string, overrides: Overrides = {}): GPUComputePipeline {
    const key = this.key(name, overrides);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline(this.descriptor(this.kernel(name), overrides));
      this.pipelines.set(key, p);
      this.lateCompiles++;
      if (debugLevel() > 0) console.error(`[kernels] late compile of ${key}`);
    }
    return p;
  }
}
