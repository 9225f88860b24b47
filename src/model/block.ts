/**
 * The pre-LN transformer block that GPT and the ViT share:
 *
 *   x = x + s * proj(attn(qkv(LN1(x))))          attention causal (GPT) or bidirectional (ViT)
 *   x = x + s * fc2(gelu(fc(LN2(x))))          fc and gelu one kernel (src/ops/linear_gelu.ts)
 * with s the layer plan's scale on a kept layer's residual branches (1 unless a layer-dropping policy
 * rescales). Linear weights are (in, out), as GPT-2's Conv1D stores them: qkv (C, 3C), proj (C, C),
 * fc (C, 4C), fc2 (4C, C). Each op records its own backward rule, so the block's backward is those rules in
 * reverse; the block itself saves nothing.
 *
 * Cost per block: 9 forward dispatches (2 layernorms, 4 matmuls with their biases fused, fc's with GELU in its
 * epilogue too, attention, 2 residual adds); 10 where the adapter's `linearGelu` choice is 'separate' (gelu
 * on its own).
 */
import { attention } from '../ops/attention.js';
import { layernorm } from '../ops/layernorm.js';
import { linearThenGelu } from '../ops/linear_gelu.js';
import { matmul } from '../ops/matmul.js';
import { residualAdd } from '../ops/residual.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';

/** One block's parameters, whatever the model calls them. */
export interface BlockWeights {
  ln1Weight: Tensor; // (C)
  ln1Bias: Tensor; // (C)
  qkvWeight: Tensor; // (C, 3C)
  qkvBias: Tensor; // (3C)
  projWeight: Tensor; // (C, C)
  projBias: Tensor; // (C)
  ln2Weight: Tensor; // (C)
  ln2Bias: Tensor; // (C)
  fcWeight: Tensor; // (C, 4C)
  fcBias: Tensor; // (4C)
  fc2Weight: Tensor; // (4C, C)
  fc2Bias: Tensor; // (C)
}

export interface BlockOptions {
  nHead: number;
  /** Factor on both residual branches (layer dropping's rescale of a kept layer). */
  scale: number;
  /** GPT: true; ViT: false (every token sees every token). */
  causal: boolean;
}

/** One pre-LN transformer block on x (B, T, C); returns the new residual stream (B, T, C). */
export function preLnBlock(e: Engine, x: Tensor, w: BlockWeights, o: BlockOptions): Tensor {
  const h1 = layernorm(e, x, w.ln1Weight, w.ln1Bias);
  const qkv = matmul(e, h1, w.qkvWeight, w.qkvBias); // (B, T, 3C)
  const att = attention(e, qkv, o.nHead, { causal: o.causal }); // (B, T, C)
  const proj = matmul(e, att, w.projWeight, w.projBias); // (B, T, C)
  x = residualAdd(e, x, proj, o.scale);
  const h2 = layernorm(e, x, w.ln2Weight, w.ln2Bias);
  const act = linearThenGelu(e, h2, w.fcWeight, w.fcBias); // (B, T, 4C)
  const mlp = matmul(e, act, w.fc2Weight, w.fc2Bias); // (B, T, C)
  return residualAdd(e, x, mlp, o.scale);
}
