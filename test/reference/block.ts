/**
 * Plain-loop float64 reference for the pre-LN transformer block that GPT and the ViT share (src/model/block.ts),
 * with what their two model references (./gpt.ts, ./vit.ts) have in common: the layer plan and gradient `+=`.
 *
 *   x1 = x + s * proj(attn(qkv(LN1(x))))           attention causal for GPT, bidirectional for the ViT
 *   out = x1 + s * fc2(gelu(fc1(LN2(x1))))
 *
 * Each model names the block's tensors its own way (`BlockNames`); linear weights are (in, out). The backward
 * pass calls the op backwards in exact reverse order: parameter gradients +=, the residual stream += (both
 * branches of each residual add), other activations =.
 */
import { attentionBackwardRef, attentionRef, type AttentionRef } from './attention.js';
import { geluBackwardRef, geluRef } from './gelu.js';
import { layernormBackwardRef, layernormRef } from './layernorm.js';
import { linearBackwardRef, linearRef, type MatmulRef } from './matmul.js';
import { residualBackwardRef, residualRef } from './residual.js';

/** Which layers run, and the factor on each kept layer's two residual branches. */
export interface RefPlan {
  run: readonly boolean[];
  scale: readonly number[];
  /**
   * Layers that run forward but whose branches are detached from the gradient (a backward-only skip): the
   * gradient passes through the residual stream unchanged and their parameters get none.
   */
  detach?: readonly boolean[];
}

export function fullPlanRef(L: number): RefPlan {
  return { run: Array(L).fill(true), scale: Array(L).fill(1) };
}

/** A model's names for the block's two LayerNorms and four linear layers (each has `.weight` and `.bias`). */
export interface BlockNames {
  ln1: string;
  qkv: string;
  proj: string;
  ln2: string;
  fc: string;
  fc2: string;
}

/** The block's tensors in parameter order: name (within the layer) and shape. */
export function blockShapesRef(n: BlockNames, C: number): [string, number[]][] {
  return [
    [`${n.ln1}.weight`, [C]],
    [`${n.ln1}.bias`, [C]],
    [`${n.qkv}.weight`, [C, 3 * C]],
    [`${n.qkv}.bias`, [3 * C]],
    [`${n.proj}.weight`, [C, C]],
    [`${n.proj}.bias`, [C]],
    [`${n.ln2}.weight`, [C]],
    [`${n.ln2}.bias`, [C]],
    [`${n.fc}.weight`, [C, 4 * C]],
    [`${n.fc}.bias`, [4 * C]],
    [`${n.fc2}.weight`, [4 * C, C]],
    [`${n.fc2}.bias`, [C]],
  ];
}

/** What one block's forward keeps for its backward. */
export interface BlockActs {
  x: Float64Array; // (B, T, C) block input
  h1: Float64Array; // (B, T, C) LN1(x)
  qkv: Float64Array; // (B, T, 3C)
  att: Float64Array; // (B, T, C)
  x1: Float64Array; // (B, T, C) x + s * proj
  h2: Float64Array; // (B, T, C) LN2(x1)
  fc: Float64Array; // (B, T, 4C)
  act: Float64Array; // (B, T, 4C) gelu(fc)
}

/** A plain (M, K) @ (K, N) product, `transB`: the second operand is (N, K). */
export function mm(M: number, K: number, N: number, transB = false): MatmulRef {
  return { batch: 1, M, K, N, transA: false, transB };
}

export function addInto(dst: Float64Array, src: ArrayLike<number>): void {
  for (let i = 0; i < dst.length; i++) dst[i] = dst[i]! + src[i]!;
}

/** One block on x (B, T, C) with residual scale `s`; `w(name)` is the layer's tensor of that name. */
export function blockForwardRef(att: AttentionRef, n: BlockNames, w: (name: string) => Float64Array, x: Float64Array, s: number): { out: Float64Array; acts: BlockActs } {
  const { C } = att;
  const N = att.B * att.T;
  const h1 = layernormRef(N, C, x, w(`${n.ln1}.weight`), w(`${n.ln1}.bias`)).out;
  const qkv = linearRef(mm(N, C, 3 * C), h1, w(`${n.qkv}.weight`), w(`${n.qkv}.bias`));
  const a = attentionRef(att, qkv).out;
  const proj = linearRef(mm(N, C, C), a, w(`${n.proj}.weight`), w(`${n.proj}.bias`));
  const x1 = residualRef(x, proj, s);
  const h2 = layernormRef(N, C, x1, w(`${n.ln2}.weight`), w(`${n.ln2}.bias`)).out;
  const fc = linearRef(mm(N, C, 4 * C), h2, w(`${n.fc}.weight`), w(`${n.fc}.bias`));
  const act = geluRef(fc);
  const mlp = linearRef(mm(N, 4 * C, C), act, w(`${n.fc2}.weight`), w(`${n.fc2}.bias`));
  return { out: residualRef(x1, mlp, s), acts: { x, h1, qkv, att: a, x1, h2, fc, act } };
}

/**
 * Backward of `blockForwardRef` given dout, the gradient of its output: adds each tensor's gradient into
 * `g(name)` and returns the gradient of the block's input.
 */
export function blockBackwardRef(
  att: AttentionRef,
  n: BlockNames,
  w: (name: string) => Float64Array,
  g: (name: string) => Float64Array,
  a: BlockActs,
  s: number,
  dout: Float64Array,
): Float64Array {
  const { C } = att;
  const N = att.B * att.T;
  // out = x1 + s * mlp
  const r2 = residualBackwardRef(dout, s);
  const dx1 = r2.dh;
  const fc2 = linearBackwardRef(mm(N, 4 * C, C), a.act, w(`${n.fc2}.weight`), r2.dbranch);
  addInto(g(`${n.fc2}.weight`), fc2.dw);
  addInto(g(`${n.fc2}.bias`), fc2.dbias);
  const dfc = geluBackwardRef(a.fc, fc2.da);
  const fc = linearBackwardRef(mm(N, C, 4 * C), a.h2, w(`${n.fc}.weight`), dfc);
  addInto(g(`${n.fc}.weight`), fc.dw);
  addInto(g(`${n.fc}.bias`), fc.dbias);
  const ln2 = layernormBackwardRef(N, C, a.x1, w(`${n.ln2}.weight`), fc.da);
  addInto(g(`${n.ln2}.weight`), ln2.dweight);
  addInto(g(`${n.ln2}.bias`), ln2.dbias);
  addInto(dx1, ln2.dx);
  // x1 = x + s * proj
  const r1 = residualBackwardRef(dx1, s);
  const dx = r1.dh;
  const proj = linearBackwardRef(mm(N, C, C), a.att, w(`${n.proj}.weight`), r1.dbranch);
  addInto(g(`${n.proj}.weight`), proj.dw);
  addInto(g(`${n.proj}.bias`), proj.dbias);
  const dqkv = attentionBackwardRef(att, a.qkv, proj.da);
  const qkv = linearBackwardRef(mm(N, C, 3 * C), a.h1, w(`${n.qkv}.weight`), dqkv);
  addInto(g(`${n.qkv}.weight`), qkv.dw);
  addInto(g(`${n.qkv}.bias`), qkv.dbias);
  const ln1 = layernormBackwardRef(N, C, a.x, w(`${n.ln1}.weight`), qkv.da);
  addInto(g(`${n.ln1}.weight`), ln1.dweight);
  addInto(g(`${n.ln1}.bias`), ln1.dbias);
  addInto(dx, ln1.dx);
  return dx;
}
