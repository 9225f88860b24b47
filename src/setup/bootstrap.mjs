/**
 * Bootstrap: makes a checkout runnable. `npm start`, `npm test`, ... run it first (src/setup/launch.mjs calls
 * `runBootstrap` in-process), before node_modules may exist, so it and its steps are plain Node ESM (JSDoc-typed)
 * using only node: builtins. It runs the steps in order, each in its own module:
 *
 * 1. npm packages (./npm.mjs): `npm ci` when node_modules is missing, incomplete or from another package-lock.json.
 * 2. WebGPU adapter (./vulkan.mjs, probing with ./probe.mjs): with no usable adapter on Debian/Ubuntu as root it
 *    installs Mesa's software Vulkan driver (lavapipe) and probes again; elsewhere it prints the commands and
 *    exits 1.
 * 3. Prints the adapter that will be used, e.g.
 *    `bootstrap: WebGPU adapter: llvmpipe (LLVM 15.0.6, 256 bits) [vulkan, lavapipe, Mesa 25.0.7] features: ...`
 * 4. With --vision (./vision.mjs): the Fashion-MNIST files, with apt where it can; otherwise it prints the
 *    commands and exits 1.
 * 5. With --browser (./chromium.mjs): a Chromium for the browser test, with apt where it can. Never fatal.
 *
 * Idempotent. The only thing remembered between runs is the lockfile stamp, which is checked against the
 * lockfile's hash every time; the adapter is probed every time. Fast path: about 0.3 s.
 *
 * Run:  node src/setup/bootstrap.mjs [--dry-run] [--vision] [--browser]
 *   --vision   also make sure the Fashion-MNIST files are installed (step 4)
 *   --browser  also make sure a Chromium is installed (step 5)
 *   --dry-run  say what would be installed, change nothing (exit 1 only where a real run would stop with no
 *              attempt at a fix)
 * Env:  SBLD_SKIP_BOOTSTRAP=1  skip everything: for users who manage node_modules and GPU drivers themselves.
 *       SBLD_ADAPTER, SBLD_BACKEND  adapter choice (./probe.mjs).
 * Exit: 0 when packages and an adapter are ready (so `&&` chains go on), 1 otherwise with the reason printed.
 *
 * The steps' helpers are exported from here too (bootstrap.d.mts types them for test/ and src/).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBrowser } from './chromium.mjs';
import { ensureNpmPackages } from './npm.mjs';
import { ensureAdapter } from './vulkan.mjs';
import { ensureVisionData } from './vision.mjs';
import { BootstrapError, say } from './steps.mjs';

export { CHROMIUM_PATHS, ensureBrowser, planBrowser } from './chromium.mjs';
export { npmInstallPlan, readNpmState, sha256Hex, STAMP_FILE } from './npm.mjs';
export { adapterLine, findListed, isLavapipe, mesaVersion, OPTIONAL_FEATURES, parseAdapterList, probeAdapter } from './probe.mjs';
export { aptHasSuite, isDebianLike, parseOsRelease, stepCommand } from './steps.mjs';
export { ensureVisionData, planVisionData, VISION_DATA_DIR, VISION_DATA_FILES } from './vision.mjs';
export { aptSteps, MIN_LAVAPIPE_MESA, planAdapterFix } from './vulkan.mjs';

/**
 * The whole bootstrap; src/setup/launch.mjs (what the npm scripts run) calls it in-process before the program.
 * @param {string[]} [args] the bootstrap's own flags (--dry-run, --vision, --browser)
 * @returns {number} exit code
 */
export function runBootstrap(args = []) {
  // SBLD_SKIP_BOOTSTRAP=1: skip everything, for users who manage their own node_modules and GPU drivers.
  if (process.env.SBLD_SKIP_BOOTSTRAP === '1') {
    say('skipped (SBLD_SKIP_BOOTSTRAP=1)');
    return 0;
  }
  const dryRun = args.includes('--dry-run');
  try {
    const packagesReady = ensureNpmPackages(dryRun);
    if (!packagesReady) {
      say('(dry run) the WebGPU adapter is probed once the npm packages are installed');
      return 0;
    }
    ensureAdapter(dryRun);
    if (args.includes('--vision')) {
      const v = ensureVisionData(dryRun);
      if (!v.ready && !dryRun) throw new BootstrapError(v.message);
      say(v.message);
    }
    if (args.includes('--browser')) say(ensureBrowser(dryRun));
    return 0;
  } catch (e) {
    if (!(e instanceof BootstrapError)) throw e;
    console.error(`bootstrap: ${e.message}`);
    console.error('bootstrap: (set SBLD_SKIP_BOOTSTRAP=1 to skip these checks if you manage the environment yourself)');
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = runBootstrap(process.argv.slice(2));
