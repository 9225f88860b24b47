/**
 * What every set-up step shares: the project root, the `bootstrap:` line, the error that stops the bootstrap with
 * its message, the host facts the steps decide on (/etc/os-release, root, apt sources), and install steps (a
 * command to run or a file to write) that run here or are shown as commands to paste. Plain Node ESM, node:
 * builtins only (it runs before node_modules exists).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Stops the bootstrap: its message is printed as the reason (no stack). */
export class BootstrapError extends Error {}

/** @param {string} msg */
export function say(msg) {
  console.log(`bootstrap: ${msg}`);
}

/**
 * @param {import('node:child_process').SpawnSyncReturns<string | Buffer>} r a finished child process that failed
 * @returns {string} why: its spawn error, the signal that killed it, or its exit code
 */
export function exitReason(r) {
  return r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
}

/** @param {string} path @returns {string | null} */
export function readOrNull(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------------------------
// The host

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

/** @returns {OsRelease | null} this machine's /etc/os-release, null when absent */
export function hostOs() {
  const osText = readOrNull('/etc/os-release');
  return osText === null ? null : parseOsRelease(osText);
}

/** @returns {boolean} running as root (what an apt install needs) */
export function isRoot() {
  return process.getuid?.() === 0;
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

/** @returns {string} every apt source file, concatenated ('' when there is no apt) */
export function readAptSources() {
  const parts = [readOrNull('/etc/apt/sources.list') ?? ''];
  const dir = '/etc/apt/sources.list.d';
  let names = /** @type {string[]} */ ([]);
  try {
    names = readdirSync(dir);
  } catch {}
  for (const name of names) if (/\.(list|sources)$/.test(name)) parts.push(readOrNull(join(dir, name)) ?? '');
  return parts.join('\n');
}

// ------------------------------------------------------------------------------------------------------------
// Install steps

/**
 * One step of an install: a command to run, or a file to write.
 * @typedef {object} Step
 * @property {string} say   printed before the step
 * @property {string[]} [argv]
 * @property {Record<string, string>} [env]
 * @property {{ path: string, content: string }} [write]
 */

/**
 * What to do about one missing piece: nothing, run install steps, or tell the user what to run.
 * @typedef {{ action: 'ok' } | { action: 'install', reason: string, steps: Step[] } | { action: 'manual', reason: string, commands: string[] }} InstallPlan
 */

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

/** @param {Step} step */
export function runStep(step) {
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
    const why = exitReason(r);
    throw new BootstrapError(`\`${stepCommand(step, false)}\` failed (${why}).`);
  }
}

/**
 * Installing one Debian package: with apt as root, the sudo commands otherwise; null where there is no apt (the
 * caller says what to do there).
 * @param {{ reason: string, os: OsRelease | null, isRoot: boolean }} s
 * @param {string} what        the step's words, e.g. 'Chromium (chromium, about 100 MB with its libraries)'
 * @param {string[]} aptArgs   after `apt-get install -y`: options, then the package
 * @returns {InstallPlan | null}
 */
export function aptPackagePlan(s, what, aptArgs) {
  if (!s.os || !isDebianLike(s.os)) return null;
  /** @type {Step[]} */
  const steps = [
    { say: 'updating the apt package lists', argv: ['apt-get', 'update'] },
    { say: `installing ${what}`, argv: ['apt-get', 'install', '-y', ...aptArgs], env: { DEBIAN_FRONTEND: 'noninteractive' } },
  ];
  if (s.isRoot) return { action: 'install', reason: s.reason, steps };
  return { action: 'manual', reason: s.reason, commands: steps.map((st) => stepCommand(st, true)) };
}

/**
 * Carries out a plan that is not 'ok' where it may, for a step that never stops the bootstrap itself: returns
 * null once its install steps ran, otherwise what to tell the user (the commands to run, a dry run's plan, or a
 * failed step's error followed by `onFail`).
 * @param {Exclude<InstallPlan, { action: 'ok' }>} plan
 * @param {boolean} dryRun
 * @param {string} onFail
 * @returns {string | null}
 */
export function carryOut(plan, dryRun, onFail) {
  if (plan.action === 'manual') return `${plan.reason}. Run:\n\n${plan.commands.join('\n')}\n`;
  if (dryRun) return `(dry run) ${plan.reason}; would run:\n${plan.steps.map((st) => stepCommand(st, false)).join('\n')}`;
  say(`${plan.reason}. Installing it with apt.`);
  try {
    for (const step of plan.steps) runStep(step);
  } catch (e) {
    if (!(e instanceof BootstrapError)) throw e;
    return `${e.message} ${onFail}`;
  }
  return null;
}
