/**
 * Acquiring a WebGPU device through Dawn's node bindings (`webgpu` package). In a browser bundle
 * device.browser.ts replaces this module (the page's `navigator.gpu`); what both share is in gpu.ts.
 *
 * Adapter choice: `SBLD_ADAPTER` (a substring of the adapter's name) and `SBLD_BACKEND` (`vulkan`, `null`, ...)
 * from the environment, or the same through `acquireGpu({ adapter, backend })`. The object returned by
 * `create()` is kept referenced for as long as any device lives: if it is garbage-collected, dawn.node aborts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { GpuError, openDevice, type Gpu, type GpuOptions } from './gpu.js';

export { GpuError, NO_WEBGPU_HELP, OPTIONAL_FEATURES } from './gpu.js';
export type { Gpu, GpuOptions, OptionalFeature } from './gpu.js';

// Module-level: keeps every `create()` result alive while its devices live.
const liveGpuFactories = new Set<unknown>();

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
  return openDevice(adapter, options, () => liveGpuFactories.delete(factory));
}
