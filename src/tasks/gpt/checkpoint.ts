/**
 * Training checkpoints: one folder, written atomically (see `atomic.ts`), holding
 *   model.safetensors      F32 parameters under HF GPT-2 names and shapes (`gpt2TensorSpecs`), metadata
 *                          {"format": "pt"} as `transformers` expects
 *   config.json            HF GPT2Config, so `GPT2LMHeadModel.from_pretrained(dir)` loads the weights
 *   optimizer.safetensors  AdamW moments: `m.<param name>` and `v.<param name>`, each shaped like the parameter
 *   trainer_state.json     the trainer's own state (step, RNG, data loader, config, layer-dropping policy,
 *                          metrics): opaque JSON to this module
 *   MANIFEST.json          sizes and sha256 of the files above, written last (marks the folder complete)
 *
 * Loading validates everything and reports all problems at once: missing files, JSON syntax, size and hash
 * against the manifest (truncation, corruption), and every tensor's name, dtype and shape against the config,
 * e.g. "transformer.h.0.attn.c_attn.weight: shape [64, 192] in file, model expects [64, 96]".
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AtomicOptions,
  type Manifest,
  readManifest,
  resolveCheckpointDir,
  verifyManifestEntry,
  writeDirAtomic,
} from '../../io/atomic.js';
import { CheckpointError } from '../../io/errors.js';

export { CheckpointError };
import {
  diffGpt2Config,
  type Gpt2Config,
  gpt2TensorSpecs,
  parseGpt2ConfigJson,
  type TensorSpec,
} from './hf-gpt2.js';
import { CONFIG_FILE, fmt, gpt2ModelFileBytes, listNames, MODEL_FILE, tensorsForSave } from './model-files.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../io/safetensors.js';

export { CONFIG_FILE, MODEL_FILE } from './model-files.js';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';

/** Largest typed array Node 20 can allocate, hence the largest checkpoint file it can read or write. */
const MAX_FILE_BYTES = 2 ** 32;

/** Everything a training run needs to resume. Arrays are flat, row-major, shaped as `gpt2TensorSpecs` says. */
export interface Checkpoint {
  modelConfig: Gpt2Config;
  /** HF parameter name -> values. */
  params: Record<string, Float32Array>;
  /** `m.<param name>` / `v.<param name>` -> AdamW first / second moment. */
  optimizer: Record<string, Float32Array>;
  /** Any JSON value (plain objects, arrays, strings, finite numbers, booleans, null); returned deep-equal. */
  trainerState: unknown;
}

/** The weights alone, for evaluation and sampling. */
export interface ModelWeights {
  modelConfig: Gpt2Config;
  params: Record<string, Float32Array>;
}

/** The optimizer tensors for a model: `m.<name>` for every parameter, then `v.<name>`, same shapes. */
export function optimizerTensorSpecs(cfg: Gpt2Config): TensorSpec[] {
  const params = gpt2TensorSpecs(cfg);
  return ['m', 'v'].flatMap((p) => params.map((s) => ({ ...s, name: `${p}.${s.name}` })));
}


/** Problems with decoded tensors against `specs` (missing, unexpected, wrong dtype or shape); returns arrays. */
function tensorsFromFile(
  tensors: Record<string, Tensor>,
  specs: TensorSpec[],
  file: string,
  problems: string[],
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  const missing: string[] = [];
  for (const s of specs) {
    const t = tensors[s.name];
    if (t === undefined) {
      missing.push(s.name);
    } else if (t.dtype !== 'F32') {
      problems.push(`${file}: ${s.name}: dtype ${t.dtype} in file, expected F32`);
    } else if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
      problems.push(`${file}: ${s.name}: shape ${fmt(t.shape)} in file, model expects ${fmt(s.shape)}`);
    } else {
      out[s.name] = t.data;
    }
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = Object.keys(tensors).filter((n) => !known.has(n));
  if (missing.length > 0) problems.push(`${file}: missing ${missing.length} tensors: ${listNames(missing)}`);
  if (extra.length > 0) problems.push(`${file}: unexpected ${extra.length} tensors: ${listNames(extra)}`);
  return out;
}

