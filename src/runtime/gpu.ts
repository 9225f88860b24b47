/**
 * The device the engine runs on, whatever opened the adapter: Dawn under Node (device.ts) or the browser's
 * `navigator.gpu` (device.browser.ts). Both hand their adapter to `openDevice`, which asks for the optional
 * features the engine uses and the adapter's buffer limits, and watches for device loss.
 */

/** Optional features the engine uses when the adapter has them. */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

export interface GpuOptions {
  /** Substring of the adapter name to pick (Dawn's `adapter=` flag; Node only). Default: env `SBLD_ADAPTER`. */
  adapter?: string;
  /** Dawn backend (`vulkan`, `metal`, `d3d12`, `null`, ...; Node only). Default: env `SBLD_BACKEND`. */
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

export class GpuError extends Error {
  override name = 'GpuError';
}

/** What a person has to do when the page finds no WebGPU. */
export const NO_WEBGPU_HELP =
  'This browser has no WebGPU. Use Chrome or Edge 113+ (or Chromium with --enable-unsafe-webgpu), Firefox 141+ ' +
  'on Windows, or Safari 26+; on Linux enable chrome://flags/#enable-unsafe-webgpu (and #enable-vulkan). ' +
  'WebGPU also needs a secure context: https, or http://localhost.';

/** Opens a device on `adapter` with the optional features it has and its buffer limits; `release` runs on destroy. */
export async function openDevice(adapter: GPUAdapter, options: GpuOptions, release: () => void = () => {}): Promise<Gpu> {
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
    adapterName: [adapterInfo.description || adapterInfo.device || adapterInfo.architecture, adapterInfo.vendor].filter(Boolean).join(' / ') || 'unknown adapter',
    features,
    limits: device.limits,
    lostReason: null,
    destroy() {
      device.destroy();
      release();
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
