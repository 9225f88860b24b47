/**
 * The browser bundle without a browser: `npm run build`'s dist/sbld-webgpu.js imported under Node. Its kernels
 * are the files of kernels/ byte for byte, and every name of the browser entry is the very object that
 * src/index.ts exports (one codebase: nothing in the browser entry is a second copy).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { globals } from 'webgpu';
import { beforeAll, describe, expect, it } from 'vitest';
import * as browserEntry from '../src/browser.js';
import * as library from '../src/index.js';
import { KERNEL_DIR, loadKernelSources } from '../src/runtime/kernel-sources.js';
import { buildBrowser, DIST, LIBRARY_FILE } from '../web/build.js';

let bundle: typeof browserEntry;
let bytes = 0;

beforeAll(async () => {
  ({ bytes } = await buildBrowser());
  // The bundle reads WebGPU's constants (GPUBufferUsage, ...) as globals, as a page has them.
  Object.assign(globalThis, globals);
  bundle = (await import(pathToFileURL(join(DIST, LIBRARY_FILE)).href)) as typeof browserEntry;
});

describe('dist/sbld-webgpu.js', () => {
  it('holds every kernels/*.wgsl file byte for byte', () => {
    const built = bundle.loadKernelSources();
    const onDisk = loadKernelSources();
    expect(built.map((k) => k.file)).toEqual(onDisk.map((k) => k.file));
    for (const k of built) expect(Buffer.from(k.source, 'utf8').equals(readFileSync(join(KERNEL_DIR, k.file))), k.file).toBe(true);
    expect(onDisk.length).toBeGreaterThan(10);
  });

  it('exports what src/browser.ts exports, and imports nothing', () => {
    expect(Object.keys(bundle).sort()).toEqual(Object.keys(browserEntry).sort());
    const code = readFileSync(join(DIST, LIBRARY_FILE), 'utf8');
    expect(code).not.toMatch(/\bimport\s*\(|\bfrom\s*["']|\brequire\(/);
    expect(bytes).toBe(Buffer.byteLength(code));
  });

  it('refuses what needs files: kernelDir and loadCorpus say what to do instead', () => {
    expect(() => bundle.loadKernelSources('/tmp')).toThrow(/built into the bundle/);
  });

  it("bundles GPT's session with its checkpoint folders refused, saying what a page does instead", async () => {
    const session = Object.create(bundle.TrainingSession.prototype) as { modelConfig: unknown; saveCheckpoint(dir: string, parts: unknown): Promise<void> };
    session.modelConfig = {};
    await expect(session.saveCheckpoint('run/checkpoint', {})).rejects.toThrow(/need a file system .* gpt2ModelFiles/);
  });
});

describe('src/browser.ts', () => {
  it('is a subset of src/index.ts: every name the same object', () => {
    const lib = library as Record<string, unknown>;
    const entries = Object.entries(browserEntry);
    for (const [name, value] of entries) expect(lib[name], name).toBe(value);
    expect(entries.length).toBeGreaterThan(100);
  });
});
