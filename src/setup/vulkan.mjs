/**
 * Set-up step 2, the Vulkan driver: with no usable WebGPU adapter on Debian/Ubuntu as root it installs Mesa's
 * software Vulkan driver (lavapipe; on bookworm from bookworm-backports, as bookworm's Mesa 22 lavapipe is
 * rejected by Dawn with "Vulkan shaderUniform*ArrayDynamicIndexing required") and probes again (./probe.mjs).
 * Elsewhere it stops with the commands to run. Then it prints the adapter that will be used.
 */
import { adapterLine, isLavapipe, mesaVersion, probeAdapter, wantedAdapter, withDawnOutput } from './probe.mjs';
import { aptHasSuite, BootstrapError, hostOs, isDebianLike, isRoot, readAptSources, runStep, say, stepCommand } from './steps.mjs';

/** @typedef {import('./probe.mjs').Probe} Probe */
/** @typedef {import('./steps.mjs').OsRelease} OsRelease */
/** @typedef {import('./steps.mjs').Step} Step */

/** Dawn's lavapipe requirements are met from this Mesa major version on. */
export const MIN_LAVAPIPE_MESA = 25;
const APT_PACKAGES = ['mesa-vulkan-drivers', 'libvulkan1'];
const BACKPORTS_SOURCES_FILE = '/etc/apt/sources.list.d/bookworm-backports.sources';
const BACKPORTS_SOURCES = [
  'Types: deb',
  'URIs: http://deb.debian.org/debian',
  'Suites: bookworm-backports',
  'Components: main',
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
  '',
].join('\n');

/**
 * @typedef {{ action: 'ok' }
 *   | { action: 'install', reason: string, steps: Step[] }
 *   | { action: 'manual', reason: string, commands: string[] }
 *   | { action: 'fail', reason: string }} AdapterPlan
 */

/**
 * @typedef {object} AdapterSituation
 * @property {Probe} probe
 * @property {string} platform      process.platform
 * @property {OsRelease | null} os  null when /etc/os-release is absent
 * @property {boolean} isRoot
 * @property {string} aptSources    apt source files concatenated ('' when none)
 * @property {{ adapter?: string, backend?: string }} wanted  SBLD_ADAPTER / SBLD_BACKEND
 */

/**
 * apt steps that install Mesa's Vulkan drivers; on Debian bookworm from bookworm-backports (Mesa 25), adding that
 * source first if it is missing.
 * @param {OsRelease} os
 * @param {string} aptSources
 * @returns {Step[]}
 */
