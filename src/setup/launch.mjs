/**
 * Launcher: what every npm script runs (`exec node src/setup/launch.mjs <entry> [args]`). It runs the bootstrap
 * (./bootstrap.mjs) in this process, then the entry in this same process: a TypeScript file through tsx's loader,
 * or a package's JavaScript bin (vitest). Plain Node ESM with node: builtins only, as node_modules may not exist
 * until the bootstrap has installed it.
 *
 * Why one process: npm passes SIGINT and SIGTERM on to its script's process, and `exec` makes that process this
 * one, so a signal sent to `npm start` reaches the program's own handlers (finish the step, checkpoint, exit 130
 * or 143). The former `bootstrap && tsx ...` ran under `sh -c`, which dies on SIGTERM without passing it on and
 * left the trainer running, orphaned.
 *
 * Run: node src/setup/launch.mjs [bootstrap flags] src/cli/train.ts --steps 10
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runBootstrap } from './bootstrap.mjs';

// The bootstrap's own flags (e.g. --browser for `npm test`) come before the entry.
const argv = process.argv.slice(2);
/** @type {string[]} */
const bootstrapFlags = [];
while (argv[0]?.startsWith('--')) bootstrapFlags.push(/** @type {string} */ (argv.shift()));
const [entry, ...args] = argv;
if (!entry) {
  console.error('usage: node src/setup/launch.mjs [--browser | --vision] <entry.ts | bin.mjs> [args]');
  process.exit(2);
}
const code = runBootstrap(bootstrapFlags);
if (code !== 0) process.exit(code);

const path = resolve(entry);
if (path.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
// The program sees itself as the script Node ran, with its own arguments (commander reads process.argv).
process.argv = [process.argv[0], path, ...args];
await import(pathToFileURL(path).href);
