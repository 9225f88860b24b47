/** The layer plan of one forward pass; the trunk (./trunk.ts) carries it out. */
import type { DropScope } from '../drop/config.js';
import type { Tensor } from '../runtime/tensor.js';

/** Which layers run in one forward pass, and the factor on each kept layer's residual branches. */
export interface LayerPlan {
  run: readonly boolean[];
  scale: readonly number[];
  /**
   * What a layer with run[l] false skips (./layer_scope.ts): 'layer' (default) everything, 'backward' only its
   * backward and update (its forward runs).
   */
  scope?: DropScope;
  /**
   * When set, each layer that runs adds its taylor sensitivity |<dL/dh_out, h_out - h_in>| (summed over tokens)
   * into `taylor[l]` during backward (SBLD's online estimate; `src/ops/taylor.ts`).
   */
  taylor?: Tensor;
}
