/**
 * `--batch-size` against the device: every activation a kernel binds is (B, T, something), and one binding may be
 * at most `maxStorageBufferBindingSize` bytes, so a batch too large fails at its first dispatch. Checked when the
 * session is built, before the first step, with the limit and the largest batch that fits.
 */
import { GpuError } from '../runtime/device.js';
import type { Engine } from '../runtime/engine.js';
import { FLAG_NAMES } from './config.js';

/**
 * Refuses batch size `B` when the widest per-row activation, `rowFloats` f32 values per batch row (e.g. T·max(4C,
 * V) for GPT: the MLP's hidden layer or the logits), would exceed the device's storage-binding limit.
 */
export function checkBatchFits(e: Engine, B: number, rowFloats: number, what: string): void {
  const limit = e.gpu.limits.maxStorageBufferBindingSize;
  const rowBytes = 4 * rowFloats;
  if (B * rowBytes <= limit) return;
  const largest = Math.floor(limit / rowBytes);
  throw new GpuError(
    `${FLAG_NAMES.batchSize} ${B}: ${what} would take ${B * rowBytes} bytes, over this device's storage-buffer binding limit of ${limit} bytes; ` +
      (largest >= 1 ? `the largest batch that fits is ${largest} (use --grad-accum for a larger effective batch)` : 'not even one row fits: use a smaller model'),
  );
}
