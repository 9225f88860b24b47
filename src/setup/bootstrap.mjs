/**
 * Bootstrap: makes a checkout runnable. `npm start`, `npm test`, ... run it first
 * (`node src/setup/bootstrap.mjs && tsx ...`), before node_modules may exist, so it is plain Node ESM (JSDoc-typed)
 * using only node: builtins.
 *
 * 1. npm packages: runs `npm ci` (`npm install` when there is no package-lock.json) if node_modules is missing,
 *    lacks a declared package, or was installed from another package-lock.json. After each successful install the
 *    sha256 of package-lock.json is stamped into node_modules/.sbld-lock-sha256 and compared on every run.
 * 2. WebGPU adapter: probes Dawn in a child node process (a crash in dawn.node cannot take the bootstrap down) with
 *    the engine's adapter choice (src/runtime/device.ts): env SBLD_ADAPTER, a case-insensitive substring of the
 *    adapter name, becomes Dawn's `adapter=` flag, and env SBLD_BACKEND (`vulkan`, `null`, ...) its `backend=` flag.
 *    With no usable adapter on Debian/Ubuntu as root it installs Mesa's software Vulkan driver (lavapipe; on
 *    bookworm from bookworm-backports, as bookworm's Mesa 22 lavapipe is rejected by Dawn with "Vulkan
 *    shaderUniform*ArrayDynamicIndexing required") and probes again. Elsewhere it prints the commands and exits 1.
 * 3. Prints the adapter that will be used, e.g.
 *    `bootstrap: WebGPU adapter: llvmpipe (LLVM 15.0.6, 256 bits) [vulkan, lavapipe, Mesa 25.0.7] features: ...`
 *
 * Idempotent. The only thing remembered between runs is the lockfile stamp, which is checked against the
 * lockfile's hash every time; the adapter is probed every time. Fast path: about 0.3 s.
 *
 * 4. With --vision (what `npm start -- --task vit` needs): Fashion-MNIST under /usr/share/datasets/fashion-mnist/,
 *    installed as Debian's `dataset-fashion-mnist` package with apt on Debian/Ubuntu as root; elsewhere, or
 *    without root, it prints the commands (or where to download the files for `--data DIR`) and exits 1.
 *    The ViT trainer calls `ensureVisionData` itself when it is asked for Fashion-MNIST and the files are missing.
 *
 * 5. With --browser (what `npm test` needs for its browser test, test/browser.test.ts): a Chromium for
 *    puppeteer-core, installed as Debian's `chromium` package with apt on Debian/Ubuntu as root. Never fatal: where
 *    it cannot install, it says what to install and the browser test fails with the same words.
 *
 * Run:  node src/setup/bootstrap.mjs [--dry-run] [--vision] [--browser]
 *   --vision   also make sure the Fashion-MNIST files are installed (step 4)
 *   --browser  also make sure a Chromium is installed (step 5)
 *   --dry-run  say what would be installed, change nothing (exit 1 only where a real run would stop with no
 *              attempt at a fix)
 * Env:  SBLD_SKIP_BOOTSTRAP=1  skip everything: for users who manage node_modules and GPU drivers themselves.
 *       SBLD_ADAPTER, SBLD_BACKEND  adapter choice, as above.
 * Exit: 0 when packages and an adapter are ready (so `&&` chains go on), 1 otherwise with the reason printed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STAMP_FILE = '.sbld-lock-sha256';
/** Features the engine uses when present (same list as OPTIONAL_FEATURES in src/runtime/device.ts). */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'];
/** Dawn's lavapipe requirements are met from this Mesa major version on. */
export const MIN_LAVAPIPE_MESA = 25;
const APT_PACKAGES = ['mesa-vulkan-drivers', 'libvulkan1'];
/** Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST (the ViT reads it there: src/tasks/vit/data.ts). */
export const VISION_DATA_DIR = '/usr/share/datasets/fashion-mnist';
/** The four IDX files (each may also be present uncompressed, without `.gz`). */
export const VISION_DATA_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const VISION_APT_PACKAGE = 'dataset-fashion-mnist';
const VISION_DOWNLOAD_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com';
/** Where the browser test looks for Chromium (web/chromium.ts has the same list; env SBLD_CHROMIUM overrides). */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
const BACKPORTS_SOURCES_FILE = '/etc/apt/sources.list.d/bookworm-backports.sources';
const BACKPORTS_SOURCES = [
  'Types: deb',
  'URIs: http://deb.debian.org/debian',
  'Suites: bookworm-backports',
  'Components: main',
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
  '',
].join('\n');
const PROBE_MARKER = 'SBLD_PROBE ';
const PROBE_TIMEOUT_MS = 60_000;

