/**
 * ViT training checkpoints: one folder written atomically by `writeDirAtomic` (src/io/atomic.ts), as GPT's:
 *   model.safetensors      F32 parameters under timm names and shapes (`vitTensorSpecs(...).fileShape`: linear
 *                          weights (out, in), the patch embedding as a Conv2d weight (C, 1, P, P), pos_embed
 *                          (1, T, C)), metadata {"format": "pt"}
 *   config.json            the model's sizes in timm's argument names, plus the input normalisation and labels
 *   optimizer.safetensors  AdamW moments `m.<name>`, `v.<name>`, each in its parameter's file shape
 *   trainer_state.json     the trainer's own state, opaque here
 *   MANIFEST.json          sizes and sha256 of the files above, written last
 *
 * On the device linear weights are (in, out), so saving transposes them and loading transposes back.
 * Loading validates everything and reports all problems at once (missing, unexpected, wrong dtype or shape).
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest, resolveCheckpointDir, verifyManifestEntry, writeDirAtomic, type Manifest } from '../../io/atomic.js';
import { CheckpointError } from '../../io/errors.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../io/safetensors.js';
import { FASHION_MNIST_CLASSES, PIXEL_MEAN, PIXEL_STD } from './data.js';
import { checkVitConfig, vitTensorSpecs, type VitConfig, type VitTensorSpec } from './model.js';

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';

/** A ViT checkpoint in memory; arrays are flat, in the DEVICE layout of `vitTensorSpecs(...).shape`. */
export interface VitCheckpoint {
  modelConfig: VitConfig;
  params: Record<string, Float32Array>;
  /** `m.<name>` / `v.<name>`; may be empty when only weights are wanted. */
  optimizer: Record<string, Float32Array>;
  trainerState: unknown;
}

/** (rows, cols) row-major -> its transpose (cols, rows). */
export function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

/** Device layout -> file layout of one tensor. */
function toFile(s: VitTensorSpec, a: Float32Array): Float32Array {
  return s.transpose ? transpose2d(a, s.shape[0]!, s.shape[1]!) : a;
}

/** File layout -> device layout of one tensor. */
function fromFile(s: VitTensorSpec, a: Float32Array): Float32Array {
  return s.transpose ? transpose2d(a, s.shape[1]!, s.shape[0]!) : a;
}

/** config.json: timm's `VisionTransformer` argument names for the sizes, and what a user needs to feed it. */
export function vitConfigJson(cfg: VitConfig): Record<string, unknown> {
  checkVitConfig(cfg);
  return {
    model_type: 'vit',
    architecture: 'vit_sbld',
    img_size: cfg.image_size,
    patch_size: cfg.patch_size,
    in_chans: 1,
    num_classes: cfg.n_classes,
    embed_dim: cfg.n_embd,
    depth: cfg.n_layer,
    num_heads: cfg.n_head,
    mlp_ratio: 4.0,
    qkv_bias: true,
    class_token: false,
    global_pool: 'avg',
    fc_norm: true,
    act_layer: 'gelu_tanh',
    norm_eps: 1e-5,
    pixel_mean: [PIXEL_MEAN],
    pixel_std: [PIXEL_STD],
    label_names: cfg.n_classes === FASHION_MNIST_CLASSES.length ? FASHION_MNIST_CLASSES : undefined,
  };
}

/** Reads config.json back (sizes only), refusing a file that is not this model's. */
export function parseVitConfigJson(json: unknown, source = CONFIG_FILE): VitConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CheckpointError('not a JSON object', source);
  const j = json as Record<string, unknown>;
  const problems: string[] = [];
  if (j.model_type !== 'vit') problems.push(`model_type is ${JSON.stringify(j.model_type)}, expected "vit"`);
  for (const k of ['img_size', 'patch_size', 'num_classes', 'embed_dim', 'depth', 'num_heads']) {
    if (!Number.isSafeInteger(j[k])) problems.push(`${k} is ${JSON.stringify(j[k])}, expected an integer`);
  }
  if (j.in_chans !== undefined && j.in_chans !== 1) problems.push(`in_chans is ${JSON.stringify(j.in_chans)}; this engine supports 1`);
  if (j.mlp_ratio !== undefined && j.mlp_ratio !== 4) problems.push(`mlp_ratio is ${JSON.stringify(j.mlp_ratio)}; this engine supports 4`);
  if (problems.length) throw new CheckpointError(problems.join('; '), source);
  const cfg: VitConfig = {
    n_layer: j.depth as number,
    n_head: j.num_heads as number,
    n_embd: j.embed_dim as number,
    image_size: j.img_size as number,
    patch_size: j.patch_size as number,
    n_classes: j.num_classes as number,
  };
  try {
    checkVitConfig(cfg);
  } catch (e) {
    throw new CheckpointError((e as Error).message, source);
  }
  return cfg;
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Device arrays -> safetensors tensors in file layout; problems (missing, wrong length, extra) are collected. */
function encodeGroup(arrays: Record<string, Float32Array>, specs: VitTensorSpec[], prefix: string, problems: string[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const s of specs) {
    const name = prefix + s.name;
    const a = arrays[name];
    if (a === undefined) problems.push(`${name}: missing`);
    else if (a.length !== count(s.shape)) problems.push(`${name}: ${a.length} values, model expects ${fmt(s.shape)}`);
    else out[name] = { dtype: 'F32', shape: s.fileShape, data: toFile(s, a) };
  }
  const known = new Set(specs.map((s) => prefix + s.name));
  for (const n of Object.keys(arrays)) if (n.startsWith(prefix) && !known.has(n)) problems.push(`${n}: unexpected`);
  return out;
}

