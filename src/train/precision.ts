/** The run's matmul precision, from its config and the adapter (src/runtime/choice.ts has the rule). */
import type { Precision } from '../runtime/choice.js';
import type { Engine } from '../runtime/engine.js';
import { ConfigError, type TrainConfig } from './config.js';

/**
 * Sets the engine's precision for this run and returns it: the configured one, or the adapter's rule for 'auto'
 * (or absent). f16 on an adapter without shader-f16 is refused with what to do instead.
 */
export function applyPrecision(e: Engine, wanted: TrainConfig['precision']): Precision {
  if (wanted === 'f16' && !e.choice.halfAvailable) {
    throw new ConfigError(`--precision f16: this adapter (${e.gpu.adapterName}) does not offer shader-f16; use --precision f32 or auto`);
  }
  e.choice.force('precision', wanted === undefined || wanted === 'auto' ? null : wanted);
  return e.choice.get('precision');
}