/** Throws unless `v` survives JSON.stringify/parse unchanged; names the path of the first offending value. */
function checkPlainJson(v: unknown, path: string): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) {
      throw new CheckpointError(`trainerState${path} is ${v}, which JSON cannot hold (store it as a string or null)`);
    }
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkPlainJson(x, `${path}[${i}]`));
    return;
  }
  const proto = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
  if (proto === Object.prototype || proto === null) {
    for (const [k, x] of Object.entries(v as object)) {
      if (x === undefined) throw new CheckpointError(`trainerState${path}.${k} is undefined, which JSON drops`);
      checkPlainJson(x, `${path}.${k}`);
    }
    return;
  }
  const kind = typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
  throw new CheckpointError(`trainerState${path} is a ${kind}, not plain JSON (convert typed arrays with Array.from)`);
}

/**
 * Writes a training checkpoint folder atomically: a kill at any moment leaves the previous checkpoint or this
 * one, never a mix. Refuses (before writing anything) parameters or moments that do not match
 * `gpt2TensorSpecs(modelConfig)`, and a trainer state that is not plain JSON.
 * Cost: params + 2 x params of F32 written once and hashed once.
 */
export async function saveCheckpoint(dir: string, ckpt: Checkpoint, opts: AtomicOptions = {}): Promise<void> {
  const specs = gpt2TensorSpecs(ckpt.modelConfig);
  const problems: string[] = [];
  const params = tensorsForSave(ckpt.params, specs, 'params', problems);
  const moments = tensorsForSave(ckpt.optimizer, optimizerTensorSpecs(ckpt.modelConfig), 'optimizer', problems);
  if (problems.length > 0) throw new CheckpointError(`refusing to save:\n  ${problems.join('\n  ')}`, dir);
  checkPlainJson(ckpt.trainerState, '');

  await writeDirAtomic(
    dir,
    {
      ...gpt2ModelFileBytes(ckpt.modelConfig, params),
      [OPTIMIZER_FILE]: encodeSafetensors(moments, { format: 'pt', content: 'AdamW moments m.<param>, v.<param>' }),
      [TRAINER_STATE_FILE]: `${JSON.stringify(ckpt.trainerState, null, 1)}\n`,
    },
    opts,
  );
}

/**
 * Reads a whole file in 1 GiB chunks: `fs.readFile` stops at 2 GiB, which an optimizer file passes at ~270M
 * parameters. One typed array holds at most 4 GiB, so that is the limit per file.
 */
async function readWhole(path: string): Promise<Uint8Array> {
  const fh = await fsp.open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > MAX_FILE_BYTES) throw new CheckpointError(`${size} bytes; one file can hold at most 4 GiB here`, path);
    const out = new Uint8Array(size);
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(out, pos, Math.min(size - pos, 1 << 30), pos);
      if (bytesRead === 0) break; // the file shrank while being read: the checks below see it short
      pos += bytesRead;
    }
    return out.subarray(0, pos);
  } finally {
    await fh.close();
  }
}

/** Reads the files of a resolved checkpoint folder, checking each against the manifest when there is one. */
class FolderReader {
  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  /** Throws one error listing every required file that is missing. */
  async requireFiles(names: string[]): Promise<void> {
    const missing: string[] = [];
    for (const n of names) {
      try {
        await fsp.access(join(this.dir, n));
      } catch {
        missing.push(n);
      }
    }
    if (missing.length > 0) throw new CheckpointError(`missing ${missing.join(', ')}`, this.dir);
  }

  async bytes(name: string): Promise<Uint8Array> {
    const bytes = await readWhole(join(this.dir, name));
    verifyManifestEntry(this.manifest, this.dir, name, bytes);
    return bytes;
  }

  async json(name: string): Promise<unknown> {
    const text = new TextDecoder().decode(await this.bytes(name));
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new CheckpointError(`not valid JSON (corrupted?): ${(e as Error).message}`, join(this.dir, name));
    }
  }

  async safetensors(name: string): Promise<Record<string, Tensor>> {
    return decodeSafetensors(await this.bytes(name), join(this.dir, name)).tensors;
  }
}

