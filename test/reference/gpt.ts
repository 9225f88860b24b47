/**
 * Plain-loop float64 reference for the whole GPT-2 model: forward (logits, mean cross-entropy), backward (every
 * parameter's gradient) and the AdamW training step with global-norm clipping, composed here from the per-op
 * references in this folder. Nothing here imports the engine or `src/model`: parameter names, shapes, which
 * tensors get weight decay and how they group into optimizer blocks are written out again below.
 *
 *   x = wte[tokens] + wpe[t]                                              (B, T, C)
 *   for each layer l that runs (plan.run[l]), with s = plan.scale[l]:
 *     x = x + s * c_proj(attn(c_attn(LN1(x))))
 *     x = x + s * mlp.c_proj(gelu(c_fc(LN2(x))))
 *   logits = LN_f(x) wte^T                                                (B, T, V), LM head tied to wte
 *   loss = mean over (b, t) of -log softmax(logits[b, t])[targets[b, t]]
 * A layer that does not run is the identity: this is the same network with that layer removed
 * (`removeLayers` builds that network explicitly, so tests can check both readings agree).
 *
 * The backward pass calls the op backwards in exact reverse order. Accumulation: parameter gradients +=,
 * the residual stream += (both branches of each residual add), other activations =.
 */
import { adamwStepRef, clipScaleRef, sumsqRef } from './adamw.js';
import { attentionBackwardRef, attentionRef, type AttentionRef } from './attention.js';
import { crossEntropyBackwardRef, crossEntropyRef } from './crossentropy.js';
import { embeddingBackwardRef, embeddingRef, type EmbeddingRef } from './embedding.js';
import { geluBackwardRef, geluRef } from './gelu.js';
import { layernormBackwardRef, layernormRef } from './layernorm.js';
import { matmulBackwardRef, matmulRef, type MatmulRef } from './matmul.js';
import { residualBackwardRef, residualRef } from './residual.js';

export interface GptRefConfig {
  L: number; // layers
  NH: number; // heads
  C: number; // width
  V: number; // vocabulary
  maxT: number; // positions
}

/** Named float64 tensors, Hugging Face GPT-2 names (`transformer.h.0.attn.c_attn.weight`, ...). */
export type GptParams = Record<string, Float64Array>;

/** Which layers run, and the factor on each kept layer's two residual branches. */
export interface RefPlan {
  run: readonly boolean[];
  scale: readonly number[];
}

export function fullPlanRef(L: number): RefPlan {
  return { run: Array(L).fill(true), scale: Array(L).fill(1) };
}

/** Per-layer tensors: name suffix and shape (Conv1D layout: weights are [in, out]). */
function layerShapes(C: number): [string, number[]][] {
  return [
    ['ln_1.weight', [C]],
    ['ln_1.bias', [C]],
    ['attn.c_attn.weight', [C, 3 * C]],
    ['attn.c_attn.bias', [3 * C]],
    ['attn.c_proj.weight', [C, C]],
    ['attn.c_proj.bias', [C]],
    ['ln_2.weight', [C]],
    ['ln_2.bias', [C]],
    ['mlp.c_fc.weight', [C, 4 * C]],
    ['mlp.c_fc.bias', [4 * C]],
    ['mlp.c_proj.weight', [4 * C, C]],
    ['mlp.c_proj.bias', [C]],
  ];
}

/** Every parameter with its shape and optimizer block (layer index, or -1 for embeddings and ln_f). */
export function gptParamShapesRef(cfg: GptRefConfig): { name: string; shape: number[]; block: number }[] {
  const { L, C, V, maxT } = cfg;
  const out = [
    { name: 'transformer.wte.weight', shape: [V, C], block: -1 },
    { name: 'transformer.wpe.weight', shape: [maxT, C], block: -1 },
  ];
  for (let l = 0; l < L; l++) for (const [n, shape] of layerShapes(C)) out.push({ name: `transformer.h.${l}.${n}`, shape, block: l });
  out.push({ name: 'transformer.ln_f.weight', shape: [C], block: -1 }, { name: 'transformer.ln_f.bias', shape: [C], block: -1 });
  return out;
}

