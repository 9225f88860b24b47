/**
 * The page in a real browser: headless Chromium (web/chromium.ts) loads the demo page, which trains the tiny
 * GPT on the built-in Brown slice with SBLD for a few steps, started from the URL. The same steps run here under
 * Node (Dawn on lavapipe) through the same module (web/app/run.ts) on the same documents and config, and:
 *   - the layer plans of every step are identical (the draws are seeded; the sensitivities agree closely enough
 *     that no keep probability crosses a draw);
 *   - the per-step losses agree within LOSS_TOLERANCE (see there);
 *   - the page ends with status `done`, logged no console error and threw no page error;
 *   - a screenshot of the charts is not blank.
 * A second test drives the form in one page: every policy trains to `done`; a step's kernel profile shows
 * skipped layers; the downloaded model.safetensors and config.json are byte for byte what the CLI's checkpoint
 * writer produces for the same weights; text too short for a window is refused with the minimum size; a lost
 * device stops the run with a message and leaves the last snapshot downloadable; and a browser without WebGPU
 * gets the message saying what to enable.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusFromDocuments, decodeSafetensors, Engine, gpt2TensorSpecs, modelConfigOf, TrainingSession } from '../src/browser.js';
import { optimizerTensorSpecs, saveCheckpoint } from '../src/tasks/gpt/checkpoint.js';
import { LiveRun, pageConfig, type PageSettings } from '../web/app/run.js';
import { brownSlice } from '../web/brown-slice.js';
import { buildBrowser } from '../web/build.js';
import { launchChromium } from '../web/chromium.js';
import { serve } from '../web/serve.js';

const STEPS = 8;
const SETTINGS: PageSettings = { preset: 'tiny', steps: STEPS, lr: 3e-3, seed: 7, evalEvery: 4, drop: { policy: 'sbld' } };
/**
 * Both runs execute the same WGSL with the same kernel choices (Chromium's SwiftShader adapter has subgroups of
 * 4 lanes, below the 8 the subgroup kernels need, so the Node run turns subgroups off to match; both adapters
 * are CPU adapters, so the CPU choices apply on both), in f32, on the same batches and layer plans. Measured on
 * the development machine (Chromium 156 SwiftShader vs Mesa 25 lavapipe): the losses are bit-identical. What
 * could still differ elsewhere is the shader compiler: contracting a*b+c into an FMA or not, and its exp, log
 * and tanh, each worth an ulp or so of f32 per operation. The tolerance allows ~20 ulps of a loss near 5.5
 * (an ulp there is 4.8e-7); the loss changes by at least 2e-3 between any two of these steps, and a different
 * seed moves step 0 by 4e-3, so a wrong kernel, a skipped layer or another batch would be far outside it.
 */
const LOSS_TOLERANCE = 1e-5;

interface PageResult {
  status: string;
  losses: number[];
  layers: string[];
  valLosses: [number, number][];
  adapter: string;
  features: string[];
  consoleErrors: string[];
  chartPixels: { inked: number; total: number };
}

let server: Server;
let url: string;

beforeAll(async () => {
  await buildBrowser();
  ({ server, url } = await serve());
});

afterAll(() => {
  server?.close();
});

async function runPage(): Promise<PageResult> {
  const { browser, close } = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`page error: ${(e as Error).message}`));
    const q = new URLSearchParams({ autostart: '1', task: 'gpt', preset: SETTINGS.preset, steps: String(STEPS), seed: String(SETTINGS.seed), drop: 'sbld', lr: String(SETTINGS.lr), 'eval-every': String(SETTINGS.evalEvery), 'sample-every': '0' });
    await page.goto(`${url}?${q}`);
    // Page-side code is given as strings: this file is type-checked for Node, without the DOM's types.
    await page.waitForFunction(`/^(done|stopped|error)/.test(document.getElementById('status').textContent)`, { timeout: 90_000 });
    // Let the last animation frame draw the charts.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const status = await page.$eval('#status', (el) => el.textContent ?? '');
    const exposed = (await page.evaluate('globalThis.sbld')) as Omit<PageResult, 'status' | 'consoleErrors' | 'chartPixels'>;
    // The screenshot, decoded by the browser itself: pixels that differ from the white background.
    const shot = await (await page.$('#charts'))!.screenshot({ encoding: 'base64' });
    const chartPixels = (await page.evaluate(`(async () => {
      const img = new Image();
      img.src = 'data:image/png;base64,${shot as string}';
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) inked++;
      return { inked, total: d.length / 4 };
    })()`)) as { inked: number; total: number };
    return { status, consoleErrors, chartPixels, ...exposed };
  } finally {
    await close();
  }
}