/**
 * The adapter probe, run as `node --input-type=module -e PROBE_SOURCE` in the project root (so `webgpu` resolves
 * from node_modules). Input: env SBLD_PROBE = { flags, features }; output: one stdout line `SBLD_PROBE <json>`.
 * It opens the adapter the engine would open, then a device on it (so a driver Dawn lists but cannot use still
 * fails here), then lists every adapter: dawn.node names them all (backend and full name) in the error for an
 * adapter name that matches none. Every create() result stays referenced until exit: dawn.node aborts if one is
 * collected while in use.
 */
const PROBE_SOURCE = `
import { create } from 'webgpu';
const { flags, features } = JSON.parse(process.env.SBLD_PROBE);
const keep = [];
const errorText = (e) => String((e && e.message) || e);
const out = { adapter: null, requestError: null, deviceError: null, listText: '' };
try {
  const gpu = create(flags);
  keep.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter) {
    const info = adapter.info;
    out.adapter = {
      vendor: info.vendor || '',
      architecture: info.architecture || '',
      device: info.device || '',
      description: info.description || '',
      backend: info.backend || null,
      isFallbackAdapter: Boolean(info.isFallbackAdapter),
      features: features.filter((f) => adapter.features.has(f)),
    };
    try {
      const device = await adapter.requestDevice();
      device.destroy();
    } catch (e) {
      out.deviceError = errorText(e);
    }
  }
} catch (e) {
  out.requestError = errorText(e);
}
try {
  const lister = create([...flags.filter((f) => f.startsWith('backend=')), 'adapter=sbld-bootstrap-lists-all-adapters']);
  keep.push(lister);
  await lister.requestAdapter();
} catch (e) {
  out.listText = errorText(e);
}
process.stdout.write('SBLD_PROBE ' + JSON.stringify(out) + '\\n', () => process.exit(0));
`;

// ------------------------------------------------------------------------------------------------------------
// Pure helpers (exported for test/bootstrap.test.ts)
// ------------------------------------------------------------------------------------------------------------

/**
 * @param {string | Uint8Array} data
 * @returns {string} sha256 as lowercase hex
 */
