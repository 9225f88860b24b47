/**
 * GPT-2 on the engine: token + learned position embeddings, L pre-LN blocks
 *   h = h + s_l * Attn(LN1(h));  h = h + s_l * MLP(LN2(h))
 * (s_l = 1 unless a layer-dropping policy rescales kept layers), final LN, and an LM head tied to the token
 * embedding. Parameter names and shapes are Hugging Face GPT-2's (`./hf-gpt2.ts`).
 *
 * The layer loop is explicit and takes a plan of which layers run. A skipped layer is the identity on the
 * residual stream: it dispatches nothing and records nothing on the tape (or, with the plan's scope 'backward',
 * runs forward only: ./layer_scope.ts).
 */
import { gpt2TensorSpecs, type Gpt2Config } from './hf-gpt2.js';
import { crossEntropy } from '../../ops/crossentropy.js';
import { embedding, type TokenIndex } from '../../ops/embedding.js';
import { layernorm } from '../../ops/layernorm.js';
import { matmul } from '../../ops/matmul.js';
import type { Engine } from '../../runtime/engine.js';
import type { Tensor } from '../../runtime/tensor.js';
import { preLnBlock, type BlockWeights } from '../../model/block.js';
import { checkPlan, fullPlan, runLayers, TrunkParams, type LayerPlan } from '../../model/trunk.js';
import type { ParamSpec } from '../../model/params.js';

export type GptConfig = Required<Pick<Gpt2Config, 'n_layer' | 'n_head' | 'n_embd' | 'vocab_size' | 'n_positions'>>;

export { fullPlan, type LayerPlan } from '../../model/trunk.js';

/** A batch on the device: token ids (B, T), their index for the embedding backward, and targets (B, T). */
export interface DeviceBatch {
  tokens: Tensor;
  index: TokenIndex;
  targets: Tensor | null;
}

const NO_DECAY = /(\.bias|ln_\d\.weight|ln_f\.weight|wpe\.weight)$/;

/**
 * Initial values as GPT-2: weights N(0, 0.02), the two residual projections N(0, 0.02 / sqrt(2L)), biases 0,
 * LayerNorm weights 1. Weight decay on matrices and the (tied) token embedding; none on biases, LayerNorm
 * parameters or the position table.
 */
function paramSpec(name: string, shape: number[], nLayer: number): ParamSpec {
  const decay = !NO_DECAY.test(name);
  let init: ParamSpec['init'] = { normal: 0.02 };
  if (name.endsWith('.bias')) init = { constant: 0 };
  else if (/ln_(\d|f)\.weight$/.test(name)) init = { constant: 1 };
  else if (name.endsWith('c_proj.weight')) init = { normal: 0.02 / Math.sqrt(2 * nLayer) };
  return { name, shape, decay, init };
}

export class GPT extends TrunkParams {
  readonly C: number;

  constructor(
    e: Engine,
    readonly config: GptConfig,
  ) {
    const L = config.n_layer;
    super(e, L, gpt2TensorSpecs(config).map((s) => ({ layer: s.layer, spec: paramSpec(s.name, s.shape, L) })), (l) => `h.${l}`);
    this.C = config.n_embd;
  }

  /**
   * Forward pass. Returns the logits (B, T, V) and, when the batch has targets, the mean cross-entropy loss (1).
   * `plan` says which layers run (default: all).
   */
  forward(batch: DeviceBatch, plan: LayerPlan = fullPlan(this.config.n_layer)): { logits: Tensor; loss: Tensor | null } {
    const { e } = this;
    const T = batch.tokens.shape[1]!;
    if (T > this.config.n_positions) throw new Error(`GPT: sequence length ${T} exceeds n_positions ${this.config.n_positions}`);
    checkPlan(plan, this.config.n_layer, 'GPT');
    const r = this.rest;
    let x = e.inLayer(null, () => embedding(e, batch.tokens, batch.index, r.get('transformer.wte.weight'), r.get('transformer.wpe.weight')), 'forward');
    x = runLayers(e, plan, x, this.config.n_layer, (l, h, scale) => this.block(l, h, scale), 'GPT');
    return e.inLayer(
      null,
      () => {
        const xf = layernorm(e, x, r.get('transformer.ln_f.weight'), r.get('transformer.ln_f.bias'));
        const logits = matmul(e, xf, r.get('transformer.wte.weight'), null, { transB: true, head: true });
        const loss = batch.targets ? crossEntropy(e, logits, batch.targets) : null;
        return { logits, loss };
      },
      'forward',
    );
  }

  /** One pre-LN transformer block on x (B, T, C), causal (the block is shared with the ViT: ./block.ts). */
  private block(l: number, x: Tensor, scale: number): Tensor {
    const p = (name: string) => this.layers[l]!.get(`transformer.h.${l}.${name}`);
    const w: BlockWeights = {
      ln1Weight: p('ln_1.weight'),
      ln1Bias: p('ln_1.bias'),
      qkvWeight: p('attn.c_attn.weight'),
      qkvBias: p('attn.c_attn.bias'),
      projWeight: p('attn.c_proj.weight'),
      projBias: p('attn.c_proj.bias'),
      ln2Weight: p('ln_2.weight'),
      ln2Bias: p('ln_2.bias'),
      fcWeight: p('mlp.c_fc.weight'),
      fcBias: p('mlp.c_fc.bias'),
      fc2Weight: p('mlp.c_proj.weight'),
      fc2Bias: p('mlp.c_proj.bias'),
    };
    return preLnBlock(this.e, x, w, { nHead: this.config.n_head, scale, causal: true });
  }
}
