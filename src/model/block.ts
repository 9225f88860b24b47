/**
 * The pre-LN transformer block that GPT and the ViT share:
 *
 *   x = x + s * proj(attn(qkv(LN1(x))))          attention causal (GPT) or bidirectional (ViT)
 *   x = x + s * fc2(gelu(fc(LN2(x))))
 * fc and gelu are one kernel (src/ops/linear_gelu.ts), and each output projection adds into the residual
 * stream in its GEMM's epilogue (src/ops/linear_residual.ts; with s = 1).
 * with s the layer plan's scale on a kept layer's residual branches (1 unless a layer-dropping policy
 * rescales). Linear weights are (in, out), as GPT-2's Conv1D stores them: qkv (C, 3C), proj (C, C),
 * fc (C, 4C), fc2 (4C, C). Each op records its own backward rule, so the block's backward is those rules in
 * reverse; the block itself saves nothing.
 *
 * Cost per block: 7 forward dispatches (2 layernorms, 4 matmuls with their biases in the epilogue, fc's with
 * GELU too and the projections' with the residual add, attention); one more for GELU where the adapter's
 * `linearGelu` choice is 'separate', and one more per projection (its residual add) where `linearResidual` is
 * 'separate' or s != 1. Under f16 mixed precision the LayerNorms and the fused linear + GELU write their output
 * in f16, the input of the linear after them, and attention stores an f16 copy of its output beside it: no more
 * dispatches (src/ops/matmul.ts).
 */
import { attention } from '../ops/attention.js';
import { layernorm } from '../ops/layernorm.js';
import { linearThenGelu } from '../ops/linear_gelu.js';
import { linearResidual } from '../ops/linear_residual.js';
import { matmul } from '../ops/matmul.js';
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
  const h1 = layernorm(e, x, w.ln1Weight, w.ln1Bias, { forMatmul: true });
  const qkv = matmul(e, h1, w.qkvWeight, w.qkvBias); // (B, T, 3C)
  const att = attention(e, qkv, o.nHead, { causal: o.causal }); // (B, T, C)
  x = linearResidual(e, att, w.projWeight, w.projBias, x, o.scale); // x + s proj(att), (B, T, C)
  const h2 = layernorm(e, x, w.ln2Weight, w.ln2Bias, { forMatmul: true });
  const act = linearThenGelu(e, h2, w.fcWeight, w.fcBias); // (B, T, 4C)
  return linearResidual(e, act, w.fc2Weight, w.fc2Bias, x, o.scale); // x + s fc2(act), (B, T, C)
}
