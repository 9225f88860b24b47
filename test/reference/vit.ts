/**
 * Plain-loop float64 reference for the ViT classifier: im2col, forward (logits, mean cross-entropy), backward
 * (every parameter's gradient), composed from the per-op references in this folder. Nothing here imports the
 * engine or `src/vit`: parameter names, device shapes ((in, out) linear weights) and the patch layout are
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
 * The backward pass calls the op backwards in exact reverse order. Accumulation: parameter gradients +=, the
 * residual stream += (both branches of each residual add), other activations =.
 */
import { attentionBackwardRef, attentionRef, type AttentionRef } from './attention.js';
import { crossEntropyBackwardRef, crossEntropyRef } from './crossentropy.js';
import { geluBackwardRef, geluRef } from './gelu.js';
import { layernormBackwardRef, layernormRef } from './layernorm.js';
import { matmulBackwardRef, matmulRef, type MatmulRef } from './matmul.js';
import { meanpoolBackwardRef, meanpoolRef } from './meanpool.js';
import { posembedBackwardRef, posembedRef } from './posembed.js';
import { residualBackwardRef, residualRef } from './residual.js';

export interface VitRefConfig {
  L: number; // layers
  NH: number; // heads
  C: number; // width
  S: number; // image side
  P: number; // patch side
  NC: number; // classes
}

export type VitParams = Record<string, Float64Array>;

export interface RefPlan {
  run: readonly boolean[];
  scale: readonly number[];
}

export function fullPlanRef(L: number): RefPlan {
  return { run: Array(L).fill(true), scale: Array(L).fill(1) };
}

export function tokensRef(cfg: VitRefConfig): { T: number; K: number } {
  return { T: (cfg.S / cfg.P) ** 2, K: cfg.P * cfg.P };
}