export function sha256Hex(data) {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * @typedef {object} NpmState
 * @property {boolean} hasNodeModules   node_modules exists
 * @property {boolean} hasLockfile      package-lock.json exists
 * @property {string} currentSha        sha256 of package-lock.json (of package.json when there is no lockfile)
 * @property {string | null} stampedSha content of node_modules/.sbld-lock-sha256, null when absent
 * @property {string[]} missingPackages declared dependencies with no node_modules/<name>/package.json
 */

/**
 * @typedef {object} NpmPlan
 * @property {boolean} install
 * @property {string[]} args   npm arguments: ['ci'], or ['install'] when there is no lockfile
 * @property {string} reason   why an install is needed ('' when it is not)
 */

/**
 * Decides whether node_modules must be (re)installed.
 * @param {NpmState} s
 * @returns {NpmPlan}
 */
export function npmInstallPlan(s) {
  const args = s.hasLockfile ? ['ci'] : ['install'];
  const lockName = s.hasLockfile ? 'package-lock.json' : 'package.json';
  /** @type {(reason: string) => NpmPlan} */
  const install = (reason) => ({ install: true, args, reason });
  if (!s.hasNodeModules) return install('node_modules is missing');
  if (s.stampedSha === null) return install(`node_modules was not installed by the bootstrap (no node_modules/${STAMP_FILE})`);
  if (s.stampedSha.trim() !== s.currentSha) return install(`${lockName} changed since the last install`);
  if (s.missingPackages.length > 0) return install(`node_modules lacks ${s.missingPackages.join(', ')}`);
  return { install: false, args, reason: '' };
}

/**
 * @typedef {object} OsRelease
 * @property {string} id         e.g. 'debian', 'ubuntu'
 * @property {string[]} idLike   e.g. ['debian'] on Ubuntu
 * @property {string} codename   e.g. 'bookworm'
 * @property {string} prettyName
 */

/**
 * Parses /etc/os-release (KEY=value lines, values optionally quoted).
 * @param {string} text
 * @returns {OsRelease}
 */
export function parseOsRelease(text) {
  /** @type {Record<string, string>} */
  const kv = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m && m[1] !== undefined && m[2] !== undefined) kv[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return {
    id: (kv.ID ?? '').toLowerCase(),
    idLike: (kv.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    codename: (kv.VERSION_CODENAME ?? '').toLowerCase(),
    prettyName: kv.PRETTY_NAME ?? kv.NAME ?? '',
  };
}

/**
 * @param {OsRelease | null} os
 * @returns {boolean} Debian, Ubuntu or a derivative of either (apt-based)
 */
export function isDebianLike(os) {
  if (!os) return false;
  return [os.id, ...os.idLike].some((id) => id === 'debian' || id === 'ubuntu');
}

/**
 * @param {string} sourcesText every apt source file concatenated (sources.list and sources.list.d/*)
 * @param {string} suite e.g. 'bookworm-backports'
 * @returns {boolean} an uncommented one-line (`deb ...`) or deb822 (`Suites: ...`) entry names the suite
 */
export function aptHasSuite(sourcesText, suite) {
  return sourcesText.split('\n').some((raw) => {
    const line = raw.trim();
    if (line.startsWith('#')) return false;
    const words = line.split(/\s+/);
    return (words[0] === 'deb' || words[0] === 'Suites:') && words.includes(suite);
  });
}

/**
 * @typedef {object} ListedAdapter
 * @property {string} backend e.g. 'vulkan'
 * @property {string} name    e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'
 */

/**
 * Parses dawn.node's adapter listing (` * backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)'` lines).
 * @param {string} text
 * @returns {ListedAdapter[]}
 */
export function parseAdapterList(text) {
  /** @type {ListedAdapter[]} */
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\*\s*backend:\s*'([^']*)',\s*name:\s*'(.*)'\s*$/.exec(line);
    if (m && m[1] !== undefined && m[2] !== undefined) out.push({ backend: m[1], name: m[2] });
  }
  return out;
}

/**
 * @typedef {object} ProbedAdapter
 * @property {string} vendor
 * @property {string} architecture
 * @property {string} device       dawn.node gives a slug of the name here, e.g. 'llvmpipe-llvm-15-0-6-256-bits-'
 * @property {string} description  e.g. 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1'
 * @property {string | null} backend  from adapter.info when Dawn reports it (0.6.2 does not)
 * @property {boolean} isFallbackAdapter
 * @property {string[]} features   the OPTIONAL_FEATURES it has
 */

/**
 * @typedef {object} Probe
 * @property {ProbedAdapter | null} adapter  what requestAdapter() returned
 * @property {string | null} requestError    requestAdapter() threw (e.g. no adapter matches SBLD_ADAPTER)
 * @property {string | null} deviceError     requestDevice() on the adapter failed
 * @property {ListedAdapter[]} listed        every adapter Dawn accepts (for the chosen backend, if any)
 * @property {boolean} driverRejected        Dawn turned a Vulkan driver down ("Vulkan ... required")
 * @property {string | null} crashed         the probe process itself failed (dawn.node missing or crashed)
 * @property {string} stderr                 the probe's stderr (Dawn's warnings), shown on failure
 */

/**
 * Mesa version from an adapter description ('llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1').
 * @param {string} description
 * @returns {{ major: number, minor: number, text: string } | null}
 */
export function mesaVersion(description) {
  const m = /\bMesa (\d+)\.(\d+)(?:\.(\d+))?/.exec(description);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), text: m[0].slice('Mesa '.length) };
}

/**
 * @param {ProbedAdapter} a
 * @returns {boolean} Mesa's llvmpipe-based Vulkan driver (lavapipe)
 */
