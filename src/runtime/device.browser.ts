/**
 * Acquiring a WebGPU device in a browser: the page's `navigator.gpu`. Replaces device.ts in the browser bundle.
 * No WebGPU (an old browser, the flag off, or a page served over plain http from another host) is one GpuError
 * saying what to enable.
 */
import { GpuError, NO_WEBGPU_HELP, openDevice, type Gpu, type GpuOptions } from './gpu.js';

export { GpuError, NO_WEBGPU_HELP, OPTIONAL_FEATURES } from './gpu.js';
export type { Gpu, GpuOptions, OptionalFeature } from './gpu.js';

/** Opens the browser's adapter and a device with the optional features and the adapter's buffer limits. */
export async function acquireGpu(options: GpuOptions = {}): Promise<Gpu> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new GpuError(NO_WEBGPU_HELP);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new GpuError(`navigator.gpu gave no adapter. ${NO_WEBGPU_HELP}`);
  return openDevice(adapter, options);
}
