/**
 * The GPT task's library surface (re-exported by src/index.ts): the model, presets and sampling, the byte-level
 * text data, the step runner and evaluation, the session and whole training program, its config, checkpoints
 * and Hugging Face GPT-2 files.
 */
export {
  /** GPT-2 with an explicit layer loop that a layer plan can skip layers in; HF parameter names. */
  GPT,
  /** The plan that runs every layer unscaled. */
  fullPlan,
} from './model.js';
/** Model sizes, a per-forward layer plan, and a batch on the device. */
export type { DeviceBatch, GptConfig, LayerPlan } from './model.js';
export {
  /** Named model and batch sizes: tiny (tests), small (default), deep (12 layers). */
  PRESETS,
} from './presets.js';
/** A preset's sizes and the preset names. */
export type { Preset, PresetName } from './presets.js';
export {
  /** Autoregressive sampling with temperature and top-k; returns prompt + continuation token ids. */
  generate,
  /** Samples one index from logits with temperature and top-k. */
  pick,
} from './sample.js';
/** Prompt, length, temperature, top-k and seed of `generate`. */
export type { SampleOptions } from './sample.js';
export {
  /** Vocabulary size of the byte tokenizer (256). */
  VOCAB_SIZE,
  /** Text to byte tokens (UTF-8). */
  encode,
  /** Byte tokens to text (invalid sequences become U+FFFD). */
  decode,
} from './data/tokenizer.js';
export {
  /** Loads and splits a corpus: the Brown corpus by default, or a text file or folder; cached tokens. */
  loadCorpus,
} from './data/corpus.js';
/** A tokenized, split corpus and the options of `loadCorpus`. */
export type { Corpus, LoadCorpusOptions } from './data/corpus.js';
export {
  /** Seeded random training windows with saveable state (for bit-exact resume). */
  BatchLoader,
  /** Fixed validation windows spread evenly over a split. */
  validationBatches,
} from './data/loader.js';
/** A host batch of (inputs, targets) and a loader's saveable state. */
export type { Batch, BatchLoaderState } from './data/loader.js';
export {
  /** Records and submits one optimizer step over micro-batches with their layer plans. */
  StepRunner,
  /** Mean loss over batches, forward only, every layer running (unless a plan says otherwise). */
  evaluate,
  /** Mean loss for several plans over the same batches, read back once. */
  evaluateMany,
  /** Uploads a host batch (tokens, token index, targets) to the device. */
  uploadBatch,
} from './step.js';
export {
  /** Everything a run builds from its config: engine, model, optimizer, policy, data; measure, plan, step. */
  TrainingSession,
  /** The GptConfig a TrainConfig trains. */
  modelConfigOf,
} from './session.js';
export {
  /** The whole training program: step loop, evaluation, metrics.jsonl, checkpoints, resume. */
  runTraining,
} from './run.js';
/** Options of `runTraining` (resume, stopAfter, engine, quiet) and its summary. */
export type { RunOptions } from './run.js';
export {
  /** GPT's config: defaults <- preset <- config file <- flags, validated. */
  resolveConfig,
} from './config.js';
export {
  /** SBLD's skip_loss sensitivity: loss increase when each layer alone is skipped. */
  measureSkipLoss,
} from './step.js';
export {
  /** Writes a training checkpoint folder atomically (HF GPT-2 safetensors + config, moments, trainer state). */
  saveCheckpoint,
  /** Loads and validates a training checkpoint (sizes, hashes, names, shapes); throws CheckpointError. */
  loadCheckpoint,
  /** Loads only config.json and model.safetensors (eval, sampling, weights from other tools). */
  loadModelWeights,
  /** A checkpoint that cannot be written or read; the message names the file and tensor. */
  CheckpointError,
} from './checkpoint.js';
/** A training checkpoint in memory, and the weights alone. */
export type { Checkpoint, ModelWeights } from './checkpoint.js';
export {
  /** HF GPT-2 parameter names and shapes of a config. */
  gpt2TensorSpecs,
} from './hf-gpt2.js';
/** HF GPT-2 config sizes and one parameter's name and shape. */
export type { Gpt2Config, TensorSpec } from './hf-gpt2.js';
export {
  /** Splits documents held in memory into a corpus (no files, no cache): pasted text, a page's data. */
  corpusFromDocuments,
  /** The fewest bytes one text needs for a sequence length (one training and one validation window). */
  minimumTextBytes,
} from './data/documents.js';
/** One document: a stable id and its text. */
export type { Document } from './data/split.js';
export {
  /** config.json and model.safetensors of a model as bytes, in HF GPT-2 layout (what checkpoints hold). */
  gpt2ModelFiles,
  /** File name of the HF config inside a model folder. */
  CONFIG_FILE,
  /** File name of the HF weights inside a model folder. */
  MODEL_FILE,
} from './model-files.js';