export function isLavapipe(a) {
  return /llvmpipe/i.test(`${a.device} ${a.description}`) && (a.backend === null || a.backend === 'vulkan');
}

/**
 * The listing entry for the chosen adapter: the one whose name slugs to adapter.device, else the only one.
 * @param {ProbedAdapter} a
 * @param {ListedAdapter[]} listed
 * @returns {ListedAdapter | null}
 */
export function findListed(a, listed) {
  /** @param {string} s */
  const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const bySlug = listed.filter((l) => slug(l.name) === a.device && (a.backend === null || l.backend === a.backend));
  if (bySlug.length >= 1) return bySlug[0] ?? null;
  return listed.length === 1 ? (listed[0] ?? null) : null;
}

/**
 * The one line naming the adapter that will be used.
 * @param {ProbedAdapter} a
 * @param {ListedAdapter[]} listed
 * @returns {string}
 */
export function adapterLine(a, listed) {
  const entry = findListed(a, listed);
  const name = entry?.name || a.description || a.device || 'unnamed adapter';
  const backend = a.backend ?? entry?.backend ?? null;
  const mesa = mesaVersion(a.description);
  /** @type {string[]} */
  const tags = [];
  if (backend) tags.push(backend);
  if (isLavapipe(a)) tags.push('lavapipe');
  else if (a.isFallbackAdapter) tags.push('fallback adapter');
  else if (a.vendor || a.architecture) tags.push([a.vendor, a.architecture].filter(Boolean).join(' '));
  if (mesa) tags.push(`Mesa ${mesa.text}`);
  const missing = OPTIONAL_FEATURES.filter((f) => !a.features.includes(f));
  const present = OPTIONAL_FEATURES.filter((f) => a.features.includes(f));
  const features = `features: ${present.length ? present.join(' ') : 'none'}${missing.length ? ` (missing: ${missing.join(' ')})` : ''}`;
  return `bootstrap: WebGPU adapter: ${name}${tags.length ? ` [${tags.join(', ')}]` : ''} ${features}`;
}

/**
 * One step of a driver install: a command to run, or a file to write.
 * @typedef {object} Step
 * @property {string} say   printed before the step
 * @property {string[]} [argv]
 * @property {Record<string, string>} [env]
 * @property {{ path: string, content: string }} [write]
 */

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
 * A step as a shell command a user can paste.
 * @param {Step} step
 * @param {boolean} sudo
 * @returns {string}
 */