/**
 * Resolves `dir` (recovering from a crashed save) or throws when there is no checkpoint there. The one MANIFEST
 * policy of every reader (resume, eval, sample): MANIFEST.json must be there, and the files this reader reads
 * (`files`) are checked against it (size here, sha256 as they are read); the others are not looked at, so eval
 * works on a checkpoint whose optimizer file alone is damaged.
 */
async function openFolder(dir: string, files: readonly string[]): Promise<FolderReader> {
  const resolved = await resolveCheckpointDir(dir);
  if (resolved === null) throw new CheckpointError('no checkpoint folder (nor a complete one left by a crashed save)', dir);
  const manifest = await readManifest(resolved, files);
  return new FolderReader(resolved, manifest);
}

/** Reads config.json and checks it against the expected config, if any; returns the config to validate by. */
async function readConfig(
  r: FolderReader,
  expected: Gpt2Config | undefined,
  problems: string[],
): Promise<{ fileConfig: Gpt2Config; specConfig: Gpt2Config }> {
  const fileConfig = parseGpt2ConfigJson(await r.json(CONFIG_FILE), join(r.dir, CONFIG_FILE));
  if (expected === undefined) return { fileConfig, specConfig: fileConfig };
  problems.push(...diffGpt2Config(fileConfig, expected).map((d) => `${CONFIG_FILE}: ${d}`));
  return { fileConfig, specConfig: expected };
}

/** Throws one error listing the problems (the first 24: a wrong config makes every tensor wrong). */
function throwProblems(dir: string, problems: string[]): void {
  if (problems.length === 0) return;
  const max = 24;
  const shown = problems.slice(0, max);
  if (problems.length > max) shown.push(`... and ${problems.length - max} more problems`);
  throw new CheckpointError(`checkpoint does not match the model:\n  ${shown.join('\n  ')}`, dir);
}

/**
 * Loads a training checkpoint folder, recovering first from a save that crashed mid-swap.
 *
 * Validates: all files present and listed in a consistent MANIFEST.json; sizes and sha256 (truncated or
 * corrupted files); JSON syntax; config.json against `expected.modelConfig` when given; every tensor of both
 * safetensors files against `gpt2TensorSpecs` (missing, unexpected, wrong dtype, wrong shape), all listed in
 * one `CheckpointError`.
 */
export async function loadCheckpoint(dir: string, expected?: { modelConfig: Gpt2Config }): Promise<Checkpoint> {
  const files = [CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, TRAINER_STATE_FILE];
  const r = await openFolder(dir, files);
  await r.requireFiles(files);
  const problems: string[] = [];
  const { fileConfig, specConfig } = await readConfig(r, expected?.modelConfig, problems);
  const params = tensorsFromFile(await r.safetensors(MODEL_FILE), gpt2TensorSpecs(specConfig), MODEL_FILE, problems);
  const optimizer = tensorsFromFile(
    await r.safetensors(OPTIMIZER_FILE),
    optimizerTensorSpecs(specConfig),
    OPTIMIZER_FILE,
    problems,
  );
  const trainerState = await r.json(TRAINER_STATE_FILE);
  throwProblems(r.dir, problems);
  return { modelConfig: fileConfig, params, optimizer, trainerState };
}

/**
 * Loads only config.json and model.safetensors (for eval and sampling), with the same checks as
 * `loadCheckpoint` on those two files; the optimizer file and trainer state are not read or checked.
 */
export async function loadModelWeights(dir: string, expected?: { modelConfig: Gpt2Config }): Promise<ModelWeights> {
  const r = await openFolder(dir, [CONFIG_FILE, MODEL_FILE]);
  await r.requireFiles([CONFIG_FILE, MODEL_FILE]);
  const problems: string[] = [];
  const { fileConfig, specConfig } = await readConfig(r, expected?.modelConfig, problems);
  const params = tensorsFromFile(await r.safetensors(MODEL_FILE), gpt2TensorSpecs(specConfig), MODEL_FILE, problems);
  throwProblems(r.dir, problems);
  return { modelConfig: fileConfig, params };
}
