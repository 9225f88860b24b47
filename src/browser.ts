/**
 * The library in a browser: `npm run build` bundles this entry to dist/sbld-webgpu.js (ESM). It is the part of
 * src/index.ts that needs no Node: the engine on the page's `navigator.gpu` (runtime/device.browser.ts), the
 * kernels built into the bundle byte for byte (runtime/kernel-sources.browser.ts), ops, models, layer-dropping
 * policies, the training step and session, sampling, the profiler's reports and the HF GPT-2 export as bytes.
 * Files, the Brown corpus package, on-disk checkpoints, the set-up step and the CLIs stay in src/index.ts.
 * Every name here is the same object as src/index.ts's (test/browser_bundle.test.ts checks), so the README's
 * documentation of the library holds for both.
 *
 *   import { Engine, TrainingSession, corpusFromDocuments, resolveConfig } from './sbld-webgpu.js';
 *   const e = await Engine.create();            // navigator.gpu
 *   const cfg = resolveConfig({}, { preset: 'tiny', steps: 50 });
 *   const corpus = corpusFromDocuments([{ id: 'doc', text }], cfg.seqLen, 'pasted', 'pasted text');
 *   const s = new TrainingSession(e, cfg, corpus);
 *   for (let step = 0; step < cfg.steps; step++) {
 *     await s.measureIfDue(step);
 *     const { plans } = s.plan(step);
 *     console.log(step, await s.step(step, plans).readLoss());
 *   }
 */

// ---------------------------------------------------------------- device, engine, kernels
export { acquireGpu, GpuError, NO_WEBGPU_HELP, OPTIONAL_FEATURES } from './runtime/device.js';
export type { Gpu, GpuOptions, OptionalFeature } from './runtime/device.js';
export { Engine } from './runtime/engine.js';
export type { Bindable, Counters, DispatchRecord, EngineOptions, Phase, TimingMode } from './runtime/engine.js';
export { KernelBindingError, KernelCompileError } from './runtime/kernels.js';
export type { KernelSource } from './runtime/kernels.js';
export { loadKernelSources } from './runtime/kernel-sources.js';
export { DTYPE_BYTES, expectShape, fmtShape, numel, shapeEq, ShapeError, Tensor } from './runtime/tensor.js';
export type { DType } from './runtime/tensor.js';

// ---------------------------------------------------------------- ops
export { matmul, matmul_forward } from './ops/matmul.js';
export { bias_backward } from './ops/bias.js';
export { attention, attention_backward, attention_forward } from './ops/attention.js';
export { layernorm, layernorm_backward, layernorm_backward_params, layernorm_forward } from './ops/layernorm.js';
export { gelu, gelu_backward, gelu_forward } from './ops/gelu.js';
export { residual_backward, residual_forward, residualAdd } from './ops/residual.js';
export { buildTokenIndex, embedding, embedding_backward_wpe, embedding_backward_wte, embedding_forward, uploadTokens } from './ops/embedding.js';
export { crossEntropy, crossentropy_backward, crossentropy_forward, crossentropy_mean, crossEntropyRows } from './ops/crossentropy.js';
export { adamw_update, grad_clip_scale, grad_sumsq, writeStepScalars } from './ops/adamw.js';
export { meanPool } from './ops/meanpool.js';
export { posEmbed } from './ops/posembed.js';

// ---------------------------------------------------------------- model
export { fullPlan, GPT } from './tasks/gpt/model.js';
export type { DeviceBatch, GptConfig, LayerPlan } from './tasks/gpt/model.js';
export { preLnBlock } from './model/block.js';
export { ParamBlock } from './model/params.js';
export { PRESETS } from './tasks/gpt/presets.js';
export type { Preset, PresetName } from './tasks/gpt/presets.js';
export { readWeights, writeWeights } from './model/weights.js';
export type { NamedWeights } from './model/weights.js';
export { generate, pick } from './tasks/gpt/sample.js';
export type { SampleOptions } from './tasks/gpt/sample.js';

// ---------------------------------------------------------------- data (in memory)
export { decode, encode, VOCAB_SIZE } from './tasks/gpt/data/tokenizer.js';
export { corpusFromDocuments, minimumTextBytes } from './tasks/gpt/data/documents.js';
export type { Corpus } from './tasks/gpt/data/documents.js';
export type { Document } from './tasks/gpt/data/split.js';
export { BatchLoader, validationBatches } from './tasks/gpt/data/loader.js';
export type { Batch, BatchLoaderState } from './tasks/gpt/data/loader.js';
export { DataError } from './io/data-errors.js';

// ---------------------------------------------------------------- optimizer, step, session
export { ADAMW_DEFAULTS, AdamW } from './train/optimizer.js';
export type { AdamWConfig } from './train/optimizer.js';
export { activeBlocks } from './train/step.js';
export { evaluate, evaluateMany, StepRunner, uploadBatch } from './tasks/gpt/step.js';
export { modelConfigOf, TrainingSession } from './tasks/gpt/session.js';
export { ConfigError, DEFAULT_CONFIG, validateConfig } from './train/config.js';
export { resolveConfig } from './tasks/gpt/config.js';
export type { TrainConfig } from './train/config.js';
export { learningRate } from './train/schedule.js';
export { measureSkipLoss } from './tasks/gpt/step.js';

// ---------------------------------------------------------------- layer dropping
export * from './drop/index.js';

// ---------------------------------------------------------------- profiler reports
export { chromeTrace, kernelKind, kernelTotals, kindTotals, layerTotals, profileRows } from './profile/report.js';
export type { LayerTotal, ProfileRow, StepProfile } from './profile/report.js';

// ---------------------------------------------------------------- HF GPT-2 files as bytes
export { gpt2TensorSpecs } from './tasks/gpt/hf-gpt2.js';
export type { Gpt2Config, TensorSpec } from './tasks/gpt/hf-gpt2.js';
export { CONFIG_FILE, gpt2ModelFiles, MODEL_FILE } from './tasks/gpt/model-files.js';
export { decodeSafetensors, encodeSafetensors } from './io/safetensors.js';