export function stepCommand(step, sudo) {
  const pre = sudo ? 'sudo ' : '';
  if (step.write) return `${pre}tee ${step.write.path} >/dev/null <<'EOF'\n${step.write.content}EOF`;
  const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${v} `).join('');
  return `${pre}${env}${(step.argv ?? []).join(' ')}`;
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

/**
 * @typedef {object} VisionSituation
 * @property {string[]} missing      the VISION_DATA_FILES absent from VISION_DATA_DIR (neither plain nor .gz)
 * @property {OsRelease | null} os   null when /etc/os-release is absent
 * @property {boolean} isRoot
 */

/**
 * @typedef {{ action: 'ok' } | { action: 'install', reason: string, steps: Step[] } | { action: 'manual', reason: string, commands: string[] }} VisionPlan
 */

/**
 * Decides what to do about the Fashion-MNIST files: nothing, install Debian's package with apt (Debian/Ubuntu as
 * root), or tell the user what to run (apt with sudo; elsewhere, where to download the files for --data DIR).
 * @param {VisionSituation} s
 * @returns {VisionPlan}
 */
export function planVisionData(s) {
  if (s.missing.length === 0) return { action: 'ok' };
  const reason = `Fashion-MNIST is not installed (${VISION_DATA_DIR} lacks ${s.missing.join(', ')})`;
  if (s.os && isDebianLike(s.os)) {
    /** @type {Step[]} */
    const steps = [
      { say: 'updating the apt package lists', argv: ['apt-get', 'update'] },
      { say: `installing Fashion-MNIST (${VISION_APT_PACKAGE}, about 30 MB)`, argv: ['apt-get', 'install', '-y', VISION_APT_PACKAGE], env: { DEBIAN_FRONTEND: 'noninteractive' } },
    ];
    if (s.isRoot) return { action: 'install', reason, steps };
    return { action: 'manual', reason, commands: steps.map((st) => stepCommand(st, true)) };
  }
  return {
    action: 'manual',
    reason: `${reason}. Download the four files into a folder and pass it to the trainer with --data DIR, for example`,
    commands: ['mkdir -p fashion-mnist && cd fashion-mnist', ...VISION_DATA_FILES.map((f) => `curl -fLO ${VISION_DOWNLOAD_URL}/${f}`)],
  };
}

/**
 * Decides what to do about Chromium for the browser test: nothing, install Debian's `chromium` with apt (Debian/
 * Ubuntu as root), or tell the user what to install.
 * @param {{ found: string | null, os: OsRelease | null, isRoot: boolean }} s
 * @returns {VisionPlan}
 */
export function planBrowser(s) {
  if (s.found) return { action: 'ok' };
  const reason = `no Chromium for the browser test (looked for SBLD_CHROMIUM and ${CHROMIUM_PATHS.join(', ')})`;
  if (s.os && isDebianLike(s.os)) {
    /** @type {Step[]} */
    const steps = [
      { say: 'updating the apt package lists', argv: ['apt-get', 'update'] },
      { say: 'installing Chromium (chromium, about 100 MB with its libraries)', argv: ['apt-get', 'install', '-y', '--no-install-recommends', 'chromium'], env: { DEBIAN_FRONTEND: 'noninteractive' } },
    ];
    if (s.isRoot) return { action: 'install', reason, steps };
    return { action: 'manual', reason, commands: steps.map((st) => stepCommand(st, true)) };
  }
  return { action: 'manual', reason: `${reason}. Install Chromium or Chrome with your package manager and point to it`, commands: ['export SBLD_CHROMIUM=/path/to/chromium'] };
}

// ------------------------------------------------------------------------------------------------------------
// Effects
// ------------------------------------------------------------------------------------------------------------

class BootstrapError extends Error {}

/** @param {string} msg */
function say(msg) {
  console.log(`bootstrap: ${msg}`);
}

/** @param {string} path @returns {string | null} */
function readOrNull(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Reads what npmInstallPlan needs from the project at `root`.
 * @param {string} root
 * @returns {NpmState}
 */
export function readNpmState(root) {
  const pkgText = readFileSync(join(root, 'package.json'), 'utf8');
  const lockText = readOrNull(join(root, 'package-lock.json'));
  const pkg = JSON.parse(pkgText);
  const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  const nodeModules = join(root, 'node_modules');
  const hasNodeModules = existsSync(nodeModules);
  return {
    hasNodeModules,
    hasLockfile: lockText !== null,
    currentSha: sha256Hex(lockText ?? pkgText),
    stampedSha: hasNodeModules ? readOrNull(join(nodeModules, STAMP_FILE)) : null,
    missingPackages: hasNodeModules ? names.filter((n) => !existsSync(join(nodeModules, n, 'package.json'))) : names,
  };
}

/**
 * Step 1: node_modules matches package-lock.json, or gets installed.
 * @param {boolean} dryRun
 * @returns {boolean} whether node_modules is ready (false only in a dry run that would install)
 */
function ensureNpmPackages(dryRun) {
  const plan = npmInstallPlan(readNpmState(ROOT));
  if (!plan.install) return true;
  const cmd = `npm ${plan.args.join(' ')}`;
  if (dryRun) {
    say(`(dry run) would install npm packages (${cmd}): ${plan.reason}`);
    return false;
  }
  say(`installing npm packages (${cmd}) ... [${plan.reason}]`);
  // A failed install must not leave an old stamp vouching for node_modules (npm ci wipes it; npm install may not).
  rmSync(join(ROOT, 'node_modules', STAMP_FILE), { force: true });
  const r = spawnSync('npm', plan.args, { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    throw new BootstrapError(`\`${cmd}\` failed (${why}). Fix the error above and run \`${cmd}\` or this script again.`);
  }
  // Stamp the lockfile as it is now: `npm install` may have just written it.
  const state = readNpmState(ROOT);
  writeFileSync(join(ROOT, 'node_modules', STAMP_FILE), `${state.currentSha}\n`);
  if (state.missingPackages.length > 0) {
    throw new BootstrapError(`\`${cmd}\` succeeded but node_modules still lacks ${state.missingPackages.join(', ')}.`);
  }
  say('npm packages installed');
  return true;
}