export function aptSteps(os, aptSources) {
  const bookworm = os.id === 'debian' && os.codename === 'bookworm';
  /** @type {Step[]} */
  const steps = [];
  if (bookworm && !aptHasSuite(aptSources, 'bookworm-backports')) {
    steps.push({ say: `adding the bookworm-backports apt source (${BACKPORTS_SOURCES_FILE})`, write: { path: BACKPORTS_SOURCES_FILE, content: BACKPORTS_SOURCES } });
  }
  steps.push({ say: 'updating the apt package lists', argv: ['apt-get', 'update'] });
  steps.push({
    say: `installing Mesa's Vulkan drivers${bookworm ? ' from bookworm-backports' : ''}: ${APT_PACKAGES.join(' ')}`,
    argv: ['apt-get', 'install', '-y', ...(bookworm ? ['-t', 'bookworm-backports'] : []), ...APT_PACKAGES],
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  return steps;
}

/**
 * Decides what to do about the probed adapter: nothing, install Mesa's Vulkan drivers, tell the user what to run,
 * or stop (when a driver install would not help, e.g. SBLD_ADAPTER names no adapter that exists).
 * @param {AdapterSituation} s
 * @returns {AdapterPlan}
 */
export function planAdapterFix(s) {
  const { probe, wanted } = s;
  if (probe.crashed) return { action: 'fail', reason: `the WebGPU probe failed: ${probe.crashed}` };
  if (probe.adapter && !probe.deviceError) return { action: 'ok' };

  const listed = probe.listed.map((l) => `'${l.name}' (${l.backend})`).join(', ');
  const choice = [wanted.adapter && `SBLD_ADAPTER=${wanted.adapter}`, wanted.backend && `SBLD_BACKEND=${wanted.backend}`].filter(Boolean).join(' ');
  if (probe.requestError && /unrecognised backend/i.test(probe.requestError)) {
    return { action: 'fail', reason: `SBLD_BACKEND=${wanted.backend} is not a Dawn backend: ${probe.requestError}` };
  }
  if (wanted.backend && wanted.backend !== 'vulkan') {
    // Mesa's Vulkan driver cannot help a request for another backend.
    return { action: 'fail', reason: `no WebGPU adapter for ${choice}${listed ? `; Dawn has: ${listed}` : ''}. Unset SBLD_BACKEND or pick another.` };
  }

  /** @type {string} */
  let reason;
  if (probe.adapter && probe.deviceError) {
    const mesa = mesaVersion(probe.adapter.description);
    if (!(isLavapipe(probe.adapter) && mesa && mesa.major < MIN_LAVAPIPE_MESA)) {
      return { action: 'fail', reason: `Dawn found ${probe.adapter.description || probe.adapter.device} but could not open a device on it: ${probe.deviceError}` };
    }
    reason = `Dawn cannot open a device on lavapipe from Mesa ${mesa.text} (it needs Mesa ${MIN_LAVAPIPE_MESA} or newer): ${probe.deviceError}`;
  } else if (probe.driverRejected) {
    reason = `Dawn rejected the installed Vulkan driver (lavapipe before Mesa ${MIN_LAVAPIPE_MESA} lacks features Dawn requires)`;
  } else if (probe.listed.length > 0) {
    // Adapters exist, just not the one asked for: installing drivers would not change that.
    return { action: 'fail', reason: `no WebGPU adapter matches ${choice || 'the request'}; Dawn has: ${listed}. Fix or unset SBLD_ADAPTER / SBLD_BACKEND.` };
  } else {
    reason = `Dawn found no WebGPU adapter${choice ? ` for ${choice}` : ''} (no usable Vulkan driver)`;
  }

  if (s.platform !== 'linux') {
    return { action: 'fail', reason: `${reason}. On ${s.platform} Dawn uses the system's native API (Metal, D3D12); check the GPU driver, or try SBLD_BACKEND=vulkan with a Vulkan driver installed.` };
  }
  if (s.os && isDebianLike(s.os)) {
    const steps = aptSteps(s.os, s.aptSources);
    if (s.isRoot) return { action: 'install', reason, steps };
    return { action: 'manual', reason, commands: steps.map((st) => stepCommand(st, true)) };
  }
  return {
    action: 'manual',
    reason: `${reason}. Install Mesa's Vulkan drivers (lavapipe, Mesa ${MIN_LAVAPIPE_MESA} or newer) or your GPU's Vulkan driver, with the Vulkan loader; for example`,
    commands: ['sudo dnf install mesa-vulkan-drivers vulkan-loader      # Fedora', 'sudo pacman -S vulkan-swrast vulkan-icd-loader        # Arch'],
  };
}

/** @param {Probe} probe @param {{ adapter?: string, backend?: string }} wanted @returns {AdapterSituation} */
function situation(probe, wanted) {
  return {
    probe,
    platform: process.platform,
    os: hostOs(),
    isRoot: isRoot(),
    aptSources: readAptSources(),
    wanted,
  };
}


/**
 * A usable WebGPU adapter, installing Mesa's Vulkan drivers when that is what is missing.
 * @param {boolean} dryRun
 * @returns {boolean} false in a dry run that would install drivers
 */
export function ensureAdapter(dryRun) {
  const wanted = wantedAdapter();
  let probe = probeAdapter(wanted);
  const plan = planAdapterFix(situation(probe, wanted));
  if (plan.action === 'fail') throw new BootstrapError(withDawnOutput(plan.reason, probe));
  if (plan.action === 'manual') {
    throw new BootstrapError(withDawnOutput(`${plan.reason}. Run:\n\n${plan.commands.join('\n')}\n\nthen run this script again.`, probe));
  }
  if (plan.action === 'install') {
    if (dryRun) {
      say(`(dry run) ${plan.reason}; would run:\n${plan.steps.map((st) => stepCommand(st, false)).join('\n')}`);
      return false;
    }
    say(`${plan.reason}. Installing Mesa's software Vulkan driver (lavapipe): WebGPU will run on the CPU. For a real GPU, install its vendor's Vulkan driver instead.`);
    for (const step of plan.steps) runStep(step);
    probe = probeAdapter(wanted);
    const after = planAdapterFix(situation(probe, wanted));
    if (after.action !== 'ok') {
      const why = 'reason' in after ? after.reason : '';
      const loaderEnv = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES'].filter((k) => process.env[k]);
      const hint = loaderEnv.length ? ` (${loaderEnv.join(' and ')} ${loaderEnv.length > 1 ? 'are' : 'is'} set, which limits the Vulkan drivers the loader sees)` : '';
      throw new BootstrapError(withDawnOutput(`still no usable WebGPU adapter after installing Mesa's Vulkan drivers: ${why}${hint}`, probe));
    }
  }
  if (!probe.adapter) throw new BootstrapError('internal: probe reported no adapter');
  console.log(adapterLine(probe.adapter, probe.listed));
  return true;
}
