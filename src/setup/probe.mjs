/**
 * The WebGPU adapter probe and how it is described. The probe runs Dawn in a child node process (a crash in
 * dawn.node cannot take the bootstrap down) with the engine's adapter choice (src/runtime/device.ts): env
 * SBLD_ADAPTER, a case-insensitive substring of the adapter name, becomes Dawn's `adapter=` flag, and env
 * SBLD_BACKEND (`vulkan`, `null`, ...) its `backend=` flag. `adapterLine` is the line the bootstrap prints, e.g.
 * `bootstrap: WebGPU adapter: llvmpipe (LLVM 15.0.6, 256 bits) [vulkan, lavapipe, Mesa 25.0.7] features: ...`
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitReason, ROOT } from './steps.mjs';

/** Features the engine uses when present (same list as OPTIONAL_FEATURES in src/runtime/device.ts). */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'];
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

/** @returns {{ adapter?: string, backend?: string }} */
export function wantedAdapter() {
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
    const why = exitReason(r);
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

/**
 * @param {string} msg
 * @param {Probe} probe
 * @returns {string} msg plus the end of Dawn's stderr, if any, each line once and without the limit warnings
 *   lavapipe always prints ("... artificially reduced from 1000000 to 16 ...")
 */
export function withDawnOutput(msg, probe) {
  if (probe.crashed) return msg; // the crash message carries the stderr already
  const lines = [...new Set(probe.stderr.split('\n').filter((l) => l.trim() && !/artificially reduced/.test(l)))];
  return lines.length ? `${msg}\nDawn said:\n${lines.slice(-20).join('\n')}` : msg;
}
