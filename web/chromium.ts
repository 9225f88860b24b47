/**
 * Headless Chromium for the browser test and the page-vs-Node benchmark: Debian's `chromium` package, driven by
 * puppeteer-core. `SBLD_CHROMIUM` names another executable.
 *
 * Flags: `--enable-unsafe-webgpu` turns WebGPU on where Chromium does not enable it by default (Linux); on a
 * machine without a GPU Chromium then offers its SwiftShader adapter (Vulkan on the CPU), which needs nothing
 * else. `--no-sandbox` because the test may run as root in a container, where Chromium's sandbox cannot start.
 * The rest keep a test run quiet and self-contained: no network, no first-run UI, a fresh profile.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export const CHROMIUM_HELP =
  'No Chromium found for the browser test. On Debian/Ubuntu run `apt-get install -y chromium` (as root; ' +
  '`node src/setup/bootstrap.mjs --browser` does it), or set SBLD_CHROMIUM to a Chromium or Chrome executable.';

/** The Chromium executable to use, or null. */
export function findChromium(): string | null {
  const env = process.env.SBLD_CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--no-first-run',
  '--no-default-browser-check',
];

/** Launches headless Chromium with a fresh profile; `close()` also removes the profile. */
export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(CHROMIUM_HELP);
  const profile = mkdtempSync(join(tmpdir(), 'sbld-chromium-'));
  const browser = await puppeteer.launch({ executablePath, headless: true, args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`] });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
