/**
 * A Vision Transformer (ViT) classifier on the engine, for one-channel images cut into non-overlapping P x P
 * patches (Fashion-MNIST: 28 x 28, P = 7 gives T = 16 tokens, P = 4 gives 49):
 *
 *   x = patches @ W_patch + b_patch + pos_embed              (B, T, C)  patch embedding: im2col on the host + matmul
 *   for each layer l that runs (plan.run[l]), s = plan.scale[l]:
 *     x = x + s * proj(attn(qkv(LN1(x))))                    bidirectional attention (every patch sees every patch)
 *     x = x + s * fc2(gelu(fc1(LN2(x))))                     the pre-LN block GPT uses (src/model/block.ts)
 *   pooled = mean over t of x                                (B, C)     global average pool, no class token
 *   logits = LN_fc(pooled) @ W_head + b_head                 (B, classes)
 *   loss = mean over images of -log softmax(logits)[label]
 * This is timm's `VisionTransformer(class_token=False, global_pool='avg', fc_norm=True)`; parameter names are
 * timm's (`patch_embed.proj.weight`, `blocks.{l}.attn.qkv.weight`, ...). Differences: GELU is the tanh
 * approximation, and linear weights are held as (in, out) on the device (checkpoints store timm's (out, in);
 * see `vitTensorSpecs`).
 *
 * The layer loop is explicit and takes the same `LayerPlan` as GPT: a skipped layer is the identity on the
 * residual stream (dispatching and recording nothing), or with scope 'backward' runs forward only (src/model/layer_scope.ts). One parameter block per layer
 * plus one for the rest, so the optimizer leaves a skipped layer untouched.
 */
import { checkPlan, fullPlan, runLayers, TrunkParams, type LayerPlan } from '../../model/trunk.js';
import { preLnBlock, type BlockWeights } from '../../model/block.js';
import type { ParamSpec } from '../../model/params.js';
import { crossEntropy } from '../../ops/crossentropy.js';
import { layernorm } from '../../ops/layernorm.js';
import { matmul } from '../../ops/matmul.js';
import { meanPool } from '../../ops/meanpool.js';
import { posEmbed } from '../../ops/posembed.js';
import type { Engine } from '../../runtime/engine.js';
import { expectDType, fmtShape, ShapeError, type Tensor } from '../../runtime/tensor.js';

/** Model sizes (names as timm's `VisionTransformer` arguments where there is one). */
export interface VitConfig {
  n_layer: number; // L (timm: depth)
  n_head: number; // NH (timm: num_heads)
  n_embd: number; // C (timm: embed_dim)
  image_size: number; // square images, H = W
  patch_size: number; // P, divides image_size
  n_classes: number; // timm: num_classes
}

/** Tokens per image and pixels per patch. */
export function vitTokens(cfg: VitConfig): { T: number; K: number } {
  return { T: (cfg.image_size / cfg.patch_size) ** 2, K: cfg.patch_size ** 2 };
}

/** Throws a ShapeError unless the sizes are positive integers, P divides the image and the heads divide C. */
export function checkVitConfig(cfg: VitConfig): void {
  for (const k of ['n_layer', 'n_head', 'n_embd', 'image_size', 'patch_size', 'n_classes'] as const) {
    if (!Number.isSafeInteger(cfg[k]) || cfg[k] <= 0) throw new ShapeError(`ViT: ${k} must be a positive integer, got ${JSON.stringify(cfg[k])}`);
  }
  if (cfg.image_size % cfg.patch_size !== 0) throw new ShapeError(`ViT: patch_size ${cfg.patch_size} does not divide image_size ${cfg.image_size}`);
  if (cfg.n_embd % cfg.n_head !== 0) throw new ShapeError(`ViT: n_embd ${cfg.n_embd} is not divisible by n_head ${cfg.n_head}`);
}

/**
 * One parameter: its name, its shape on the device, its shape in a checkpoint (timm's), the layer it belongs to
 * (null outside the blocks), and whether the checkpoint holds the transpose: a linear weight is (in, out) on the
 * device and (out, in) in timm (the patch embedding's (K, C) becomes timm's Conv2d weight (C, 1, P, P)).
 */
export interface VitTensorSpec {
  name: string;
  shape: number[];
  fileShape: number[];
  layer: number | null;
  transpose: boolean;
}

/** Every parameter in order: patch embedding, position table, blocks 0..L-1, fc_norm, head. */
export function vitTensorSpecs(cfg: VitConfig): VitTensorSpec[] {
  checkVitConfig(cfg);
  const { n_layer: L, n_embd: C, patch_size: P, n_classes: NC } = cfg;
  const { T, K } = vitTokens(cfg);
  const plain = (name: string, shape: number[], layer: number | null = null): VitTensorSpec => ({ name, shape, fileShape: shape, layer, transpose: false });
  const linear = (name: string, inF: number, outF: number, layer: number | null = null, fileShape = [outF, inF]): VitTensorSpec => ({
    name,
    shape: [inF, outF],
    fileShape,
    layer,
    transpose: true,
  });
  const specs: VitTensorSpec[] = [linear('patch_embed.proj.weight', K, C, null, [C, 1, P, P]), plain('patch_embed.proj.bias', [C]), plain('pos_embed', [1, T, C])];
  for (let l = 0; l < L; l++) {
    const b = `blocks.${l}`;
    specs.push(
      plain(`${b}.norm1.weight`, [C], l),
      plain(`${b}.norm1.bias`, [C], l),
      linear(`${b}.attn.qkv.weight`, C, 3 * C, l),
      plain(`${b}.attn.qkv.bias`, [3 * C], l),
      linear(`${b}.attn.proj.weight`, C, C, l),
      plain(`${b}.attn.proj.bias`, [C], l),
      plain(`${b}.norm2.weight`, [C], l),
      plain(`${b}.norm2.bias`, [C], l),
      linear(`${b}.mlp.fc1.weight`, C, 4 * C, l),
      plain(`${b}.mlp.fc1.bias`, [4 * C], l),
      linear(`${b}.mlp.fc2.weight`, 4 * C, C, l),
      plain(`${b}.mlp.fc2.bias`, [C], l),
    );
  }
  specs.push(plain('fc_norm.weight', [C]), plain('fc_norm.bias', [C]), linear('head.weight', C, NC), plain('head.bias', [NC]));
  return specs;
}

