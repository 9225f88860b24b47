/**
 * Plain-loop float64 reference for the ViT classifier: im2col, forward (logits, mean cross-entropy), backward
 * (every parameter's gradient), composed from the per-op references in this folder. Nothing here imports the
 * engine or `src/tasks/vit`: parameter names, device shapes ((in, out) linear weights) and the patch layout are
 * written out again below.
 *
 *   patches[b, t, k]: patch t = py * (S/P) + px of image b, pixel k = dy * P + dx   (B, T, K)
 *   x = patches @ W_patch + b_patch + pos_embed[t]                                 (B, T, C)
 *   for each layer l that runs, with s = plan.scale[l]:
 *     x = x + s * proj(attn(qkv(LN1(x))))          attention NOT causal
 *     x = x + s * fc2(gelu(fc1(LN2(x))))
 *   logits = LN_fc(mean_t x) @ W_head + b_head                                     (B, NC)
 *   loss = mean over images with a label in [0, NC) of -log softmax(logits)[label]
 *
 * The blocks are the pre-LN block GPT shares (./block.ts), bidirectional here. The backward pass calls the op
 * backwards in exact reverse order. Accumulation: parameter gradients +=, the residual stream += (both branches of
 * each residual add), other activations =.
 */
import type { AttentionRef } from './attention.js';
import { addInto, blockBackwardRef, blockForwardRef, blockShapesRef, fullPlanRef, mm, type BlockActs, type BlockNames, type RefPlan } from './block.js';
import { crossEntropyBackwardRef, crossEntropyRef } from './crossentropy.js';
import { layernormBackwardRef, layernormRef } from './layernorm.js';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from './matmul.js';
import { meanpoolBackwardRef, meanpoolRef } from './meanpool.js';
import { posembedBackwardRef, posembedRef } from './posembed.js';

export { fullPlanRef, type RefPlan };

export interface VitRefConfig {
  L: number; // layers
  NH: number; // heads
  C: number; // width
  S: number; // image side
  P: number; // patch side
  NC: number; // classes
}

export type VitParams = Record<string, Float64Array>;

export function tokensRef(cfg: VitRefConfig): { T: number; K: number } {
  return { T: (cfg.S / cfg.P) ** 2, K: cfg.P * cfg.P };
}

/** timm's names for a block's tensors. */
const BLOCK: BlockNames = { ln1: 'norm1', qkv: 'attn.qkv', proj: 'attn.proj', ln2: 'norm2', fc: 'mlp.fc1', fc2: 'mlp.fc2' };

/** Every parameter with its device shape ((in, out) for linear weights) and optimizer block (-1: the rest). */
export function vitParamShapesRef(cfg: VitRefConfig): { name: string; shape: number[]; block: number }[] {
  const { L, C, NC } = cfg;
  const { T, K } = tokensRef(cfg);
  const out = [
    { name: 'patch_embed.proj.weight', shape: [K, C], block: -1 },
    { name: 'patch_embed.proj.bias', shape: [C], block: -1 },
    { name: 'pos_embed', shape: [1, T, C], block: -1 },
  ];
  for (let l = 0; l < L; l++) for (const [n, shape] of blockShapesRef(BLOCK, C)) out.push({ name: `blocks.${l}.${n}`, shape, block: l });
  out.push(
    { name: 'fc_norm.weight', shape: [C], block: -1 },
    { name: 'fc_norm.bias', shape: [C], block: -1 },
    { name: 'head.weight', shape: [C, NC], block: -1 },
    { name: 'head.bias', shape: [NC], block: -1 },
  );
  return out;
}

/** im2col of B square images (B, S, S) of pixel values into (B, T, K), written as four plain loops. */
export function patchifyRef(images: ArrayLike<number>, B: number, S: number, P: number): Float64Array {
  const g = S / P;
  const T = g * g;
  const K = P * P;
  const out = new Float64Array(B * T * K);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < g; py++)
      for (let px = 0; px < g; px++)
        for (let dy = 0; dy < P; dy++)
          for (let dx = 0; dx < P; dx++) {
            out[(b * T + py * g + px) * K + dy * P + dx] = images[b * S * S + (py * P + dy) * S + px * P + dx]!;
          }
  return out;
}

