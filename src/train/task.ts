/**
 * A task: what `npm start` and the trainer need to know about one kind of model and data. The trainer
 * (./loop.ts, ./task-session.ts, ./step.ts) is the same for every task; a task brings its config (defaults,
 * presets, its own flags), its data, its model on the trunk, its evaluation and checkpoint format (in its
 * session: what the loop prints, saves and validates), and its summary. Tasks live in src/tasks/<name>/ and are
 * registered, one line each, in src/tasks/index.ts.
 */
import type { AllocatorNotesSummary } from '../drop/notes.js';
import type { TrainConfig } from './config.js';
import type { ClosingFields, RunOptions } from './loop.js';

/** A flag only this task takes (e.g. the ViT's `--patch-size`), and the config key it sets. */
export interface TaskFlag {
  key: string;
  /** commander's spelling: `--patch-size <n>` for a value, `--augment` for a switch (which also gets `--no-augment`). */
  flag: string;
  help: string;
  kind: 'int' | 'number' | 'switch';
}

/** What every task's summary reports; a task's own summary extends it. */
export interface RunSummary extends Omit<ClosingFields, 'allocator_notes'> {
  steps: number;
  wall_s: number;
  /** Tokens per second (the ViT's are patch tokens). */
  tokens_per_s: number;
  train_loss: number;
  val_loss: number;
  /** What the SBLD allocator could not do (src/drop/notes.ts). */
  allocator_notes?: AllocatorNotesSummary;
  /** A text sample (GPT); other tasks leave it unset. */
  sample?: string;
}

export interface Task<C extends TrainConfig = TrainConfig, S extends RunSummary = RunSummary> {
  /** `--task` value. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** Its preset names (`--preset`). */
  readonly presets: readonly string[];
  /** The flags only this task takes. */
  readonly flags: readonly TaskFlag[];
  /** Defaults <- the task's preset <- file <- flags, validated (a ConfigError names the flag). */
  resolveConfig(file: Partial<C>, flags: Partial<C>): C;
  /** Makes sure the task's default data is there before a run from the command line (it may install it). */
  prepareData?(cfg: C): void;
  /** Trains one run (src/train/loop.ts with the task's session) and returns its summary. */
  train(cfg: C, opts?: RunOptions): Promise<S>;
  /** The lines `npm start` prints about a finished run, before the layer-dropping line. */
  describe(summary: S): string[];
}

/** A task whose config type the caller does not know (the registry's view). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTask = Task<any, any>;
