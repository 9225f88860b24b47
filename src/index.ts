/**
 * The library surface of sbld-webgpu: `import { Engine, GPT, ... } from 'sbld-webgpu'`.
 *
 * The package ships TypeScript sources (package.json `exports` points here), so run programs that use it with
 * `tsx` (`npx tsx train.ts`). Layers, from the bottom: the device and engine (buffers, dispatch, counters,
 * tape), tensors, ops (each an autograd function plus its kernel-level forward and backward), the GPT model,
 * data, the optimizer and training step, the whole training program, layer-dropping policies, the profiler's
 * reports, and checkpoint IO. Every name below is documented at its definition; the line here says what it is.
 *
 * Smallest training loop (see README for the full example):
 *   const e = await Engine.create();
 *   const model = new GPT(e, { n_layer: 2, n_head: 2, n_embd: 32, vocab_size: VOCAB_SIZE, n_positions: 32 });
 *   model.initialize(1337);
 *   const runner = new StepRunner(e, model, new AdamW(e, model.blocks, ADAMW_DEFAULTS));
 *   const loss = await runner.step([loader.next()], [fullPlan(2)], 3e-3, B, T)();
 */

// ---------------------------------------------------------------- device and engine
export {
  /** Opens a WebGPU adapter and device through Dawn (`SBLD_ADAPTER` / `SBLD_BACKEND` pick one). */
  acquireGpu,
  /** No adapter, a lost device, or a device limit exceeded. */
  GpuError,
  /** Optional adapter features the engine uses when present (timestamp-query, shader-f16, subgroups). */
  OPTIONAL_FEATURES,
} from './runtime/device.js';
/** The opened device, its adapter info, features and limits; options of `acquireGpu`. */
export type { Gpu, GpuOptions, OptionalFeature } from './runtime/device.js';
export {
  /** One device with its kernels, buffer arena, command recording, autograd tape and counters. */
  Engine,
} from './runtime/engine.js';
/** Engine options, counters, profiler dispatch records, phases and timing modes. */
export type { Bindable, Counters, DispatchRecord, EngineOptions, Phase, TimingMode } from './runtime/engine.js';
export {
  /** A WGSL kernel failed to compile (file, line, column and source in the message). */
  KernelCompileError,
  /** A dispatch's bindings or params do not match what its kernel declares. */
  KernelBindingError,
} from './runtime/kernels.js';

// ---------------------------------------------------------------- tensors
export {
  /** A typed, shaped view of an engine-owned GPU buffer; `grad` holds its gradient after backward. */
  Tensor,
  /** Bytes per element of each dtype. */
  DTYPE_BYTES,
  /** Number of elements of a shape. */
  numel,
  /** True when two shapes are equal. */
  shapeEq,
  /** Formats a shape as `[a, b, c]`. */
  fmtShape,
  /** Throws a ShapeError naming the op when a tensor does not have the expected shape. */
  expectShape,
  /** A shape or dtype mismatch; the message names the op and the input. */
  ShapeError,
} from './runtime/tensor.js';
/** Element types: f32, i32, u32, f16 (f16 mixed precision's matmul operands). */
export type { DType } from './runtime/tensor.js';

