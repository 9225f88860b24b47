/** The ViT task's library surface (re-exported by src/index.ts): the model, the training program, IDX files. */
export {
  /** Vision transformer: patch embedding, learned positions, pre-LN encoder blocks, mean pooling, linear head. */
  ViT,
  /** timm-style parameter names and shapes of a ViT config. */
  vitTensorSpecs,
} from './model.js';
/** ViT sizes and a device batch of images. */
export type { VitConfig, VitDeviceBatch } from './model.js';
export {
  /** Trains a ViT on Fashion-MNIST (or IDX files in --data) with a layer-dropping policy; returns the summary. */
  runVitTraining,
} from './run.js';
export {
  /** Parses and validates an IDX file (magic, counts, dimensions). */
  parseIdx,
} from './data.js';
