/**
 * Set-up step 5, with --browser (what `npm test` needs for its browser test, test/browser.test.ts): a Chromium
 * for puppeteer-core, installed as Debian's `chromium` package with apt on Debian/Ubuntu as root. Never fatal:
 * where it cannot install, it says what to install and the browser test fails with the same words.
 */
import { existsSync } from 'node:fs';
import { aptPackagePlan, carryOut, hostOs, isRoot } from './steps.mjs';

/** @typedef {import('./steps.mjs').OsRelease} OsRelease */
/** @typedef {import('./steps.mjs').InstallPlan} InstallPlan */

/** Where the browser test looks for Chromium (web/chromium.ts has the same list; env SBLD_CHROMIUM overrides). */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/**
 * Decides what to do about Chromium for the browser test: nothing, install Debian's `chromium` with apt (Debian/
 * Ubuntu as root), or tell the user what to install.
 * @param {{ found: string | null, os: OsRelease | null, isRoot: boolean }} s
 * @returns {InstallPlan}
 */
export function planBrowser(s) {
  if (s.found) return { action: 'ok' };
  const reason = `no Chromium for the browser test (looked for SBLD_CHROMIUM and ${CHROMIUM_PATHS.join(', ')})`;
  const apt = aptPackagePlan({ reason, os: s.os, isRoot: s.isRoot }, 'Chromium (chromium, about 100 MB with its libraries)', ['--no-install-recommends', 'chromium']);
  if (apt) return apt;
  return { action: 'manual', reason: `${reason}. Install Chromium or Chrome with your package manager and point to it`, commands: ['export SBLD_CHROMIUM=/path/to/chromium'] };
}

/** @returns {string | null} the Chromium executable the browser test will use */
function findChromium() {
  const env = process.env.SBLD_CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  return CHROMIUM_PATHS.find((p) => existsSync(p)) ?? null;
}

/**
 * Chromium for the browser test, installed with apt when possible. Never throws for a missing browser (the test
 * names what to install): returns what happened.
 * @param {boolean} dryRun
 * @returns {string}
 */
export function ensureBrowser(dryRun) {
  const plan = planBrowser({ found: findChromium(), os: hostOs(), isRoot: isRoot() });
  if (plan.action === 'ok') return `Chromium for the browser test: ${findChromium()}`;
  const message = carryOut(plan, dryRun, 'The browser test will fail until Chromium is installed (apt-get install -y chromium).');
  if (message !== null) return message;
  return findChromium() ? `Chromium installed: ${findChromium()}` : 'chromium is installed but no executable was found where the test looks';
}
