/**
 * Environment variables where there is an environment: under Node `process.env`, in a browser nothing (every
 * variable reads as unset). Modules that must also run in a page read settings such as `DEBUG` through here.
 */
const env: Record<string, string | undefined> =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};

/** The variable's value, or undefined when unset or when there is no environment (a browser). */
export function envVar(name: string): string | undefined {
  return env[name];
}

/** The `DEBUG` level: 0 when unset or not a number. */
export function debugLevel(): number {
  return Number(envVar('DEBUG') ?? 0) || 0;
}