/** The network with the layers that do not run deleted (kept layers renumbered), and its plan. */
export function removeLayers(cfg: VitRefConfig, p: VitParams, plan: RefPlan): { cfg: VitRefConfig; params: VitParams; plan: RefPlan; kept: number[] } {
  const kept = [...Array(cfg.L).keys()].filter((l) => plan.run[l]);
  const params: VitParams = {};
  for (const { name } of vitParamShapesRef(cfg)) {
    const m = /^blocks\.(\d+)\.(.*)$/.exec(name);
    if (!m) params[name] = p[name]!;
    else if (plan.run[Number(m[1])]) params[`blocks.${kept.indexOf(Number(m[1]))}.${m[2]}`] = p[name]!;
  }
  return { cfg: { ...cfg, L: kept.length }, params, plan: { run: kept.map(() => true), scale: kept.map((l) => plan.scale[l] ?? 1) }, kept };
}

interface LayerActs extends BlockActs {
  l: number;
  scale: number;
}

export interface VitForwardRef {
  logits: Float64Array; // (B, NC)
  loss: number;
  B: number;
  patches: ArrayLike<number>;
  labels: ArrayLike<number>;
  layers: LayerActs[];
  xL: Float64Array; // (B, T, C) residual stream after the last layer
  pooled: Float64Array; // (B, C)
  hf: Float64Array; // (B, C) LN_fc(pooled)
}

/** Forward pass over patches (B, T, K) and labels (B) with the layers of `plan`. */
export function vitForwardRef(
  cfg: VitRefConfig,
  p: VitParams,
  patches: ArrayLike<number>,
  labels: ArrayLike<number>,
  B: number,
  plan: RefPlan = fullPlanRef(cfg.L),
): VitForwardRef {
  const { C, NH, NC } = cfg;
  const { T, K } = tokensRef(cfg);
  const N = B * T;
  const P = (name: string) => p[name]!;
  const emb = linearRef(mm(N, K, C), patches, P('patch_embed.proj.weight'), P('patch_embed.proj.bias'));
  let x = posembedRef(B, T, C, emb, P('pos_embed'));
  const att: AttentionRef = { B, T, C, NH, causal: false };
  const layers: LayerActs[] = [];
  for (let l = 0; l < cfg.L; l++) {
    if (!plan.run[l]) continue;
    const s = plan.scale[l] ?? 1;
    const block = blockForwardRef(att, BLOCK, (n) => P(`blocks.${l}.${n}`), x, s);
    layers.push({ l, scale: s, ...block.acts });
    x = block.out;
  }
  const pooled = meanpoolRef(B, T, C, x);
  const hf = layernormRef(B, C, pooled, P('fc_norm.weight'), P('fc_norm.bias')).out;
  const logits = matmulRef(mm(B, C, NC), hf, P('head.weight'), P('head.bias'));
  const { loss } = crossEntropyRef(B, NC, logits, labels);
  return { logits, loss, B, patches, labels, layers, xL: x, pooled, hf };
}

/** Gradient of dloss * loss with respect to every parameter (zeros for a layer that did not run). */
export function vitBackwardRef(cfg: VitRefConfig, p: VitParams, f: VitForwardRef, dloss = 1): VitParams {
  const { C, NH, NC } = cfg;
  const { T, K } = tokensRef(cfg);
  const { B } = f;
  const N = B * T;
  const P = (name: string) => p[name]!;
  const grads: VitParams = {};
  for (const { name, shape } of vitParamShapesRef(cfg)) grads[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));
  const G = (name: string) => grads[name]!;

  // loss -> logits -> hf -> pooled -> xL
  const dlogits = crossEntropyBackwardRef(B, NC, f.logits, f.labels, dloss);
  const head = matmulBackwardRef(mm(B, C, NC), f.hf, P('head.weight'), dlogits);
  addInto(G('head.weight'), head.dw);
  addInto(G('head.bias'), head.dbias);
  const lnf = layernormBackwardRef(B, C, f.pooled, P('fc_norm.weight'), head.da);
  addInto(G('fc_norm.weight'), lnf.dweight);
  addInto(G('fc_norm.bias'), lnf.dbias);
  let dx = meanpoolBackwardRef(B, T, C, lnf.dx);

  const att: AttentionRef = { B, T, C, NH, causal: false };
  for (let i = f.layers.length - 1; i >= 0; i--) {
    const a = f.layers[i]!;
    const w = (n: string) => P(`blocks.${a.l}.${n}`);
    const g = (n: string) => G(`blocks.${a.l}.${n}`);
    dx = blockBackwardRef(att, BLOCK, w, g, a, a.scale, dx);
  }

  const pe = posembedBackwardRef(B, T, C, dx);
  addInto(G('pos_embed'), pe.dpos);
  const patch = linearBackwardRef(mm(N, K, C), f.patches, P('patch_embed.proj.weight'), pe.dx);
  addInto(G('patch_embed.proj.weight'), patch.dw);
  addInto(G('patch_embed.proj.bias'), patch.dbias);
  return grads;
}
