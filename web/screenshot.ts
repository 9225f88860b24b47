/**
 * The README's picture of the page: `npx tsx web/screenshot.ts docs/browser-demo.png [query]` builds, serves,
 * runs the page in headless Chromium with the query (default: the tiny preset, SBLD, 240 steps), asks for a
 * step's profile mid-run, and saves a full-page screenshot once the run is done.
 */
import { buildBrowser } from './build.js';
import { launchChromium } from './chromium.js';
import { serve } from './serve.js';

const out = process.argv[2] ?? 'docs/browser-demo.png';
const query = process.argv[3] ?? 'autostart=1&task=gpt&preset=tiny&steps=240&seed=1337&drop=sbld&eval-every=20&sample-every=80';
await buildBrowser();
const { server, url } = await serve();
const { browser, close } = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 1000 });
  await page.goto(`${url}?${query}`);
  await page.waitForFunction(`Number(document.getElementById('step').textContent) >= 40`, { timeout: 0, polling: 1000 });
  await page.click('#profile');
  await page.waitForFunction(`/^(done|stopped|error)/.test(document.getElementById('status').textContent)`, { timeout: 0, polling: 1000 });
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  await page.screenshot({ path: out as `${string}.png`, fullPage: true });
  console.log(`screenshot: ${out} (${await page.$eval('#status', (el) => el.textContent)})`);
} finally {
  await close();
  server.close();
}
