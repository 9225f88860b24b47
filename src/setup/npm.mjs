/**
 * Set-up step 1, npm packages: runs `npm ci` (`npm install` when there is no package-lock.json) if node_modules
 * is missing, lacks a declared package, or was installed from another package-lock.json. After each successful
 * install the sha256 of package-lock.json is stamped into node_modules/.sbld-lock-sha256 and compared on every run.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BootstrapError, exitReason, readOrNull, ROOT, say } from './steps.mjs';

export const STAMP_FILE = '.sbld-lock-sha256';

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
 * node_modules matches package-lock.json, or gets installed.
 * @param {boolean} dryRun
 * @returns {boolean} whether node_modules is ready (false only in a dry run that would install)
 */
export function ensureNpmPackages(dryRun) {
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
    const why = exitReason(r);
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
