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
 * (a layer in plan.detach runs forward, but backward treats its branches as constants: dx passes through)
 * (`removeLayers` builds that network explicitly, so tests can check both readings agree).
 *
 * The blocks are the pre-LN block the ViT shares (./block.ts), causal here. The backward pass calls the op
 * backwards in exact reverse order. Accumulation: parameter gradients +=, the residual stream += (both branches
 * of each residual add), other activations =.
 */
import { adamwStepRef, clipScaleRef, sumsqRef } from './adamw.js';
import type { AttentionRef } from './attention.js';
import { addInto, blockBackwardRef, blockForwardRef, blockShapesRef, fullPlanRef, mm, type BlockActs, type BlockNames, type RefPlan } from './block.js';
import { crossEntropyBackwardRef, crossEntropyRef } from './crossentropy.js';
import { embeddingBackwardRef, embeddingRef, type EmbeddingRef } from './embedding.js';
import { layernormBackwardRef, layernormRef } from './layernorm.js';
import { matmulBackwardRef, matmulRef } from './matmul.js';

export { fullPlanRef, type RefPlan };

export interface GptRefConfig {
  L: number; // layers
  NH: number; // heads
  C: number; // width
  V: number; // vocabulary
  maxT: number; // positions
}

/** Named float64 tensors, Hugging Face GPT-2 names (`transformer.h.0.attn.c_attn.weight`, ...). */
export type GptParams = Record<string, Float64Array>;

/** Hugging Face GPT-2's names for a block's tensors (Conv1D layout: weights are [in, out]). */
const BLOCK: BlockNames = { ln1: 'ln_1', qkv: 'attn.c_attn', proj: 'attn.c_proj', ln2: 'ln_2', fc: 'mlp.c_fc', fc2: 'mlp.c_proj' };

/** Every parameter with its shape and optimizer block (layer index, or -1 for embeddings and ln_f). */
export function gptParamShapesRef(cfg: GptRefConfig): { name: string; shape: number[]; block: number }[] {
  const { L, C, V, maxT } = cfg;
  const out = [
    { name: 'transformer.wte.weight', shape: [V, C], block: -1 },
    { name: 'transformer.wpe.weight', shape: [maxT, C], block: -1 },
  ];
  for (let l = 0; l < L; l++) for (const [n, shape] of blockShapesRef(BLOCK, C)) out.push({ name: `transformer.h.${l}.${n}`, shape, block: l });
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
interface LayerActs extends BlockActs {
  l: number;
  scale: number;
  /** plan.detach[l]: forward only; backward passes dx through unchanged. */
  detached: boolean;
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
    const block = blockForwardRef(att, BLOCK, (n) => P(`transformer.h.${l}.${n}`), x, s);
    layers.push({ l, scale: s, detached: !!plan.detach?.[l], ...block.acts });
    x = block.out;
  }
  const xf = layernormRef(N, C, x, P('transformer.ln_f.weight'), P('transformer.ln_f.bias')).out;
  const logits = matmulRef(mm(N, C, V, true), xf, P('transformer.wte.weight'), null);
  const { loss } = crossEntropyRef(N, V, logits, targets);
  return { logits, loss, B, T, tokens, targets, layers, xL: x, xf };
}

/**
 * Gradient of dloss * loss with respect to every parameter (a zero tensor for every parameter of a layer that
 * did not run). Reverse order of `gptForwardRef`. With `taylor` (L), each layer that ran gets SBLD's online
 * sensitivity there: sum over tokens of |<dL/dh_out, h_out - h_in>|.
 */
export function gptBackwardRef(cfg: GptRefConfig, p: GptParams, f: GptForwardRef, dloss = 1, taylor?: number[]): GptParams {
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
    if (taylor) {
      const hOut = i + 1 < f.layers.length ? f.layers[i + 1]!.x : f.xL;
      let s = 0;
      for (let r = 0; r < N; r++) {
        let d = 0;
        for (let c = 0; c < C; c++) d += dx[r * C + c]! * (hOut[r * C + c]! - a.x[r * C + c]!);
        s += Math.abs(d);
      }
      taylor[a.l] = s;
    }
    if (a.detached) continue; // d(x + branches(x))/dx with the branches detached: the identity
    const w = (n: string) => P(`transformer.h.${a.l}.${n}`);
    const g = (n: string) => G(`transformer.h.${a.l}.${n}`);
    dx = blockBackwardRef(att, BLOCK, w, g, a, a.scale, dx);
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
