/**
 * One layer of a planned forward pass, for both models' layer loops (GPT and ViT): what `plan.run[l]` and
 * `plan.scope` mean.
 *   - run: the block runs forward (and, with the tape on, records its backward); with `plan.taylor` its online
 *     sensitivity probe follows.
 *   - not run, scope 'layer' (the default): the layer is the identity on the residual stream; nothing is
 *     dispatched or recorded.
 *   - not run, scope 'backward': the block runs forward with the tape off (the forward is exact, so the model
 *     trained is the model evaluated), and one `gradientBypass` entry passes the output's gradient to the input
 *     unchanged: the gradient flows through the residual stream only, as if the layer's branches were
 *     detached. The layer's parameters get no gradient, and the step's optimizer skips the block (it is not
 *     active: `activeBlocks` reads `run`).
 */
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { gradientBypass } from '../ops/residual.js';
import { taylorProbe } from '../ops/taylor.js';
import type { LayerPlan } from './plan.js';

export function plannedLayer(e: Engine, l: number, plan: LayerPlan, hIn: Tensor, block: (x: Tensor) => Tensor): Tensor {
  if (plan.run[l]) {
    const x = e.inLayer(l, () => block(hIn), 'forward');
    if (plan.taylor) e.inLayer(l, () => taylorProbe(e, hIn, x, plan.taylor!, l));
    return x;
  }
  if (plan.scope !== 'backward') return hIn; // skipped: identity on the residual stream, nothing dispatched or recorded
  const x = e.inLayer(l, () => e.noGrad(() => block(hIn)), 'forward');
  e.inLayer(l, () => gradientBypass(e, hIn, x));
  return x;
}