/** Weight decay (GPT-2 / nanoGPT practice): the four matrices per layer and the tied token embedding. */
export function decaysRef(name: string): boolean {
  return name === 'transformer.wte.weight' || /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);
}

/** The network with the layers that do not run in `plan` deleted (kept layers renumbered), and its plan. */
export function removeLayers(cfg: GptRefConfig, p: GptParams, plan: RefPlan): { cfg: GptRefConfig; params: GptParams; plan: RefPlan; kept: number[] } {
  const kept = [...Array(cfg.L).keys()].filter((l) => plan.run[l]);
  const params: GptParams = {};
  for (const { name } of gptParamShapesRef(cfg)) {
    const m = /^transformer\.h\.(\d+)\.(.*)$/.exec(name);
    if (!m) params[name] = p[name]!;
    else if (plan.run[Number(m[1])]) params[`transformer.h.${kept.indexOf(Number(m[1]))}.${m[2]}`] = p[name]!;
  }
  const sub = { ...cfg, L: kept.length };
  return { cfg: sub, params, plan: { run: kept.map(() => true), scale: kept.map((l) => plan.scale[l] ?? 1) }, kept };
}

/** What one layer's forward keeps for its backward. */
interface LayerActs {
  l: number;
  scale: number;
  x: Float64Array; // (B, T, C) layer input
  h1: Float64Array; // (B, T, C) LN1(x)
  qkv: Float64Array; // (B, T, 3C)
  att: Float64Array; // (B, T, C)
  x1: Float64Array; // (B, T, C) x + s * proj
  h2: Float64Array; // (B, T, C) LN2(x1)
  fc: Float64Array; // (B, T, 4C)
  act: Float64Array; // (B, T, 4C) gelu(fc)
}

export interface GptForwardRef {
  logits: Float64Array; // (B, T, V)
  loss: number;
  B: number;
  T: number;
  tokens: ArrayLike<number>;
  targets: ArrayLike<number>;
  layers: LayerActs[];
  xL: Float64Array; // (B, T, C) residual stream entering ln_f
  xf: Float64Array; // (B, T, C) LN_f(xL)
}

function mm(M: number, K: number, N: number, transB = false): MatmulRef {
  return { batch: 1, M, K, N, transA: false, transB };
}

