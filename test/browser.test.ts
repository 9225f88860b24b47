/**
 * The page in a real browser: headless Chromium (web/chromium.ts) loads the demo page, which trains the tiny
 * GPT on the built-in Brown slice with SBLD for a few steps, started from the URL. The same steps run here under
 * Node (Dawn on lavapipe) through the same module (web/app/run.ts) on the same documents and config, and:
 *   - the layer plans of every step are identical (the draws are seeded; the sensitivities agree closely enough
 *     that no keep probability crosses a draw);
 *   - the per-step losses agree within LOSS_TOLERANCE (see there);
 *   - the page ends with status `done`, logged no console error and threw no page error;
 *   - a screenshot of the charts is not blank.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusFromDocuments, Engine, TrainingSession } from '../src/browser.js';
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
