/**
 * Acquiring a WebGPU device through Dawn's node bindings (`webgpu` package).
 *
 * Adapter choice: `SBLD_ADAPTER` (a substring of the adapter's name) and `SBLD_BACKEND` (`vulkan`, `null`, ...)
 * from the environment, or the same through `acquireGpu({ adapter, backend })`. The object returned by
 * `create()` is kept referenced for as long as any device lives: if it is garbage-collected, dawn.node aborts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, globals } from 'webgpu';

/** Optional features the engine uses when the adapter has them. */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

export interface GpuOptions {
  /** Substring of the adapter name to pick (Dawn's `adapter=` flag). Default: env `SBLD_ADAPTER`. */
  adapter?: string;
  /** Dawn backend (`vulkan`, `metal`, `d3d12`, `null`, ...). Default: env `SBLD_BACKEND`. */
  backend?: string;
  powerPreference?: GPUPowerPreference;
  /** Features to leave off even when present (tests use this to exercise fallbacks). */
  disableFeatures?: OptionalFeature[];
}

export interface Gpu {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  /** Human-readable adapter name for logs. */
  adapterName: string;
  features: Set<OptionalFeature>;
  limits: GPUSupportedLimits;
  /** Set once the device is lost; further work throws with this reason. */
  lostReason: string | null;
  destroy(): void;
}

// Module-level: keeps every `create()` result alive while its devices live.
const liveGpuFactories = new Set<unknown>();

export class GpuError extends Error {
  override name = 'GpuError';
}

/** Opens an adapter and a device with the optional features and the adapter's buffer limits. */
export async function acquireGpu(options: GpuOptions = {}): Promise<Gpu> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'sbld-xdg-'));
  Object.assign(globalThis, globals);
  const adapterWanted = options.adapter ?? process.env.SBLD_ADAPTER;
  const backend = options.backend ?? process.env.SBLD_BACKEND;
  // Dawn rounds timestamps (a browser's defence against timing attacks); on an H100 that read the shortest
  // dispatches as 0 ns. The profiler wants real times, and here no untrusted code runs.
  const flags: string[] = [];
  if (adapterWanted) flags.push(`adapter=${adapterWanted}`);
  if (backend) flags.push(`backend=${backend}`);
  const factory = create([...flags, 'disable-dawn-features=timestamp_quantization']);
  liveGpuFactories.add(factory);

  const adapter = await factory.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    liveGpuFactories.delete(factory);
    throw new GpuError(
      `No WebGPU adapter found${flags.length ? ` for ${flags.join(' ')}` : ''}. ` +
        'Run `node src/setup/bootstrap.mjs` to install a software Vulkan driver, or unset SBLD_ADAPTER / SBLD_BACKEND.',
    );
  }
  const disabled = new Set(options.disableFeatures ?? []);
  const features = new Set(OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f)));
  const a = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: [...features] as GPUFeatureName[],
    requiredLimits: {
      maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
      maxBufferSize: a.maxBufferSize,
      maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    },
  });
  const info = adapter.info;
  const adapterInfo = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  };
  const gpu: Gpu = {
    device,
    adapterInfo,
    adapterName: [adapterInfo.description || adapterInfo.device, adapterInfo.vendor].filter(Boolean).join(' / ') || 'unknown adapter',
    features,
    limits: device.limits,
    lostReason: null,
    destroy() {
      device.destroy();
      liveGpuFactories.delete(factory);
    },
  };
  device.lost.then((lost) => {
    gpu.lostReason = `${lost.reason}: ${lost.message}`;
    if (lost.reason !== 'destroyed') console.error(`WebGPU device lost (${lost.reason}): ${lost.message}`);
  });
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    console.error(`WebGPU error: ${ev.error.message}`);
  };
  return gpu;
}