/** Decoded tensors in file layout -> device arrays; problems are collected. */
function decodeGroup(tensors: Record<string, Tensor>, specs: VitTensorSpec[], prefix: string, file: string, problems: string[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  const missing: string[] = [];
  for (const s of specs) {
    const name = prefix + s.name;
    const t = tensors[name];
    if (t === undefined) missing.push(name);
    else if (t.dtype !== 'F32') problems.push(`${file}: ${name}: dtype ${t.dtype} in file, expected F32`);
    else if (t.shape.length !== s.fileShape.length || t.shape.some((d, i) => d !== s.fileShape[i])) {
      problems.push(`${file}: ${name}: shape ${fmt(t.shape)} in file, model expects ${fmt(s.fileShape)}`);
    } else out[name] = fromFile(s, t.data);
  }
  if (missing.length) problems.push(`${file}: missing ${missing.length} tensors: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
  const known = new Set(specs.map((s) => prefix + s.name));
  const extra = Object.keys(tensors).filter((n) => !known.has(n));
  if (extra.length) problems.push(`${file}: unexpected ${extra.length} tensors: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}`);
  return out;
}

/** Writes a checkpoint folder atomically; refuses (before writing anything) tensors that do not match the config. */
export async function saveVitCheckpoint(dir: string, ckpt: VitCheckpoint): Promise<void> {
  const specs = vitTensorSpecs(ckpt.modelConfig);
  const problems: string[] = [];
  const params = encodeGroup(ckpt.params, specs, '', problems);
  const moments = { ...encodeGroup(ckpt.optimizer, specs, 'm.', problems), ...encodeGroup(ckpt.optimizer, specs, 'v.', problems) };
  if (problems.length) throw new CheckpointError(`refusing to save:\n  ${problems.join('\n  ')}`, dir);
  const state = JSON.stringify(ckpt.trainerState, null, 1);
  if (state === undefined) throw new CheckpointError('trainerState is not JSON', dir);
  await writeDirAtomic(dir, {
    [CONFIG_FILE]: `${JSON.stringify(vitConfigJson(ckpt.modelConfig), null, 2)}\n`,
    [MODEL_FILE]: encodeSafetensors(params, { format: 'pt' }),
    [OPTIMIZER_FILE]: encodeSafetensors(moments, { format: 'pt', content: 'AdamW moments m.<param>, v.<param>, in the parameter shapes' }),
    [TRAINER_STATE_FILE]: `${state}\n`,
  });
}

async function readChecked(dir: string, manifest: Manifest, name: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(join(dir, name));
  } catch (e) {
    throw new CheckpointError(`cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, join(dir, name));
  }
  verifyManifestEntry(manifest, dir, name, bytes);
  return bytes;
}

function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CheckpointError(`not valid JSON (corrupted?): ${(e as Error).message}`, path);
  }
}

/**
 * Loads a checkpoint folder (recovering from a save that crashed mid-swap), checking sizes and hashes against
 * the manifest, config.json against `expected` when given, and every tensor's name, dtype and shape.
 * With `weightsOnly`, the optimizer file and trainer state are not read (optimizer is {} and trainerState null).
 */
export async function loadVitCheckpoint(dir: string, opts: { expected?: VitConfig; weightsOnly?: boolean } = {}): Promise<VitCheckpoint> {
  const root = await resolveCheckpointDir(dir);
  if (root === null) throw new CheckpointError('no checkpoint folder (nor a complete one left by a crashed save)', dir);
  // The MANIFEST policy of every reader (src/tasks/gpt/checkpoint.ts): required, and checked for the files read here.
  const manifest = await readManifest(root, opts.weightsOnly ? [CONFIG_FILE, MODEL_FILE] : [CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, TRAINER_STATE_FILE]);
  const problems: string[] = [];
  const fileConfig = parseVitConfigJson(parseJson(await readChecked(root, manifest, CONFIG_FILE), join(root, CONFIG_FILE)), join(root, CONFIG_FILE));
  if (opts.expected) {
    for (const k of Object.keys(opts.expected) as (keyof VitConfig)[]) {
      if (fileConfig[k] !== opts.expected[k]) problems.push(`${CONFIG_FILE}: ${k} is ${fileConfig[k]} in the checkpoint, expected ${opts.expected[k]}`);
    }
  }
  const cfg = opts.expected ?? fileConfig;
  const specs = vitTensorSpecs(cfg);
  const model = decodeSafetensors(await readChecked(root, manifest, MODEL_FILE), join(root, MODEL_FILE)).tensors;
  const params = decodeGroup(model, specs, '', MODEL_FILE, problems);
  let optimizer: Record<string, Float32Array> = {};
  let trainerState: unknown = null;
  if (!opts.weightsOnly) {
    const moments = decodeSafetensors(await readChecked(root, manifest, OPTIMIZER_FILE), join(root, OPTIMIZER_FILE)).tensors;
    const m = decodeGroup(Object.fromEntries(Object.entries(moments).filter(([n]) => n.startsWith('m.'))), specs, 'm.', OPTIMIZER_FILE, problems);
    const v = decodeGroup(Object.fromEntries(Object.entries(moments).filter(([n]) => !n.startsWith('m.'))), specs, 'v.', OPTIMIZER_FILE, problems);
    optimizer = { ...m, ...v };
    trainerState = parseJson(await readChecked(root, manifest, TRAINER_STATE_FILE), join(root, TRAINER_STATE_FILE));
  }
  if (problems.length) throw new CheckpointError(`checkpoint does not match the model:\n  ${problems.slice(0, 24).join('\n  ')}`, root);
  return { modelConfig: fileConfig, params, optimizer, trainerState };
}