// ---------------------------------------------------------------- ops (autograd form, then kernel-level forward / backward)
export {
  /** Autograd op(a) @ op(w) + bias (optional transposes, batched). */
  matmul,
  /** Kernel-level matmul forward into a given output. */
  matmul_forward,
} from './ops/matmul.js';
export {
  /** Kernel-level bias gradient: column sums of dout. */
  bias_backward,
} from './ops/bias.js';
export {
  /** A fresh f16 copy of an f32 tensor (overflow to infinity, never clamped). */
  toHalf,
  /** Kernel-level f32 -> f16 cast into a given output. */
  cast_to_f16,
} from './ops/cast.js';
export {
  /** The f16 copy of a parameter that f16 matmuls read, cast again only after its source changed. */
  halfCopyOf,
} from './ops/half-weights.js';
export {
  /** Autograd fused multi-head causal self-attention on qkv (B, T, 3C). */
  attention,
  /** Kernel-level attention forward: out and the per-row log-sum-exp. */
  attention_forward,
  /** Kernel-level attention backward: dqkv from dout, recomputing scores from the saved lse. */
  attention_backward,
} from './ops/attention.js';
/** Attention options (causal or bidirectional). */
export type { AttentionOptions } from './ops/attention.js';
export {
  /** Autograd LayerNorm over the last dimension with weight and bias. */
  layernorm,
  /** Kernel-level LayerNorm forward; writes mean and rstd for backward. */
  layernorm_forward,
  /** Kernel-level LayerNorm backward: dx, dweight, dbias. */
  layernorm_backward,
  /** Kernel-level LayerNorm parameter gradients alone: dweight, dbias (rows split by the bias_backward plan). */
  layernorm_backward_params,
} from './ops/layernorm.js';
export {
  /** Autograd GELU (tanh approximation, GPT-2's gelu_new). */
  gelu,
  /** Kernel-level GELU forward. */
  gelu_forward,
  /** Kernel-level GELU backward. */
  gelu_backward,
} from './ops/gelu.js';
export {
  /** Autograd residual add h + scale * branch. */
  residualAdd,
  /** Kernel-level residual forward. */
  residual_forward,
  /** Kernel-level residual backward: dh and dbranch in one dispatch. */
  residual_backward,
} from './ops/residual.js';
export {
  /** Autograd token + position embedding. */
  embedding,
  /** Uploads a (B, T) batch of token ids and its token index for the embedding backward. */
  uploadTokens,
  /** Builds the host-side CSR token index (positions grouped by token id). */
  buildTokenIndex,
  /** Kernel-level embedding forward. */
  embedding_forward,
  /** Kernel-level token-embedding gradient (gather-sum over the token index, no atomics). */
  embedding_backward_wte,
  /** Kernel-level position-embedding gradient. */
  embedding_backward_wpe,
} from './ops/embedding.js';
/** The CSR token index on the device and on the host. */
export type { TokenIndex, TokenIndexHost } from './ops/embedding.js';
export {
  /** Autograd mean softmax cross-entropy of logits (..., V) against i32 targets (out-of-range = ignored). */
  crossEntropy,
  /** Autograd per-row cross-entropy (no mean). */
  crossEntropyRows,
  /** Kernel-level cross-entropy forward: lse and per-row losses. */
  crossentropy_forward,
  /** Kernel-level mean of per-row losses over rows with a valid target. */
  crossentropy_mean,
  /** Kernel-level cross-entropy backward into dlogits. */
  crossentropy_backward,
} from './ops/crossentropy.js';
export {
  /** Squared gradient norm of one parameter block into a slot of `sumsq`. */
  grad_sumsq,
  /** Global-norm clip scale from the per-block squared norms. */
  grad_clip_scale,
  /** One fused AdamW update of a parameter block. */
  adamw_update,
  /** Uploads per-block learning rate and bias corrections for one step. */
  writeStepScalars,
} from './ops/adamw.js';
/** AdamW kernel hyperparameters, a parameter block as the kernels see it, per-block step scalars. */
export type { AdamWHyper, OptimBlock, StepEntry } from './ops/adamw.js';

// ---------------------------------------------------------------- model
export {
  /** One flat block of parameters, gradients and AdamW moments (one per layer, one for the rest). */
  ParamBlock,
} from './model/params.js';
export {
  /** Reads every parameter (and AdamW moments) to named host arrays. */
  readWeights,
  /** Uploads named host arrays (and moments) into a model. */
  writeWeights,
} from './model/weights.js';
/** Parameters and moments as named host arrays, with per-block step counts. */
export type { NamedWeights } from './model/weights.js';

// ---------------------------------------------------------------- the tasks' own surfaces: GPT (model, presets, sampling, text
// data, step and evaluation, session, run, config, checkpoints, Hugging Face files) and the ViT
export * from './tasks/gpt/index.js';
export * from './tasks/vit/index.js';

// ---------------------------------------------------------------- data
export {
  /** Bad or missing training data; the message says how to fix it. */
  DataError,
} from './io/data-errors.js';