/** Forward pass over tokens / targets (B, T) with the layers of `plan`. */
export function gptForwardRef(
  cfg: GptRefConfig,
  p: GptParams,
  tokens: ArrayLike<number>,
  targets: ArrayLike<number>,
  B: number,
  T: number,
  plan: RefPlan = fullPlanRef(cfg.L),
): GptForwardRef {
  const { C, V, NH } = cfg;
  const N = B * T;
  const P = (name: string) => p[name]!;
  const emb: EmbeddingRef = { B, T, C, V, maxT: cfg.maxT };
  let x = embeddingRef(emb, tokens, P('transformer.wte.weight'), P('transformer.wpe.weight'));
  const layers: LayerActs[] = [];
  const att: AttentionRef = { B, T, C, NH, causal: true };
  for (let l = 0; l < cfg.L; l++) {
    if (!plan.run[l]) continue;
    const s = plan.scale[l] ?? 1;
    const w = (n: string) => P(`transformer.h.${l}.${n}`);
    const h1 = layernormRef(N, C, x, w('ln_1.weight'), w('ln_1.bias')).out;
    const qkv = matmulRef(mm(N, C, 3 * C), h1, w('attn.c_attn.weight'), w('attn.c_attn.bias'));
    const a = attentionRef(att, qkv).out;
    const proj = matmulRef(mm(N, C, C), a, w('attn.c_proj.weight'), w('attn.c_proj.bias'));
    const x1 = residualRef(x, proj, s);
    const h2 = layernormRef(N, C, x1, w('ln_2.weight'), w('ln_2.bias')).out;
    const fc = matmulRef(mm(N, C, 4 * C), h2, w('mlp.c_fc.weight'), w('mlp.c_fc.bias'));
    const act = geluRef(fc);
    const mlp = matmulRef(mm(N, 4 * C, C), act, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'));
    layers.push({ l, scale: s, x, h1, qkv, att: a, x1, h2, fc, act });
    x = residualRef(x1, mlp, s);
  }
  const xf = layernormRef(N, C, x, P('transformer.ln_f.weight'), P('transformer.ln_f.bias')).out;
  const logits = matmulRef(mm(N, C, V, true), xf, P('transformer.wte.weight'), null);
  const { loss } = crossEntropyRef(N, V, logits, targets);
  return { logits, loss, B, T, tokens, targets, layers, xL: x, xf };
}

function addInto(dst: Float64Array, src: ArrayLike<number>): void {
  for (let i = 0; i < dst.length; i++) dst[i] = dst[i]! + src[i]!;
}

/**
 * Gradient of dloss * loss with respect to every parameter (a zero tensor for every parameter of a layer that
 * did not run). Reverse order of `gptForwardRef`.
 */
export function gptBackwardRef(cfg: GptRefConfig, p: GptParams, f: GptForwardRef, dloss = 1): GptParams {
  const { C, V, NH } = cfg;
  const { B, T } = f;
  const N = B * T;
  const P = (name: string) => p[name]!;
  const grads: GptParams = {};
  for (const { name, shape } of gptParamShapesRef(cfg)) grads[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));
  const G = (name: string) => grads[name]!;

  // loss -> logits -> (xf, wte) -> xL
  const dlogits = crossEntropyBackwardRef(N, V, f.logits, f.targets, dloss);
  const head = matmulBackwardRef(mm(N, C, V, true), f.xf, P('transformer.wte.weight'), dlogits);
  addInto(G('transformer.wte.weight'), head.dw);
  const lnf = layernormBackwardRef(N, C, f.xL, P('transformer.ln_f.weight'), head.da);
  addInto(G('transformer.ln_f.weight'), lnf.dweight);
  addInto(G('transformer.ln_f.bias'), lnf.dbias);
  let dx = lnf.dx; // (B, T, C) gradient of the residual stream

  const att: AttentionRef = { B, T, C, NH, causal: true };
  for (let i = f.layers.length - 1; i >= 0; i--) {
    const a = f.layers[i]!;
    const w = (n: string) => P(`transformer.h.${a.l}.${n}`);
    const g = (n: string) => G(`transformer.h.${a.l}.${n}`);
    // x_out = x1 + s * mlp
    const r2 = residualBackwardRef(dx, a.scale);
    const dx1 = r2.dh;
    const mlp = matmulBackwardRef(mm(N, 4 * C, C), a.act, w('mlp.c_proj.weight'), r2.dbranch);
    addInto(g('mlp.c_proj.weight'), mlp.dw);
    addInto(g('mlp.c_proj.bias'), mlp.dbias);
    const dfc = geluBackwardRef(a.fc, mlp.da);
    const fc = matmulBackwardRef(mm(N, C, 4 * C), a.h2, w('mlp.c_fc.weight'), dfc);
    addInto(g('mlp.c_fc.weight'), fc.dw);
    addInto(g('mlp.c_fc.bias'), fc.dbias);
    const ln2 = layernormBackwardRef(N, C, a.x1, w('ln_2.weight'), fc.da);
    addInto(g('ln_2.weight'), ln2.dweight);
    addInto(g('ln_2.bias'), ln2.dbias);
    addInto(dx1, ln2.dx);
    // x1 = x + s * proj
    const r1 = residualBackwardRef(dx1, a.scale);
    const dxin = r1.dh;
    const proj = matmulBackwardRef(mm(N, C, C), a.att, w('attn.c_proj.weight'), r1.dbranch);
    addInto(g('attn.c_proj.weight'), proj.dw);
    addInto(g('attn.c_proj.bias'), proj.dbias);
    const dqkv = attentionBackwardRef(att, a.qkv, proj.da);
    const qkv = matmulBackwardRef(mm(N, C, 3 * C), a.h1, w('attn.c_attn.weight'), dqkv);
    addInto(g('attn.c_attn.weight'), qkv.dw);
    addInto(g('attn.c_attn.bias'), qkv.dbias);
    const ln1 = layernormBackwardRef(N, C, a.x, w('ln_1.weight'), qkv.da);
    addInto(g('ln_1.weight'), ln1.dweight);
    addInto(g('ln_1.bias'), ln1.dbias);
    addInto(dxin, ln1.dx);
    dx = dxin;
  }

  const emb = embeddingBackwardRef({ B, T, C, V, maxT: cfg.maxT }, f.tokens, dx);
  addInto(G('transformer.wte.weight'), emb.dwte);
  addInto(G('transformer.wpe.weight'), emb.dwpe);
  return grads;
}

