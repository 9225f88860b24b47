/**
 * Fashion-MNIST for `npm start -- --task vit` without --data: when the default location lacks it, the setup
 * script installs it (`node src/setup/bootstrap.mjs --vision`) in its own process, so nothing on the training
 * path imports the installer; SBLD_SKIP_BOOTSTRAP=1 leaves the environment alone.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DataError } from '../../io/data-errors.js';
import { FASHION_MNIST_DIR, missingIdxFiles } from './data.js';

export function ensureDefaultVisionData(): void {
  if (missingIdxFiles(FASHION_MNIST_DIR).length === 0 || process.env.SBLD_SKIP_BOOTSTRAP === '1') return;
  const script = fileURLToPath(new URL('../../setup/bootstrap.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [script, '--vision'], { stdio: 'inherit' });
  const missing = missingIdxFiles(FASHION_MNIST_DIR);
  if (r.status !== 0 || missing.length > 0) {
    throw new DataError(`Fashion-MNIST is not in ${FASHION_MNIST_DIR} (missing ${missing.join(', ')}) and the setup could not install it.\nOr pass --data DIR with the four IDX files.`);
  }
}
