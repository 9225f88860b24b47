/**
 * The WGSL kernels in a browser: the browser build (build/browser.mjs) resolves `sbld:kernel-sources` to a module
 * that imports every `kernels/*.wgsl` file with esbuild's text loader, so the page gets the files byte for byte
 * with no fetches. Replaces kernel-sources.ts in the browser bundle (a `.browser.ts` file next to a module
 * replaces it there).
 */
import sources from 'sbld:kernel-sources';
import type { KernelSource } from './kernels.js';

/** Under Node a folder of kernels can be named; in the browser bundle the folder is the one built in. */
export const KERNEL_DIR = 'kernels/';

/** The inlined `.wgsl` files, sorted by name; `dir` is accepted for the Node signature and must be unset. */
export function loadKernelSources(dir?: string): KernelSource[] {
  if (dir !== undefined) throw new Error(`kernelDir (${dir}) cannot be read in a browser: the kernels are built into the bundle`);
  return sources.map((s) => ({ ...s }));
}