async function runNode(): Promise<{ losses: number[]; layers: string[] }> {
  const e = await Engine.create({ disableFeatures: ['subgroups'] });
  try {
    const cfg = pageConfig(SETTINGS);
    const corpus = corpusFromDocuments(brownSlice(), cfg.seqLen, 'brown-slice', 'Brown corpus slice');
    const layers: string[] = [];
    const run = new LiveRun(new TrainingSession(e, cfg, corpus), { onStep: (r) => layers.push(r.layers.join(' ')) });
    await run.run();
    return { losses: run.losses, layers };
  } finally {
    e.destroy();
  }
}

describe('the demo page in headless Chromium', () => {
  it('trains the tiny GPT with SBLD as Node does, shows done, no console error, charts drawn', async () => {
    const page = await runPage();
    expect(page.consoleErrors).toEqual([]);
    expect(page.status).toBe('done');
    expect(page.losses).toHaveLength(STEPS);
    const node = await runNode();
    expect(page.layers).toEqual(node.layers);
    const diffs = page.losses.map((l, i) => Math.abs(l - node.losses[i]!));
    console.log(`browser: ${page.adapter} [${page.features.join(', ')}]; max |loss(page) - loss(node)| over ${STEPS} steps: ${Math.max(...diffs).toExponential(2)}`);
    for (let i = 0; i < STEPS; i++) expect(diffs[i], `step ${i}: page ${page.losses[i]} vs node ${node.losses[i]}`).toBeLessThanOrEqual(LOSS_TOLERANCE);
    // Something was dropped (SBLD after its warm-up), so the strip and keep bars show real decisions.
    expect(page.layers.some((l) => l.includes('0'))).toBe(true);
    expect(page.valLosses.length).toBeGreaterThan(0);
    // Six charts of lines, bars and text: well over 2% of the area is ink (an empty panel set is ~1%: borders, titles).
    expect(page.chartPixels.inked / page.chartPixels.total).toBeGreaterThan(0.02);
  });
});

const status = (page: Page) => page.$eval('#status', (el) => el.textContent ?? '');
const finished = (page: Page, timeout = 90_000) =>
  page.waitForFunction(`/^(done|stopped|error)/.test(document.getElementById('status').textContent)`, { timeout });

/** Sets form fields by id (inputs and selects) and fires their change events. */
async function setForm(page: Page, values: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(values)) {
    await page.$eval(`#${id}`, (el, v) => {
      (el as unknown as { value: string }).value = v as string;
      el.dispatchEvent(new Event('input'));
      el.dispatchEvent(new Event('change'));
    }, value);
  }
}