// ---------------------------------------------------------------- optimizer, step, training
export {
  /** AdamW with global-norm clipping over parameter blocks; skipped blocks get no update. */
  AdamW,
  /** GPT-2-style AdamW defaults (beta 0.9 / 0.95, eps 1e-8, weight decay 0.1, clip 1). */
  ADAMW_DEFAULTS,
} from './train/optimizer.js';
/** AdamW hyperparameters (betas, eps, weight decay, gradient clip). */
export type { AdamWConfig } from './train/optimizer.js';
export {
  /** Dynamic loss scaling (f16 mixed precision): halves on overflow, doubles after a run of good steps. */
  LossScaler,
  /** PyTorch GradScaler's defaults: S = 2^16, growth every 2000 good steps. */
  DYNAMIC_LOSS_SCALE,
  /** No scaling (f32): S = 1, fixed; non-finite steps are still skipped. */
  NO_LOSS_SCALE,
} from './train/loss-scale.js';
/** A loss scaler's settings. */
export type { LossScaleConfig } from './train/loss-scale.js';
/** The matmuls' precision: f32, or f16 mixed precision. */
export type { Precision } from './runtime/choice.js';
export {
  /** Throws a ConfigError naming the flag of the first bad value. */
  validateConfig,
  /** Training defaults (besides the preset's sizes). */
  DEFAULT_CONFIG,
  /** A bad training setting; the message names the flag. */
  ConfigError,
} from './train/config.js';
export {
  /** Reads a `--config` JSON file. */
  readConfigFile,
} from './cli/config-file.js';
/** Every training setting (model, batch, schedule, data, output, layer dropping). */
export type { TrainConfig } from './train/config.js';
export {
  /** Every task `npm start --task` can train (GPT first, the default). */
  TASKS,
  /** The task of a name; a ConfigError lists the tasks otherwise. */
  taskNamed,
  /** The config of the task a file or flags name, resolved and validated by that task. */
  resolveTaskConfig,
} from './tasks/index.js';
/** A task (config, data, train, summary lines) and the summary every task's run returns. */
export type { Task, TaskFlag, RunSummary } from './train/task.js';
export {
  /** skip_loss of every layer from a task's per-batch losses of the leave-one-out plans. */
  measureSkipLossWith,
} from './train/sensitivity.js';
export {
  /** Linear warm-up then cosine decay. */
  learningRate,
} from './train/schedule.js';
/** Peak and final learning rate, warm-up and total steps. */
export type { LrSchedule } from './train/schedule.js';

// ---------------------------------------------------------------- layer dropping (spec: docs/layer-dropping.md)
// Everything `src/drop/index.ts` exports (test/library.test.ts checks none is missing).
export {
  /** Policy names: none, layerdrop, pld, sbld. */
  DROP_POLICIES,
  /** Rescale modes of kept layers: inverse_keep, none. */
  RESCALES,
  /** Time curves: pwegd (SBLD), pld. */
  CURVES,
  /** Sensitivity modes: skip_loss, taylor. */
  SENSITIVITIES,
  /** Allocation modes: proportional (water-filling), ordered. */
  ALLOCS,
  /** Each policy's default rescale (pld: inverse_keep, others: none). */
  DEFAULT_RESCALE,
  /** Every layer-dropping hyperparameter's default. */
  DEFAULT_DROP_CONFIG,
  /** The `--drop-*` flag table (flag, kind, help) the CLIs build their options from. */
  DROP_FLAGS,
  /** Parses one `--drop-*` value; throws DropConfigError naming the flag. */
  parseDropFlag,
  /** Fills run-dependent defaults (lists, T_pre, equal-compute rho_peak) and validates. */
  resolveDropConfig,
  /** A refused layer-dropping setting; lists every problem with its flag. */
  DropConfigError,
} from './drop/index.js';
/** Layer-dropping config, its resolved form, flag specs and enumerations. */
export type {
  AllocMode,
  CurveName,
  DropConfig,
  DropContext,
  DropFlagKind,
  DropFlagSpec,
  DropPolicyName,
  Rescale,
  ResolvedDropConfig,
  RhoMatch,
  SensitivityMode,
} from './drop/index.js';
export {
  /** PLD's global keep theta(t) = (1 - thetaBar) exp(-gamma t) + thetaBar. */
  pldTheta,
  /** PLD's theta at step t for a resolved config (its own curve or the pwegd ablation). */
  pldThetaAt,
  /** PLD's per-layer keep and scale lists at a given theta (with the reference's off-by-one). */
  pldLayerLists,
  /** Expected fraction of layers PLD drops at a given theta. */
  pldExpectedDropFraction,
  /** The theta at which PLD drops a given fraction of the layers. */
  pldThetaForDropFraction,
  /** Expected dropped layer-steps of PLD over a run. */
  pldTotalDropped,
  /** Unnormalised PWEGD g(x). */
  pwegdG,
  /** d(log g)/dx of the PWEGD curve. */
  pwegdDLogG,
  /** Location and value of the PWEGD maximum. */
  pwegdMax,
  /** Normalised PWEGD g(t) / max g at step t. */
  pwegdHat,
  /** SBLD's time shape g(t) in [0, 1] (0 before T_pre). */
  timeShape,
  /** Time-shape parameters from a resolved config. */
  shapeFromConfig,
  /** SBLD's target drop fraction rho(t) = rho_peak * g(t). */
  sbldRho,
  /** Expected fraction SBLD drops at a target rho, given the per-layer caps. */
  sbldExpectedDropFraction,
  /** The most layers SBLD can drop per step: q_max * droppable layers. */
  sbldCapacityLayers,
  /** Expected fraction of layers a resolved config drops at step t. */
  scheduledDropFraction,
  /** Expected dropped layer-steps of a resolved config over its run. */
  scheduledTotalDropped,
  /** The SBLD rho_peak that gives PLD's expected compute over the run. */
  matchPldRhoPeak,
} from './drop/schedule.js';
/** Schedule parameters and the equal-compute solve's result. */
export type { PldParams, PwegdParams, ShapeParams } from './drop/schedule.js';
export {
  /** SBLD's "update keep probability list": drop probabilities from sensitivities and a target count. */
  allocateKeep,
  /** SBLD weights w_l = s_l^(-alpha), 0 on the block list, kappa x on the allow list. */
  dropWeights,
  /** Proportional water-filling of a drop target under a per-layer cap. */
  waterFill,
  /** Ordered fill: least sensitive layers to the cap first. */
  orderedFill,
} from './drop/allocate.js';
/** Allocation input and result. */
export type { Allocation, AllocationInput } from './drop/allocate.js';
export {
  /** SBLD's measured state (sensitivities, block/allow lists, history); JSON for checkpoints. */
  SbldState,
  /** Relative clamp s_l >= eps * max(s). */
  clampSensitivities,
  /** Block and allow lists from sensitivities. */
  computeLists,
  /** SBLD's no-signal guard: whether a measurement separates the layers (and why not). */
  measurementSignal,
  /** The seeded layer permutation of the shuffled-sensitivities ablation. */
  seededPermutation,
} from './drop/sbld.js';
/** SBLD state config, a measurement record, the state's JSON and read-only view. */
export type { MeasurementSignal, SbldMeasurement, SbldStateConfig, SbldStateJSON, SbldView } from './drop/sbld.js';
export {
  /** What the SBLD allocator could not do in a run (the cap and clamp notes), for logs and summaries. */
  AllocatorNotes,
} from './drop/notes.js';
/** The allocator notes' summary in metrics.jsonl and RunSummary. */
export type { AllocatorNotesSummary } from './drop/notes.js';
export {
  /** Keep probabilities and scales of every layer at step t, for any policy. */
  keepProbabilities,
  /** The seeded per-micro-batch Bernoulli draw of which layers run. */
  drawPlan,
  /** A plan as a bit string, e.g. `1101`. */
  planBitString,
} from './drop/policy.js';
/** Keep probabilities, scales and expected kept fraction at one step. */
export type { KeepPlan } from './drop/policy.js';

