/**
 * Reading a `--config` JSON file: the one part of the training config that needs a file system (so the config
 * code also runs in a browser). It knows every shared key and every registered task's own keys.
 */
import { readFileSync } from 'node:fs';
import { taskConfigKeys } from '../tasks/index.js';
import { ConfigError, FLAG_NAMES, type TrainConfig } from '../train/config.js';

/** Reads a `--config` JSON file (keys as in TrainConfig or a task's own, `drop` as a block). */
export function readConfigFile(path: string): Partial<TrainConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--config ${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`--config ${path}: expected a JSON object`);
  const drop = (json as { drop?: unknown }).drop;
  if (drop !== undefined && (drop === null || typeof drop !== 'object' || Array.isArray(drop))) {
    const hint = typeof drop === 'string' ? ` such as {"policy": ${JSON.stringify(drop)}}` : ' such as {"policy": "sbld"}';
    throw new ConfigError(`--config ${path}: "drop" must be an object${hint}, got ${JSON.stringify(drop)}`);
  }
  const known = new Set([...Object.keys(FLAG_NAMES), ...taskConfigKeys()]);
  const unknown = Object.keys(json).filter((k) => !known.has(k));
  if (unknown.length) throw new ConfigError(`--config ${path}: unknown key(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  return json as Partial<TrainConfig>;
}
