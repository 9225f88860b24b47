/**
 * GPT's checkpoint folders in a browser: there is no file system, so reading or writing one is refused with what
 * to do instead. Replaces ./checkpoint.ts in the browser bundle (a `.browser.ts` file next to a module replaces
 * it there), so the session, which names its checkpoint format, bundles without Node's modules.
 */
import { CheckpointError } from '../../io/errors.js';
import type { Checkpoint } from './checkpoint.js';

const NO_FILES = 'checkpoint folders need a file system (Node); in a browser, save the model as bytes with gpt2ModelFiles';

export async function saveCheckpoint(dir: string): Promise<void> {
  throw new CheckpointError(NO_FILES, dir);
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  throw new CheckpointError(NO_FILES, dir);
}