// ---------------------------------------------------------------- profiler reports
export {
  /** Rows per (step, layer, phase, kernel) with dispatch counts and GPU ms; skipped layers listed. */
  profileRows,
  /** Per-layer totals of profile rows. */
  layerTotals,
  /** Per-kernel totals of profile rows, most expensive first. */
  kernelTotals,
  /** The kind of work a kernel does (matmul, attention, optimizer, ...). */
  kernelKind,
  /** GPU time and dispatches per kernel kind, most expensive first. */
  kindTotals,
  /** Chrome trace-event JSON (Perfetto, chrome://tracing) of timed steps. */
  chromeTrace,
} from './profile/report.js';
/** Profiler rows, per-layer totals, and one timed step. */
export type { LayerTotal, ProfileRow, StepProfile } from './profile/report.js';

// ---------------------------------------------------------------- checkpoints
export {
  /** Encodes tensors as a safetensors file. */
  encodeSafetensors,
  /** Decodes and validates a safetensors file. */
  decodeSafetensors,
} from './io/safetensors.js';

// ---------------------------------------------------------------- the ops and block the ViT adds to GPT's
export {
  /** Mean over tokens: (B, T, C) -> (B, C), with its backward. */
  meanPool,
} from './ops/meanpool.js';
export {
  /** Adds a learned (T, C) position table to every batch row of (B, T, C). */
  posEmbed,
} from './ops/posembed.js';
export {
  /** The pre-LN transformer block shared by GPT (causal) and ViT (bidirectional). */
  preLnBlock,
} from './model/block.js';

// ---------------------------------------------------------------- what a page needs too (src/browser.ts)
export {
  /** What to enable when a browser has no WebGPU (the browser build's acquireGpu throws it). */
  NO_WEBGPU_HELP,
} from './runtime/gpu.js';
export {
  /** The WGSL files as { file, source }: read from kernels/ under Node, built in for browsers. */
  loadKernelSources,
} from './runtime/kernel-sources.js';
/** One WGSL file as the kernel registry takes it. */
export type { KernelSource } from './runtime/kernels.js';
export {
  /** Which layers ran in at least one micro-batch of a step (the profiler's skipped-layer view). */
  activeBlocks,
} from './train/step.js';
