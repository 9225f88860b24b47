/**
 * Tests for src/setup/bootstrap.mjs: the fast path end to end (packages present, adapter found), the no-adapter
 * path as a dry run, and the pure decision helpers (lockfile staleness, which driver fix to plan) on fake inputs.
 * Nothing here installs anything: the end-to-end tests require node_modules to be fresh already (`npm test` runs
 * the bootstrap first), since an `npm ci` under a running vitest would pull node_modules out from under it.
 *
 * Run: npx vitest run --config test/vitest.config.ts test/bootstrap.test.ts
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  planBrowser,
  adapterLine,
  aptHasSuite,
  findListed,
  mesaVersion,
  npmInstallPlan,
  parseAdapterList,
  parseOsRelease,
  planAdapterFix,
  probeAdapter,
  readNpmState,
  sha256Hex,
  stepCommand,
  type AdapterSituation,
  type NpmState,
  type Probe,
  type ProbedAdapter,
} from '../src/setup/bootstrap.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = join(ROOT, 'src', 'setup', 'bootstrap.mjs');

/** Runs the bootstrap as `npm test` does, with env overrides (undefined deletes a variable). */
function runBootstrap(args: string[], env: Record<string, string | undefined> = {}) {
  const merged: NodeJS.ProcessEnv = { ...process.env, SBLD_SKIP_BOOTSTRAP: undefined, ...env };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, env: merged, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, ms: performance.now() - t0 };
}

function expectFreshNodeModules() {
  const plan = npmInstallPlan(readNpmState(ROOT));
  expect(plan.install, `node_modules is not fresh (${plan.reason}): run \`node src/setup/bootstrap.mjs\` first`).toBe(false);
}

describe('bootstrap end to end', () => {
  it('fast path: exits 0 within a few seconds and names the adapter', () => {
    expectFreshNodeModules();
    const r = runBootstrap([]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/^bootstrap: WebGPU adapter: .+ features: /m);
    expect(r.out).not.toMatch(/installing/);
    expect(r.ms).toBeLessThan(5000);
  });

  it('SBLD_SKIP_BOOTSTRAP=1 skips everything', () => {
    const r = runBootstrap([], { SBLD_SKIP_BOOTSTRAP: '1' });
    expect(r.status).toBe(0);
    expect(r.out.trim()).toBe('bootstrap: skipped (SBLD_SKIP_BOOTSTRAP=1)');
  });

  it.skipIf(process.platform !== 'linux')('no Vulkan driver: a dry run plans the Mesa install and changes nothing', () => {
    expectFreshNodeModules();
    // Pointing the Vulkan loader at a missing driver manifest hides every Vulkan driver from Dawn.
    const r = runBootstrap(['--dry-run'], {
      VK_ICD_FILENAMES: '/nonexistent/sbld-icd.json',
      VK_DRIVER_FILES: '/nonexistent/sbld-icd.json',
      SBLD_BACKEND: 'vulkan',
      SBLD_ADAPTER: undefined,
    });
    expect(r.out).toMatch(/no WebGPU adapter/);
    expect(r.out).toMatch(/mesa-vulkan-drivers/);
    expect(r.out).not.toMatch(/^bootstrap: WebGPU adapter:/m);
  });
});

describe('adapter probe (child process)', () => {
  it('reports the null backend when asked for it', () => {
    const probe = probeAdapter({ backend: 'null' });
    expect(probe.crashed).toBeNull();
    expect(probe.adapter?.device).toBe('null-backend');
    expect(probe.listed).toEqual([{ backend: 'null', name: 'Null backend' }]);
  });

  it('an SBLD_ADAPTER that matches nothing fails without planning a driver install', () => {
    const probe = probeAdapter({ adapter: 'sbld-no-such-adapter' });
    expect(probe.adapter).toBeNull();
    expect(probe.requestError).toMatch(/no suitable backends found|no adapter/);
    const plan = planAdapterFix(situation(probe, { wanted: { adapter: 'sbld-no-such-adapter' } }));
    // With adapters present it is a typo to fix; with none at all, installing drivers is the right plan.
    expect(plan.action).toBe(probe.listed.length > 0 ? 'fail' : 'install');
  });
});

