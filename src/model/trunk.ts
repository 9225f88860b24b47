/**
 * The transformer trunk both models share: the layer plan (which layers run, with what residual scale, and
 * how a layer that does not run is skipped) and the one layer loop that carries it out. A model brings its
 * embedding, its block and its head; the trunk runs the blocks in between. What a layer that does not run
 * does (skipped whole, or forward-only with scope 'backward') is ./layer_scope.ts.
 */
import type { Engine } from '../runtime/engine.js';
import { numel, type Tensor } from '../runtime/tensor.js';
import { Rng } from '../util/rng.js';
import { plannedLayer } from './layer_scope.js';
import type { LayerPlan } from './plan.js';
import { ParamBlock, type ParamSpec } from './params.js';

export type { LayerPlan } from './plan.js';

/** Every layer runs, unscaled. */
export function fullPlan(nLayer: number): LayerPlan {
  return { run: Array(nLayer).fill(true), scale: Array(nLayer).fill(1) };
}

/** The full plan, then one plan per layer with that layer alone skipped (SBLD's skip_loss probes). */
export function leaveOneOutPlans(nLayer: number): LayerPlan[] {
  const full = fullPlan(nLayer);
  return [full, ...Array.from({ length: nLayer }, (_, l) => ({ run: full.run.map((_, i) => i !== l), scale: full.scale }))];
}

/** Throws when `plan` does not have one entry per layer (models check before they dispatch anything). */
export function checkPlan(plan: LayerPlan, nLayer: number, model: string): void {
  if (plan.run.length !== nLayer) throw new Error(`${model}: plan has ${plan.run.length} layers, model has ${nLayer}`);
}

/** The layer loop: x (B, T, C) through layers 0..L-1 as `plan` says; `block(l, x, scale)` is the model's block. */
export function runLayers(e: Engine, plan: LayerPlan, x: Tensor, nLayer: number, block: (l: number, x: Tensor, scale: number) => Tensor, model: string): Tensor {
  checkPlan(plan, nLayer, model);
  for (let l = 0; l < nLayer; l++) x = plannedLayer(e, l, plan, x, (h) => block(l, h, plan.scale[l] ?? 1));
  return x;
}

/** A parameter to place: its spec and its layer (null: embeddings, head and the like). */
export interface PlacedSpec {
  layer: number | null;
  spec: ParamSpec;
}

/**
 * A transformer's parameters: one block per layer (so the optimizer leaves a layer that did not run untouched)
 * and one for the rest, in the order the optimizer and checkpoints use: layers 0..L-1, then the rest.
 */
export class TrunkParams {
  /** One parameter block per transformer layer. */
  readonly layers: ParamBlock[];
  /** Everything outside the layers (embeddings, final norm, head). */
  readonly rest: ParamBlock;

  constructor(
    readonly e: Engine,
    nLayer: number,
    specs: readonly PlacedSpec[],
    layerLabel: (l: number) => string,
  ) {
    this.layers = Array.from({ length: nLayer }, (_, l) => new ParamBlock(e, layerLabel(l), specs.filter((s) => s.layer === l).map((s) => s.spec)));
    this.rest = new ParamBlock(e, 'rest', specs.filter((s) => s.layer === null).map((s) => s.spec));
  }

  /** Every block: layers 0..L-1, then the rest (index L). */
  get blocks(): ParamBlock[] {
    return [...this.layers, this.rest];
  }

  get parameterCount(): number {
    return this.blocks.reduce((n, b) => n + b.specs.reduce((m, s) => m + numel(s.shape), 0), 0);
  }

  /** Draws the initialisation the specs ask for from `seed` and uploads it. */
  initialize(seed: number): void {
    const rng = new Rng(seed);
    for (const block of this.blocks) this.e.write(block.params, block.initialValues(rng));
  }
}