/** Every parameter with its device shape ((in, out) for linear weights) and optimizer block (-1: the rest). */
export function vitParamShapesRef(cfg: VitRefConfig): { name: string; shape: number[]; block: number }[] {
  const { L, C, NC } = cfg;
  const { T, K } = tokensRef(cfg);
  const out = [
    { name: 'patch_embed.proj.weight', shape: [K, C], block: -1 },
    { name: 'patch_embed.proj.bias', shape: [C], block: -1 },
    { name: 'pos_embed', shape: [1, T, C], block: -1 },
  ];
  const layer: [string, number[]][] = [
    ['norm1.weight', [C]],
    ['norm1.bias', [C]],
    ['attn.qkv.weight', [C, 3 * C]],
    ['attn.qkv.bias', [3 * C]],
    ['attn.proj.weight', [C, C]],
    ['attn.proj.bias', [C]],
    ['norm2.weight', [C]],
    ['norm2.bias', [C]],
    ['mlp.fc1.weight', [C, 4 * C]],
    ['mlp.fc1.bias', [4 * C]],
    ['mlp.fc2.weight', [4 * C, C]],
    ['mlp.fc2.bias', [C]],
  ];
  for (let l = 0; l < L; l++) for (const [n, shape] of layer) out.push({ name: `blocks.${l}.${n}`, shape, block: l });
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

interface LayerActs {
  l: number;
  scale: number;
  x: Float64Array; // (B, T, C) layer input
  h1: Float64Array; // LN1(x)
  qkv: Float64Array; // (B, T, 3C)
  att: Float64Array; // (B, T, C)
  x1: Float64Array; // x + s * proj
  h2: Float64Array; // LN2(x1)
  fc: Float64Array; // (B, T, 4C)
  act: Float64Array; // gelu(fc)
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

function mm(M: number, K: number, N: number): MatmulRef {
  return { batch: 1, M, K, N, transA: false, transB: false };
}

function addInto(dst: Float64Array, src: ArrayLike<number>): void {
  for (let i = 0; i < dst.length; i++) dst[i] = dst[i]! + src[i]!;
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
  const emb = matmulRef(mm(N, K, C), patches, P('patch_embed.proj.weight'), P('patch_embed.proj.bias'));
  let x = posembedRef(B, T, C, emb, P('pos_embed'));
  const att: AttentionRef = { B, T, C, NH, causal: false };
  const layers: LayerActs[] = [];
  for (let l = 0; l < cfg.L; l++) {
    if (!plan.run[l]) continue;
    const s = plan.scale[l] ?? 1;
    const w = (n: string) => P(`blocks.${l}.${n}`);
    const h1 = layernormRef(N, C, x, w('norm1.weight'), w('norm1.bias')).out;
    const qkv = matmulRef(mm(N, C, 3 * C), h1, w('attn.qkv.weight'), w('attn.qkv.bias'));
    const a = attentionRef(att, qkv).out;
    const proj = matmulRef(mm(N, C, C), a, w('attn.proj.weight'), w('attn.proj.bias'));
    const x1 = residualRef(x, proj, s);
    const h2 = layernormRef(N, C, x1, w('norm2.weight'), w('norm2.bias')).out;
    const fc = matmulRef(mm(N, C, 4 * C), h2, w('mlp.fc1.weight'), w('mlp.fc1.bias'));
    const act = geluRef(fc);
    const mlp = matmulRef(mm(N, 4 * C, C), act, w('mlp.fc2.weight'), w('mlp.fc2.bias'));
    layers.push({ l, scale: s, x, h1, qkv, att: a, x1, h2, fc, act });
    x = residualRef(x1, mlp, s);
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
    const r2 = residualBackwardRef(dx, a.scale);
    const dx1 = r2.dh;
    const fc2 = matmulBackwardRef(mm(N, 4 * C, C), a.act, w('mlp.fc2.weight'), r2.dbranch);
    addInto(g('mlp.fc2.weight'), fc2.dw);
    addInto(g('mlp.fc2.bias'), fc2.dbias);
    const dfc = geluBackwardRef(a.fc, fc2.da);
    const fc1 = matmulBackwardRef(mm(N, C, 4 * C), a.h2, w('mlp.fc1.weight'), dfc);
    addInto(g('mlp.fc1.weight'), fc1.dw);
    addInto(g('mlp.fc1.bias'), fc1.dbias);
    const ln2 = layernormBackwardRef(N, C, a.x1, w('norm2.weight'), fc1.da);
    addInto(g('norm2.weight'), ln2.dweight);
    addInto(g('norm2.bias'), ln2.dbias);
    addInto(dx1, ln2.dx);
    const r1 = residualBackwardRef(dx1, a.scale);
    const dxin = r1.dh;
    const proj = matmulBackwardRef(mm(N, C, C), a.att, w('attn.proj.weight'), r1.dbranch);
    addInto(g('attn.proj.weight'), proj.dw);
    addInto(g('attn.proj.bias'), proj.dbias);
    const dqkv = attentionBackwardRef(att, a.qkv, proj.da);
    const qkv = matmulBackwardRef(mm(N, C, 3 * C), a.h1, w('attn.qkv.weight'), dqkv);
    addInto(g('attn.qkv.weight'), qkv.dw);
    addInto(g('attn.qkv.bias'), qkv.dbias);
    const ln1 = layernormBackwardRef(N, C, a.x, w('norm1.weight'), qkv.da);
    addInto(g('norm1.weight'), ln1.dweight);
    addInto(g('norm1.bias'), ln1.dbias);
    addInto(dxin, ln1.dx);
    dx = dxin;
  }

  const pe = posembedBackwardRef(B, T, C, dx);
  addInto(G('pos_embed'), pe.dpos);
  const patch = matmulBackwardRef(mm(N, K, C), f.patches, P('patch_embed.proj.weight'), pe.dx);
  addInto(G('patch_embed.proj.weight'), patch.dw);
  addInto(G('patch_embed.proj.bias'), patch.dbias);
  return grads;
}