/**
 * Initial values (timm's, with a Gaussian for its truncated normal): linear weights and the position table
 * N(0, 0.02); the patch embedding as PyTorch's Conv2d default (variance 1 / (3 K)); biases 0; LayerNorm weights 1.
 * Weight decay on the weight matrices only (none on biases, LayerNorms or the position table), as timm does.
 */
function paramSpec(s: VitTensorSpec, K: number): ParamSpec {
  const isWeightMatrix = s.transpose;
  let init: ParamSpec['init'] = { normal: 0.02 };
  if (s.name.endsWith('.bias')) init = { constant: 0 };
  else if (/norm\d?\.weight$/.test(s.name)) init = { constant: 1 };
  else if (s.name === 'patch_embed.proj.weight') init = { normal: 1 / Math.sqrt(3 * K) };
  return { name: s.name, shape: s.shape, decay: isWeightMatrix, init };
}

/** A batch on the device: patches (B, T, K) and labels (B) (-1 marks a padding row), or no labels. */
export interface VitDeviceBatch {
  patches: Tensor;
  labels: Tensor | null;
}

export class ViT extends TrunkParams {
  readonly T: number;
  readonly K: number;

  constructor(
    e: Engine,
    readonly config: VitConfig,
  ) {
    const { K } = vitTokens(config);
    super(e, config.n_layer, vitTensorSpecs(config).map((s) => ({ layer: s.layer, spec: paramSpec(s, K) })), (l) => `blocks.${l}`);
    ({ T: this.T, K: this.K } = vitTokens(config));
  }

  /**
   * Forward pass. Returns the logits (B, classes) and, when the batch has labels, the mean cross-entropy over
   * the rows whose label is a class id (padding rows, label -1, are left out). `plan` says which layers run.
   */
  forward(batch: VitDeviceBatch, plan: LayerPlan = fullPlan(this.config.n_layer)): { logits: Tensor; loss: Tensor | null } {
    const { e, config } = this;
    const { patches } = batch;
    if (patches.shape.length !== 3 || patches.shape[1] !== this.T || patches.shape[2] !== this.K) {
      throw new ShapeError(`ViT: patches have shape ${fmtShape(patches.shape)}, expected (B, ${this.T}, ${this.K}) for ${config.image_size}x${config.image_size} images in ${config.patch_size}x${config.patch_size} patches`);
    }
    expectDType('ViT', 'patches', patches, 'f32');
    checkPlan(plan, config.n_layer, 'ViT');
    const r = this.rest;
    let x = e.inLayer(
      null,
      () => {
        // The matmul's backward also forms d(patches), which nothing uses (matmul has no switch to skip an
        // input's gradient): K*C multiply-adds per token, against about 24 C^2 per token in each block's backward.
        const emb = matmul(e, patches, r.get('patch_embed.proj.weight'), r.get('patch_embed.proj.bias')); // (B, T, C)
        return posEmbed(e, emb, r.get('pos_embed'));
      },
      'forward',
    );
    // The trunk's layer loop (src/model/trunk.ts), the one GPT uses.
    x = runLayers(e, plan, x, config.n_layer, (l, h, scale) => this.block(l, h, scale), 'ViT');
    return e.inLayer(
      null,
      () => {
        const pooled = meanPool(e, x); // (B, C)
        const h = layernorm(e, pooled, r.get('fc_norm.weight'), r.get('fc_norm.bias'));
        const logits = matmul(e, h, r.get('head.weight'), r.get('head.bias'), { head: true }); // (B, classes)
        const loss = batch.labels ? crossEntropy(e, logits, batch.labels) : null;
        return { logits, loss };
      },
      'forward',
    );
  }

  /** One pre-LN block on x (B, T, C) with bidirectional attention (the block GPT uses). */
  private block(l: number, x: Tensor, scale: number): Tensor {
    const p = (name: string) => this.layers[l]!.get(`blocks.${l}.${name}`);
    const w: BlockWeights = {
      ln1Weight: p('norm1.weight'),
      ln1Bias: p('norm1.bias'),
      qkvWeight: p('attn.qkv.weight'),
      qkvBias: p('attn.qkv.bias'),
      projWeight: p('attn.proj.weight'),
      projBias: p('attn.proj.bias'),
      ln2Weight: p('norm2.weight'),
      ln2Bias: p('norm2.bias'),
      fcWeight: p('mlp.fc1.weight'),
      fcBias: p('mlp.fc1.bias'),
      fc2Weight: p('mlp.fc2.weight'),
      fc2Bias: p('mlp.fc2.bias'),
    };
    return preLnBlock(this.e, x, w, { nHead: this.config.n_head, scale, causal: false });
  }
}