describe('the demo page, driven through its form', () => {
  it('trains with every policy, profiles a step, downloads the CLI layout, refuses bad input, survives device loss', async () => {
    const { browser, close } = await launchChromium();
    const downloads = mkdtempSync(join(tmpdir(), 'sbld-downloads-'));
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(`page error: ${(e as Error).message}`));
      await page.goto(url);
      expect(await status(page)).toBe('idle');

      // Every policy (one engine for the page: only the first run compiles pipelines).
      for (const drop of ['none', 'layerdrop', 'pld', 'sbld']) {
        await setForm(page, { preset: 'tiny', steps: '6', 'eval-every': '3', 'sample-every': '0', drop });
        await page.click('#start');
        await finished(page);
        expect(`${drop}: ${await status(page)}`).toBe(`${drop}: done`);
        expect(await page.$eval('#step', (el) => el.textContent)).toBe('6');
      }
      expect(errors).toEqual([]);

      // The profile of one step, taken while SBLD drops layers (pld at theta-bar 0.5 drops from the start).
      await setForm(page, { steps: '400', drop: 'pld', 'drop-theta-bar': '0.5', 'drop-gamma-t': '1000' });
      await page.click('#start');
      await page.waitForFunction(`Number(document.getElementById('step').textContent) >= 3`, { timeout: 60_000 });
      await page.click('#profile');
      await page.waitForFunction(`document.querySelector('#profile-out table') !== null`, { timeout: 60_000 });
      const profile = await page.$eval('#profile-out', (el) => el.textContent ?? '');
      expect(profile).toMatch(/GPU time from timestamp queries/);
      expect(profile).toMatch(/forward/);
      await page.click('#stop');
      await finished(page);
      expect(await status(page)).toBe('stopped');

      // Downloads: the same bytes as the CLI's checkpoint writer for these weights.
      const cdp = await page.createCDPSession();
      await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
      await page.click('#download-model');
      await page.click('#download-config');
      // A download is done when its file is there, Chromium's partial file is gone, and two reads 100 ms apart
      // agree: reading as soon as the name appears can catch it half written.
      const read = async (name: string) => {
        let last: Buffer | null = null;
        for (let i = 0; i < 100; i++) {
          await new Promise((r) => setTimeout(r, 100));
          if (!existsSync(join(downloads, name)) || existsSync(join(downloads, `${name}.crdownload`))) continue;
          const bytes = readFileSync(join(downloads, name));
          if (last && bytes.length > 0 && bytes.equals(last)) return bytes;
          last = bytes;
        }
        throw new Error(`${name} was not downloaded`);
      };
      const model = await read('model.safetensors');
      const config = await read('config.json');
      const modelConfig = modelConfigOf(pageConfig({ ...SETTINGS, drop: { policy: 'pld' } }));
      const params: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(decodeSafetensors(model).tensors)) params[name] = t.data as Float32Array;
      expect(Object.keys(params).sort()).toEqual(gpt2TensorSpecs(modelConfig).map((s) => s.name).sort());
      const cli = join(downloads, 'cli');
      const optimizer = Object.fromEntries(optimizerTensorSpecs(modelConfig).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]));
      await saveCheckpoint(cli, { modelConfig, params, optimizer, trainerState: {} });
      expect(model.equals(readFileSync(join(cli, 'model.safetensors')))).toBe(true);
      expect(config.toString('utf8')).toBe(readFileSync(join(cli, 'config.json'), 'utf8')); // a mismatch shows the diff

      // Pasted text too short for one window: refused, with the minimum size.
      await setForm(page, { task: 'gpt-text', text: 'far too short', steps: '6' });
      await page.click('#start');
      await finished(page);
      expect(await page.$eval('#message', (el) => el.textContent)).toMatch(/13 bytes; preset tiny .* needs at least 660 bytes/);

      // A device lost mid-run: the run stops with a message, the snapshot of step 4 stays downloadable.
      await page.goto(`${url}?autostart=1&preset=tiny&steps=12&eval-every=4&sample-every=0&drop=sbld&lose-device-at=6`);
      await finished(page);
      expect(await status(page)).toMatch(/^error: the GPU device was lost .*model as of step 4 is still downloadable/);
      expect(await page.$eval('#download-model', (el) => (el as unknown as { disabled: boolean }).disabled)).toBe(false);

      // No WebGPU: one message saying what to enable, and nothing starts.
      const bare = await browser.newPage();
      await bare.evaluateOnNewDocument(`Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined })`);
      await bare.goto(`${url}?autostart=1`);
      expect(await bare.$eval('#message', (el) => el.textContent)).toMatch(/no WebGPU.*enable-unsafe-webgpu/);
      expect(await status(bare)).toBe('error: no WebGPU in this browser');
    } finally {
      await close();
      rmSync(downloads, { recursive: true, force: true });
    }
  });
});