export interface AdamWRefHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
}

/** Optimizer state of the reference trainer: moments per tensor, a step count per block (layers, then rest). */
export interface GptOptimRef {
  m: GptParams;
  v: GptParams;
  steps: number[];
}

export function initOptimRef(cfg: GptRefConfig): GptOptimRef {
  const m: GptParams = {};
  const v: GptParams = {};
  for (const { name, shape } of gptParamShapesRef(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    m[name] = new Float64Array(n);
    v[name] = new Float64Array(n);
  }
  return { m, v, steps: Array(cfg.L + 1).fill(0) };
}

/**
 * One training step in place on `p` and `opt`: the gradient is the mean over the micro-batches (each with its
 * own plan); the global norm runs over the blocks that ran in some micro-batch (the rest block always); those
 * blocks take an AdamW step with their own bias-correction count, the others are left alone.
 * Returns the mean loss (before the update) and the clip [scale, norm].
 */
export function trainStepRef(
  cfg: GptRefConfig,
  p: GptParams,
  opt: GptOptimRef,
  batches: readonly { inputs: ArrayLike<number>; targets: ArrayLike<number> }[],
  plans: readonly RefPlan[],
  B: number,
  T: number,
  lr: number,
  hp: AdamWRefHyper,
): { loss: number; clip: [number, number] } {
  const n = batches.length;
  const shapes = gptParamShapesRef(cfg);
  const grads: GptParams = {};
  for (const { name, shape } of shapes) grads[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));
  let loss = 0;
  batches.forEach((batch, mb) => {
    const f = gptForwardRef(cfg, p, batch.inputs, batch.targets, B, T, plans[mb]);
    loss += f.loss / n;
    const g = gptBackwardRef(cfg, p, f, 1 / n);
    for (const { name } of shapes) addInto(grads[name]!, g[name]!);
  });
  const active = (block: number) => block < 0 || plans.some((pl) => pl.run[block]);
  const blockIndex = (block: number) => (block < 0 ? cfg.L : block);
  const sumsq = Array(cfg.L + 1).fill(0);
  for (const { name, block } of shapes) if (active(block)) sumsq[blockIndex(block)] += sumsqRef(grads[name]!);
  const clip = clipScaleRef(sumsq, hp.gradClip);
  const stepped = new Set<number>();
  for (const { name, block } of shapes) {
    if (!active(block)) continue;
    const b = blockIndex(block);
    stepped.add(b);
    const s = { p: p[name]!, m: opt.m[name]!, v: opt.v[name]! };
    adamwStepRef(s, grads[name]!, {
      lr,
      step: opt.steps[b]! + 1,
      beta1: hp.beta1,
      beta2: hp.beta2,
      eps: hp.eps,
      weightDecay: hp.weightDecay,
      decayCount: decaysRef(name) ? s.p.length : 0,
      clipScale: clip[0],
    });
  }
  for (const b of stepped) opt.steps[b]!++;
  return { loss, clip };
}
