/**
 * The two files of a Hugging Face GPT-2 model, as bytes: config.json (GPT2Config) and model.safetensors (F32
 * parameters under HF names and shapes, metadata {"format": "pt"}). Training checkpoints (checkpoint.ts) write
 * exactly these next to their own files; the browser page offers the same bytes as downloads. No file system here.
 */
import { CheckpointError } from '../../io/errors.js';
import { gpt2ConfigJson, gpt2TensorSpecs, type Gpt2Config, type TensorSpec } from './hf-gpt2.js';
import { encodeSafetensors, type Tensor } from '../../io/safetensors.js';

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

export const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** "a, b, c and 7 more": long name lists stay readable. */
export function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** Problems with flat arrays about to be saved, checked against `specs`; returns the tensors to encode. */
export function tensorsForSave(
  arrays: Record<string, Float32Array>,
  specs: TensorSpec[],
  what: string,
  problems: string[],
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const missing: string[] = [];
  for (const s of specs) {
    const a = arrays[s.name];
    if (a === undefined) {
      missing.push(s.name);
    } else if (!(a instanceof Float32Array)) {
      problems.push(`${s.name}: expected a Float32Array`);
    } else if (a.length !== count(s.shape)) {
      problems.push(`${s.name}: ${a.length} values, model expects shape ${fmt(s.shape)} = ${count(s.shape)}`);
    } else {
      out[s.name] = { dtype: 'F32', shape: s.shape, data: a };
    }
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = Object.keys(arrays).filter((n) => !known.has(n));
  if (missing.length > 0) problems.push(`${what}: missing ${missing.length} tensors: ${listNames(missing)}`);
  if (extra.length > 0) problems.push(`${what}: unexpected ${extra.length} tensors: ${listNames(extra)}`);
  return out;
}

/** config.json and model.safetensors of already-checked tensors. */
export function gpt2ModelFileBytes(modelConfig: Gpt2Config, params: Record<string, Tensor>): { [CONFIG_FILE]: string; [MODEL_FILE]: Uint8Array } {
  return {
    [CONFIG_FILE]: `${JSON.stringify(gpt2ConfigJson(modelConfig), null, 2)}\n`,
    [MODEL_FILE]: encodeSafetensors(params, { format: 'pt' }),
  };
}

/**
 * The HF GPT-2 files of a model's parameters (the names `readWeights` gives), checked against
 * `gpt2TensorSpecs(modelConfig)` first; throws CheckpointError listing every problem.
 */
export function gpt2ModelFiles(modelConfig: Gpt2Config, params: Record<string, Float32Array>): { [CONFIG_FILE]: string; [MODEL_FILE]: Uint8Array } {
  const problems: string[] = [];
  const tensors = tensorsForSave(params, gpt2TensorSpecs(modelConfig), 'params', problems);
  if (problems.length > 0) throw new CheckpointError(`refusing to export:\n  ${problems.join('\n  ')}`);
  return gpt2ModelFileBytes(modelConfig, tensors);
}