/** @returns {{ adapter?: string, backend?: string }} */
function wantedAdapter() {
  /** @type {{ adapter?: string, backend?: string }} */
  const w = {};
  if (process.env.SBLD_ADAPTER) w.adapter = process.env.SBLD_ADAPTER;
  if (process.env.SBLD_BACKEND) w.backend = process.env.SBLD_BACKEND;
  return w;
}

/**
 * Runs the adapter probe in a child process.
 * @param {{ adapter?: string, backend?: string }} wanted
 * @returns {Probe}
 */
export function probeAdapter(wanted) {
  const flags = [];
  if (wanted.adapter) flags.push(`adapter=${wanted.adapter}`);
  if (wanted.backend) flags.push(`backend=${wanted.backend}`);
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, SBLD_PROBE: JSON.stringify({ flags, features: OPTIONAL_FEATURES }) };
  if (!env.XDG_RUNTIME_DIR) {
    // Without it Mesa / Dawn print noise. A fixed per-user directory, so repeated runs do not litter tmp.
    const dir = join(tmpdir(), `sbld-xdg-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    env.XDG_RUNTIME_DIR = dir;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE_SOURCE], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: PROBE_TIMEOUT_MS,
    maxBuffer: 16 << 20,
  });
  const stderr = r.stderr ?? '';
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(PROBE_MARKER));
  /** @type {Probe} */
  const probe = { adapter: null, requestError: null, deviceError: null, listed: [], driverRejected: /Vulkan \S+ (feature )?required/.test(stderr), crashed: null, stderr };
  if (!line) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    probe.crashed = `${why}${stderr.trim() ? `\n${tail(stderr, 20)}` : ''}`;
    return probe;
  }
  const out = JSON.parse(line.slice(PROBE_MARKER.length));
  probe.adapter = out.adapter;
  probe.requestError = out.requestError;
  probe.deviceError = out.deviceError;
  probe.listed = parseAdapterList(out.listText);
  return probe;
}

/** @param {string} text @param {number} n @returns {string} the last n lines */
function tail(text, n) {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** @returns {string} every apt source file, concatenated ('' when there is no apt) */
function readAptSources() {
  const parts = [readOrNull('/etc/apt/sources.list') ?? ''];
  const dir = '/etc/apt/sources.list.d';
  let names = /** @type {string[]} */ ([]);
  try {
    names = readdirSync(dir);
  } catch {}
  for (const name of names) if (/\.(list|sources)$/.test(name)) parts.push(readOrNull(join(dir, name)) ?? '');
  return parts.join('\n');
}

/** @param {Probe} probe @param {{ adapter?: string, backend?: string }} wanted @returns {AdapterSituation} */
function situation(probe, wanted) {
  const osText = readOrNull('/etc/os-release');
  return {
    probe,
    platform: process.platform,
    os: osText === null ? null : parseOsRelease(osText),
    isRoot: process.getuid?.() === 0,
    aptSources: readAptSources(),
    wanted,
  };
}

/** @param {Step} step */
function runStep(step) {
  say(`${step.say} ...`);
  if (step.write) {
    writeFileSync(step.write.path, step.write.content, { mode: 0o644 });
    return;
  }
  const [cmd, ...args] = step.argv ?? [];
  if (!cmd) return;
  console.log(`  $ ${stepCommand(step, false)}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...step.env } });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    throw new BootstrapError(`\`${stepCommand(step, false)}\` failed (${why}).`);
  }
}

/**
 * Step 2: a usable WebGPU adapter, installing Mesa's Vulkan drivers when that is what is missing.
 * @param {boolean} dryRun
 * @returns {boolean} false in a dry run that would install drivers
 */
