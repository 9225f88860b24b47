/**
 * Set-up step 4, with --vision (what `npm start -- --task vit` needs): Fashion-MNIST under
 * /usr/share/datasets/fashion-mnist/, installed as Debian's `dataset-fashion-mnist` package with apt on
 * Debian/Ubuntu as root; elsewhere, or without root, it says what to run (or where to download the files for
 * `--data DIR`). The ViT trainer runs it (src/cli/vision-data.ts) when it is asked for Fashion-MNIST and the files
 * are missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { aptPackagePlan, carryOut, hostOs, isRoot } from './steps.mjs';

/** @typedef {import('./steps.mjs').OsRelease} OsRelease */
/** @typedef {import('./steps.mjs').InstallPlan} VisionPlan */

/** Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST (the ViT reads it there: src/tasks/vit/data.ts). */
export const VISION_DATA_DIR = '/usr/share/datasets/fashion-mnist';
/** The four IDX files (each may also be present uncompressed, without `.gz`). */
export const VISION_DATA_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const VISION_APT_PACKAGE = 'dataset-fashion-mnist';
const VISION_DOWNLOAD_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com';

/**
 * @typedef {object} VisionSituation
 * @property {string[]} missing      the VISION_DATA_FILES absent from VISION_DATA_DIR (neither plain nor .gz)
 * @property {OsRelease | null} os   null when /etc/os-release is absent
 * @property {boolean} isRoot
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
  const apt = aptPackagePlan({ reason, os: s.os, isRoot: s.isRoot }, `Fashion-MNIST (${VISION_APT_PACKAGE}, about 30 MB)`, [VISION_APT_PACKAGE]);
  if (apt) return apt;
  return {
    action: 'manual',
    reason: `${reason}. Download the four files into a folder and pass it to the trainer with --data DIR, for example`,
    commands: ['mkdir -p fashion-mnist && cd fashion-mnist', ...VISION_DATA_FILES.map((f) => `curl -fLO ${VISION_DOWNLOAD_URL}/${f}`)],
  };
}

/** @returns {string[]} the VISION_DATA_FILES missing from VISION_DATA_DIR (neither plain nor gzipped) */
function missingVisionFiles() {
  return VISION_DATA_FILES.filter((f) => !existsSync(join(VISION_DATA_DIR, f)) && !existsSync(join(VISION_DATA_DIR, f.replace(/\.gz$/, ''))));
}

/**
 * The Fashion-MNIST files, installed with apt when possible. Never throws for a missing dataset: returns whether
 * the files are there, and otherwise what to do.
 * @param {boolean} dryRun
 * @returns {{ ready: boolean, message: string }}
 */
export function ensureVisionData(dryRun) {
  const plan = planVisionData({ missing: missingVisionFiles(), os: hostOs(), isRoot: isRoot() });
  if (plan.action === 'ok') return { ready: true, message: `Fashion-MNIST: ${VISION_DATA_DIR}` };
  const onFail = `Install ${VISION_APT_PACKAGE} yourself, or pass --data DIR with the four IDX files (${VISION_DATA_FILES.join(', ')}).`;
  const message = carryOut(plan, dryRun, onFail);
  if (message !== null) return { ready: false, message };
  const still = missingVisionFiles();
  if (still.length > 0) return { ready: false, message: `${VISION_APT_PACKAGE} is installed but ${VISION_DATA_DIR} still lacks ${still.join(', ')}` };
  return { ready: true, message: `Fashion-MNIST installed: ${VISION_DATA_DIR}` };
}
