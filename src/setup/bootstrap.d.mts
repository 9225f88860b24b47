// Types for the helpers bootstrap.mjs exports from its step modules (plain JS: they run before node_modules exists).
// Keep in step with the JSDoc typedefs there; checked with
//   npx tsc --ignoreConfig --noEmit --allowJs --checkJs --strict --types node --module nodenext src/setup/bootstrap.mjs

export declare const STAMP_FILE: string;
export declare const OPTIONAL_FEATURES: string[];
export declare const MIN_LAVAPIPE_MESA: number;

export declare function sha256Hex(data: string | Uint8Array): string;

export interface NpmState {
  hasNodeModules: boolean;
  hasLockfile: boolean;
  /** sha256 of package-lock.json (of package.json when there is no lockfile) */
  currentSha: string;
  /** content of node_modules/.sbld-lock-sha256, null when absent */
  stampedSha: string | null;
  missingPackages: string[];
}
export interface NpmPlan {
  install: boolean;
  args: string[];
  reason: string;
}
export declare function npmInstallPlan(s: NpmState): NpmPlan;
export declare function readNpmState(root: string): NpmState;

export interface OsRelease {
  id: string;
  idLike: string[];
  codename: string;
  prettyName: string;
}
export declare function parseOsRelease(text: string): OsRelease;
export declare function isDebianLike(os: OsRelease | null): boolean;
export declare function aptHasSuite(sourcesText: string, suite: string): boolean;

export interface ListedAdapter {
  backend: string;
  name: string;
}
export declare function parseAdapterList(text: string): ListedAdapter[];

export interface ProbedAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string | null;
  isFallbackAdapter: boolean;
  features: string[];
}
export interface Probe {
  adapter: ProbedAdapter | null;
  requestError: string | null;
  deviceError: string | null;
  listed: ListedAdapter[];
  driverRejected: boolean;
  crashed: string | null;
  stderr: string;
}
export declare function mesaVersion(description: string): { major: number; minor: number; text: string } | null;
export declare function isLavapipe(a: ProbedAdapter): boolean;
export declare function findListed(a: ProbedAdapter, listed: ListedAdapter[]): ListedAdapter | null;
export declare function adapterLine(a: ProbedAdapter, listed: ListedAdapter[]): string;

export interface Step {
  say: string;
  argv?: string[];
  env?: Record<string, string>;
  write?: { path: string; content: string };
}
export type AdapterPlan =
  | { action: 'ok' }
  | { action: 'install'; reason: string; steps: Step[] }
  | { action: 'manual'; reason: string; commands: string[] }
  | { action: 'fail'; reason: string };
export interface AdapterSituation {
  probe: Probe;
  platform: string;
  os: OsRelease | null;
  isRoot: boolean;
  aptSources: string;
  wanted: { adapter?: string; backend?: string };
}
export declare function aptSteps(os: OsRelease, aptSources: string): Step[];
export declare function stepCommand(step: Step, sudo: boolean): string;
export declare function planAdapterFix(s: AdapterSituation): AdapterPlan;
/** Runs the adapter probe in a child node process (about 0.2 s on lavapipe). */
export declare function probeAdapter(wanted: { adapter?: string; backend?: string }): Probe;

export declare const VISION_DATA_DIR: string;
export declare const VISION_DATA_FILES: string[];
export interface VisionSituation {
  /** The VISION_DATA_FILES absent from VISION_DATA_DIR (neither plain nor .gz). */
  missing: string[];
  os: OsRelease | null;
  isRoot: boolean;
}
export type VisionPlan =
  | { action: 'ok' }
  | { action: 'install'; reason: string; steps: Step[] }
  | { action: 'manual'; reason: string; commands: string[] };
export declare function planVisionData(s: VisionSituation): VisionPlan;
/** Installs Fashion-MNIST with apt where it can (Debian/Ubuntu as root); never throws for a missing dataset. */
export declare function ensureVisionData(dryRun: boolean): { ready: boolean; message: string };
/** The whole bootstrap (packages, adapter, with --vision the Fashion-MNIST files); returns the exit code. */
export declare function runBootstrap(args?: string[]): number;
export declare const CHROMIUM_PATHS: string[];
export declare function planBrowser(s: { found: string | null; os: OsRelease | null; isRoot: boolean }): VisionPlan;
export declare function ensureBrowser(dryRun: boolean): string;