function ensureAdapter(dryRun) {
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

/**
 * @param {string} msg
 * @param {Probe} probe
 * @returns {string} msg plus the end of Dawn's stderr, if any, each line once and without the limit warnings
 *   lavapipe always prints ("... artificially reduced from 1000000 to 16 ...")
 */
function withDawnOutput(msg, probe) {
  if (probe.crashed) return msg; // the crash message carries the stderr already
  const lines = [...new Set(probe.stderr.split('\n').filter((l) => l.trim() && !/artificially reduced/.test(l)))];
  return lines.length ? `${msg}\nDawn said:\n${lines.slice(-20).join('\n')}` : msg;
}

/** @returns {string[]} the VISION_DATA_FILES missing from VISION_DATA_DIR (neither plain nor gzipped) */
function missingVisionFiles() {
  return VISION_DATA_FILES.filter((f) => !existsSync(join(VISION_DATA_DIR, f)) && !existsSync(join(VISION_DATA_DIR, f.replace(/\.gz$/, ''))));
}

/**
 * Step 4 (--vision, or called by the ViT trainer): the Fashion-MNIST files, installed with apt when possible.
 * Never throws for a missing dataset: returns whether the files are there, and otherwise what to do.
 * @param {boolean} dryRun
 * @returns {{ ready: boolean, message: string }}
 */
export function ensureVisionData(dryRun) {
  const osText = readOrNull('/etc/os-release');
  const situation = { missing: missingVisionFiles(), os: osText === null ? null : parseOsRelease(osText), isRoot: process.getuid?.() === 0 };
  const plan = planVisionData(situation);
  if (plan.action === 'ok') return { ready: true, message: `Fashion-MNIST: ${VISION_DATA_DIR}` };
  if (plan.action === 'manual') return { ready: false, message: `${plan.reason}. Run:\n\n${plan.commands.join('\n')}\n` };
  if (dryRun) return { ready: false, message: `(dry run) ${plan.reason}; would run:\n${plan.steps.map((st) => stepCommand(st, false)).join('\n')}` };
  say(`${plan.reason}. Installing it with apt.`);
  try {
    for (const step of plan.steps) runStep(step);
  } catch (e) {
    if (!(e instanceof BootstrapError)) throw e;
    return { ready: false, message: `${e.message} Install ${VISION_APT_PACKAGE} yourself, or pass --data DIR with the four IDX files (${VISION_DATA_FILES.join(', ')}).` };
  }
  const still = missingVisionFiles();
  if (still.length > 0) return { ready: false, message: `${VISION_APT_PACKAGE} is installed but ${VISION_DATA_DIR} still lacks ${still.join(', ')}` };
  return { ready: true, message: `Fashion-MNIST installed: ${VISION_DATA_DIR}` };
}

/** @returns {string | null} the Chromium executable the browser test will use */
function findChromium() {
  const env = process.env.SBLD_CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  return CHROMIUM_PATHS.find((p) => existsSync(p)) ?? null;
}

/**
 * Step 5 (--browser): Chromium for the browser test, installed with apt when possible. Never throws for a
 * missing browser (the test names what to install): returns what happened.
 * @param {boolean} dryRun
 * @returns {string}
 */
export function ensureBrowser(dryRun) {
  const osText = readOrNull('/etc/os-release');
  const plan = planBrowser({ found: findChromium(), os: osText === null ? null : parseOsRelease(osText), isRoot: process.getuid?.() === 0 });
  if (plan.action === 'ok') return `Chromium for the browser test: ${findChromium()}`;
  if (plan.action === 'manual') return `${plan.reason}. Run:\n\n${plan.commands.join('\n')}\n`;
  if (dryRun) return `(dry run) ${plan.reason}; would run:\n${plan.steps.map((st) => stepCommand(st, false)).join('\n')}`;
  say(`${plan.reason}. Installing it with apt.`);
  try {
    for (const step of plan.steps) runStep(step);
  } catch (e) {
    if (!(e instanceof BootstrapError)) throw e;
    return `${e.message} The browser test will fail until Chromium is installed (apt-get install -y chromium).`;
  }
  return findChromium() ? `Chromium installed: ${findChromium()}` : 'chromium is installed but no executable was found where the test looks';
}

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
