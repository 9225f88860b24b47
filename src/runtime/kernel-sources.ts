/**
 * The WGSL kernels under Node: every `.wgsl` file of the package's `kernels/` folder (or another folder), read
 * from disk in name order. The browser build replaces this module with kernel-sources.browser.ts, which has the
 * same files inlined at build time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KernelSource } from './kernels.js';

/** Directory of the WGSL sources shipped with the package. */
export const KERNEL_DIR = fileURLToPath(new URL('../../kernels/', import.meta.url));

/** The `.wgsl` files of `dir` (default: the package's `kernels/`), sorted by name. */
export function loadKernelSources(dir: string = KERNEL_DIR): KernelSource[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();
  return files.map((file) => ({ file, source: readFileSync(join(dir, file), 'utf8') }));
}