describe('npm staleness', () => {
  const lock = sha256Hex('{"lockfileVersion":3}');
  const fresh: NpmState = { hasNodeModules: true, hasLockfile: true, currentSha: lock, stampedSha: `${lock}\n`, missingPackages: [] };

  it('sha256Hex matches a known digest', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('fresh node_modules needs nothing', () => {
    expect(npmInstallPlan(fresh)).toEqual({ install: false, args: ['ci'], reason: '' });
  });

  it('installs when node_modules is missing, unstamped, stamped for another lockfile, or incomplete', () => {
    const cases: [Partial<NpmState>, RegExp][] = [
      [{ hasNodeModules: false, stampedSha: null }, /node_modules is missing/],
      [{ stampedSha: null }, /not installed by the bootstrap/],
      [{ stampedSha: sha256Hex('older lockfile') }, /package-lock.json changed/],
      [{ missingPackages: ['webgpu'] }, /lacks webgpu/],
    ];
    for (const [change, reason] of cases) {
      const plan = npmInstallPlan({ ...fresh, ...change });
      expect(plan.install).toBe(true);
      expect(plan.args).toEqual(['ci']);
      expect(plan.reason).toMatch(reason);
    }
  });

  it('uses npm install, and the package.json hash, when there is no lockfile', () => {
    const pkg = sha256Hex('{"name":"x"}');
    expect(npmInstallPlan({ ...fresh, hasLockfile: false, currentSha: pkg, stampedSha: pkg })).toMatchObject({ install: false });
    const plan = npmInstallPlan({ ...fresh, hasLockfile: false, currentSha: pkg, stampedSha: lock });
    expect(plan).toMatchObject({ install: true, args: ['install'] });
    expect(plan.reason).toMatch(/package.json changed/);
  });

  it('readNpmState hashes this project lockfile', () => {
    const s = readNpmState(ROOT);
    expect(s.hasLockfile).toBe(true);
    expect(s.currentSha).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('parsers', () => {
  it('parses /etc/os-release', () => {
    const os = parseOsRelease('PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n');
    expect(os).toEqual({ id: 'ubuntu', idLike: ['debian'], codename: 'noble', prettyName: 'Ubuntu 24.04.1 LTS' });
  });

  it('finds an apt suite in one-line and deb822 sources, not in comments', () => {
    expect(aptHasSuite('deb http://deb.debian.org/debian bookworm-backports main', 'bookworm-backports')).toBe(true);
    expect(aptHasSuite('Types: deb\nSuites: bookworm-backports\n', 'bookworm-backports')).toBe(true);
    expect(aptHasSuite('# deb http://deb.debian.org/debian bookworm-backports main', 'bookworm-backports')).toBe(false);
    expect(aptHasSuite('Suites: bookworm bookworm-updates', 'bookworm-backports')).toBe(false);
  });

  it("parses dawn.node's adapter listing", () => {
    const text = "no suitable backends found\nAvailable adapters:\n * backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)'\n * backend: 'null', name: 'Null backend'";
    expect(parseAdapterList(text)).toEqual([
      { backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
      { backend: 'null', name: 'Null backend' },
    ]);
    expect(parseAdapterList('')).toEqual([]);
  });

  it('reads the Mesa version from a description', () => {
    expect(mesaVersion('llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1')).toEqual({ major: 25, minor: 0, text: '25.0.7' });
    expect(mesaVersion('NVIDIA 550.54')).toBeNull();
  });
});

const lavapipe25: ProbedAdapter = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
  backend: null,
  isFallbackAdapter: true,
  features: ['timestamp-query', 'shader-f16', 'subgroups'],
};
const lavapipeListed = [{ backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)' }];

describe('adapter line', () => {
  it('names the adapter by its listed name, backend and driver', () => {
    expect(findListed(lavapipe25, [{ backend: 'null', name: 'Null backend' }, ...lavapipeListed])).toEqual(lavapipeListed[0]);
    expect(adapterLine(lavapipe25, lavapipeListed)).toBe(
      'bootstrap: WebGPU adapter: llvmpipe (LLVM 15.0.6, 256 bits) [vulkan, lavapipe, Mesa 25.0.7] features: timestamp-query shader-f16 subgroups',
    );
  });

  it('lists missing optional features', () => {
    const gpu: ProbedAdapter = { vendor: 'nvidia', architecture: 'ampere', device: 'nvidia-a100', description: 'NVIDIA A100', backend: 'vulkan', isFallbackAdapter: false, features: ['timestamp-query'] };
    expect(adapterLine(gpu, [])).toBe('bootstrap: WebGPU adapter: NVIDIA A100 [vulkan, nvidia ampere] features: timestamp-query (missing: shader-f16 subgroups)');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Driver-fix decisions on fake probes
// ---------------------------------------------------------------------------------------------------------------

const BOOKWORM = parseOsRelease('ID=debian\nVERSION_CODENAME=bookworm\n');
const UBUNTU = parseOsRelease('ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n');
const FEDORA = parseOsRelease('ID=fedora\nVERSION_CODENAME=\n');
const BACKPORTS = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n';

function probeOf(p: Partial<Probe>): Probe {
  return { adapter: null, requestError: null, deviceError: null, listed: [], driverRejected: false, crashed: null, stderr: '', ...p };
}

function situation(probe: Probe, s: Partial<AdapterSituation> = {}): AdapterSituation {
  return { probe, platform: 'linux', os: BOOKWORM, isRoot: true, aptSources: BACKPORTS, wanted: {}, ...s };
}

function commandsOf(s: AdapterSituation): string[] {
  const plan = planAdapterFix(s);
  if (plan.action === 'install') return plan.steps.map((st) => stepCommand(st, false));
  if (plan.action === 'manual') return plan.commands;
  throw new Error(`expected a plan with commands, got ${JSON.stringify(plan)}`);
}

const noAdapter = probeOf({});

describe('planAdapterFix', () => {
  it('does nothing when the adapter opens', () => {
    expect(planAdapterFix(situation(probeOf({ adapter: lavapipe25, listed: lavapipeListed })))).toEqual({ action: 'ok' });
  });

  it('bookworm as root: adds bookworm-backports when missing, then installs from it', () => {
    const plan = planAdapterFix(situation(noAdapter, { aptSources: 'Suites: bookworm bookworm-updates\n' }));
    expect(plan.action).toBe('install');
    if (plan.action !== 'install') return;
    expect(plan.steps[0]?.write?.path).toBe('/etc/apt/sources.list.d/bookworm-backports.sources');
    expect(plan.steps[0]?.write?.content).toContain('Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg');
    expect(plan.steps.slice(1).map((st) => stepCommand(st, false))).toEqual([
      'apt-get update',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1',
    ]);
  });

  it('bookworm with backports already configured: no source file step', () => {
    expect(commandsOf(situation(noAdapter))).toEqual([
      'apt-get update',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1',
    ]);
  });

  it('Dawn rejecting Mesa 22 lavapipe plans the same backports install', () => {
    const rejected = probeOf({ driverRejected: true, stderr: 'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.' });
    const plan = planAdapterFix(situation(rejected));
    expect(plan.action).toBe('install');
    if (plan.action === 'install') expect(plan.reason).toMatch(/rejected/);
  });

  it('lavapipe from Mesa 22 that fails to open a device plans the install; another adapter failing does not', () => {
    const mesa22 = { ...lavapipe25, description: 'llvmpipe: Mesa 22.3.6 (LLVM 15.0.6) 0.0.1' };
    const plan = planAdapterFix(situation(probeOf({ adapter: mesa22, deviceError: 'device lost' })));
    expect(plan.action).toBe('install');
    expect(planAdapterFix(situation(probeOf({ adapter: lavapipe25, deviceError: 'device lost' }))).action).toBe('fail');
  });

  it('other Debian-like releases install without -t', () => {
    expect(commandsOf(situation(noAdapter, { os: UBUNTU, aptSources: '' }))).toEqual([
      'apt-get update',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y mesa-vulkan-drivers libvulkan1',
    ]);
  });

  it('not root: prints the commands with sudo instead of running them', () => {
    const plan = planAdapterFix(situation(noAdapter, { isRoot: false, aptSources: '' }));
    expect(plan.action).toBe('manual');
    if (plan.action !== 'manual') return;
    expect(plan.commands[0]).toMatch(/^sudo tee \/etc\/apt\/sources.list.d\/bookworm-backports.sources /);
    expect(plan.commands.slice(1)).toEqual([
      'sudo apt-get update',
      'sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1',
    ]);
  });

  it('not Debian/Ubuntu: prints guidance, runs nothing', () => {
    expect(planAdapterFix(situation(noAdapter, { os: FEDORA })).action).toBe('manual');
    expect(planAdapterFix(situation(noAdapter, { os: null })).action).toBe('manual');
    expect(planAdapterFix(situation(noAdapter, { platform: 'darwin', os: null })).action).toBe('fail');
  });

  it('a selection that matches no existing adapter, or a non-Vulkan backend, is not fixed by installing Mesa', () => {
    const typo = probeOf({ requestError: 'no suitable backends found', listed: lavapipeListed });
    const plan = planAdapterFix(situation(typo, { wanted: { adapter: 'nvidia' } }));
    expect(plan.action).toBe('fail');
    if (plan.action === 'fail') expect(plan.reason).toContain("'llvmpipe (LLVM 15.0.6, 256 bits)' (vulkan)");
    expect(planAdapterFix(situation(noAdapter, { wanted: { backend: 'opengles' } })).action).toBe('fail');
    const bogus = probeOf({ requestError: "unrecognised backend 'bogus'" });
    expect(planAdapterFix(situation(bogus, { wanted: { backend: 'bogus' } })).action).toBe('fail');
  });

  it('a crashed probe fails with its message', () => {
    const plan = planAdapterFix(situation(probeOf({ crashed: 'killed by SIGSEGV' })));
    expect(plan).toEqual({ action: 'fail', reason: 'the WebGPU probe failed: killed by SIGSEGV' });
  });
});

describe('planBrowser', () => {
  it('does nothing when a Chromium is there', () => {
    expect(planBrowser({ found: '/usr/bin/chromium', os: BOOKWORM, isRoot: false })).toEqual({ action: 'ok' });
  });
  it('installs Debian\'s chromium with apt as root, and prints the sudo commands otherwise', () => {
    const root = planBrowser({ found: null, os: BOOKWORM, isRoot: true });
    expect(root.action).toBe('install');
    if (root.action === 'install') expect(root.steps.map((s) => s.argv?.join(' '))).toEqual(['apt-get update', 'apt-get install -y --no-install-recommends chromium']);
    const user = planBrowser({ found: null, os: UBUNTU, isRoot: false });
    expect(user.action).toBe('manual');
    if (user.action === 'manual') expect(user.commands.join('\n')).toMatch(/sudo .*apt-get install -y --no-install-recommends chromium/);
  });
  it('elsewhere says to point SBLD_CHROMIUM at a browser', () => {
    const p = planBrowser({ found: null, os: FEDORA, isRoot: true });
    expect(p.action).toBe('manual');
    if (p.action === 'manual') expect(p.commands).toEqual(['export SBLD_CHROMIUM=/path/to/chromium']);
  });
});
