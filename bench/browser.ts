/**
 * `npm run bench -- browser [--preset small] [--steps 30] [--warmup 5] [--out FILE]`: tokens/s of the same
 * training run in the demo page (headless Chromium, its WebGPU adapter) and under Node (Dawn), side by side on
 * one machine: Node, the page, Node again (so a machine that got busier shows as two different Node figures).
 * The runs are the page's own (web/app/run.ts) on the built-in Brown slice, every layer running (policy none),
 * so the figure is the engine's speed, not the policy's. The Node run with subgroups off uses the kernels
 * Chromium's SwiftShader gets (its subgroups are 4 lanes, below the 8 the subgroup kernels need), which
 * separates the adapter's speed from the kernel choice. tokens/s per step are (B x T) / step time; the median
 * over the steps after the warm-up is reported.
 */
import { writeFileSync } from 'node:fs';
import { corpusFromDocuments, Engine, TrainingSession } from '../src/browser.js';
import { LiveRun, pageConfig, type PageSettings } from '../web/app/run.js';
import { brownSlice } from '../web/brown-slice.js';
import { buildBrowser } from '../web/build.js';
import { launchChromium } from '../web/chromium.js';
import { serve } from '../web/serve.js';

export interface BrowserBenchOptions {
  preset: PageSettings['preset'];
  steps: number;
  warmup: number;
  out?: string;
}

interface Row {
  where: string;
  adapter: string;
  median_tokens_per_s: number;
  steps_timed: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchBrowser(o: BrowserBenchOptions): Promise<void> {
  const settings: PageSettings = { preset: o.preset, steps: o.steps, lr: 3e-3, seed: 1337, evalEvery: o.steps, drop: { policy: 'none' } };
  const cfg = pageConfig(settings);
  const docs = brownSlice();

  const node = async (label: string, disable: 'subgroups'[]): Promise<Row> => {
    const e = await Engine.create({ disableFeatures: disable });
    try {
      const tps: number[] = [];
      const run = new LiveRun(new TrainingSession(e, cfg, corpusFromDocuments(docs, cfg.seqLen, 'brown-slice', 'Brown slice')), { onStep: (r) => tps.push(r.tokensPerS) });
      await run.run();
      const timed = tps.slice(o.warmup);
      return { where: label, adapter: `${e.gpu.adapterName} [${[...e.gpu.features].join(', ')}]`, median_tokens_per_s: median(timed), steps_timed: timed.length };
    } finally {
      e.destroy();
    }
  };

  const page = async (): Promise<Row> => {
    await buildBrowser();
    const { server, url } = await serve();
    const { browser, close } = await launchChromium();
    try {
      const p = await browser.newPage();
      const q = new URLSearchParams({ autostart: '1', task: 'gpt', preset: o.preset, steps: String(o.steps), seed: '1337', drop: 'none', 'eval-every': String(o.steps), 'sample-every': '0' });
      await p.goto(`${url}?${q}`);
      await p.waitForFunction(`/^(done|stopped|error)/.test(document.getElementById('status').textContent)`, { timeout: 0, polling: 1000 });
      const status = await p.$eval('#status', (el) => el.textContent ?? '');
      if (status !== 'done') throw new Error(`the page ended with ${status}`);
      const s = (await p.evaluate('globalThis.sbld')) as { tokensPerS: number[]; adapter: string; features: string[] };
      const timed = s.tokensPerS.slice(o.warmup);
      return { where: `Chromium ${(await browser.version()).replace(/^\D+/, '')} (page)`, adapter: `${s.adapter} [${s.features.join(', ')}]`, median_tokens_per_s: median(timed), steps_timed: timed.length };
    } finally {
      await close();
      server.close();
    }
  };

  const rows: Row[] = [];
  rows.push(await node('Node (Dawn), default kernels', []));
  rows.push(await node('Node (Dawn), subgroups off', ['subgroups']));
  rows.push(await page());
  rows.push(await node('Node (Dawn), default kernels, again', []));
  const nodeBest = (rows[0]!.median_tokens_per_s + rows[3]!.median_tokens_per_s) / 2;
  const browserRow = rows[2]!;
  const lines = [
    `preset ${o.preset} (B ${cfg.batchSize}, T ${cfg.seqLen}, ${cfg.n_layer} layers), policy none, ${o.steps} steps, median tokens/s over steps ${o.warmup + 1}..${o.steps}`,
    '',
    '| where | adapter | tokens/s | steps timed |',
    '|---|---|---:|---:|',
    ...rows.map((r) => `| ${r.where} | ${r.adapter} | ${r.median_tokens_per_s.toFixed(0)} | ${r.steps_timed} |`),
    '',
    `page / Node (mean of the two default Node runs): ${(browserRow.median_tokens_per_s / nodeBest).toFixed(2)}`,
    `page / Node with subgroups off (same kernels): ${(browserRow.median_tokens_per_s / rows[1]!.median_tokens_per_s).toFixed(2)}`,
  ];
  console.log(lines.join('\n'));
  if (o.out) writeFileSync(o.out, `${lines.join('\n')}\n\n${JSON.stringify({ preset: o.preset, steps: o.steps, warmup: o.warmup, rows }, null, 1)}\n`);
}
