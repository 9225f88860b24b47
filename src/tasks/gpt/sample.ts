/**
 * Text generation: autoregressive sampling with temperature and top-k. Every forward runs on a fixed window
 * of n_positions tokens (the context left-aligned, the rest padding): causal attention makes position t depend
 * only on tokens <= t, and a fixed shape reuses the same buffers and pipelines for every token.
 */
import { decode, encode } from './data/tokenizer.js';
import { uploadTokens } from '../../ops/embedding.js';
import type { Engine } from '../../runtime/engine.js';
import { Rng } from '../../util/rng.js';
import type { GPT } from './model.js';

export interface SampleOptions {
  prompt: string;
  tokens: number;
  temperature: number;
  /** Keep only the k most likely tokens (0: all). */
  topK: number;
  seed: number;
}

/** Generates `tokens` new tokens after `prompt`; returns prompt + continuation as token ids. */
export async function generate(e: Engine, model: GPT, o: SampleOptions): Promise<Uint8Array> {
  if (!(o.temperature >= 0)) throw new Error(`--temperature ${o.temperature}: must be >= 0`);
  if (!Number.isInteger(o.topK) || o.topK < 0) throw new Error(`--top-k ${o.topK}: must be a non-negative integer`);
  const T = model.config.n_positions;
  const V = model.config.vocab_size;
  const rng = new Rng(o.seed);
  const seq = Array.from(encode(o.prompt));
  if (seq.length === 0) seq.push(10); // a newline starts an empty prompt
  const window = new Int32Array(T);
  for (let n = 0; n < o.tokens; n++) {
    const ctx = seq.slice(-T);
    window.fill(0);
    window.set(ctx);
    e.resetArena();
    const batch = { ...uploadTokens(e, window, 1, T, V), targets: null };
    const { logits } = e.noGrad(() => model.forward(batch));
    const all = await e.readFloat(logits);
    const row = all.subarray((ctx.length - 1) * V, ctx.length * V);
    seq.push(pick(row, o.temperature, o.topK, rng));
  }
  return Uint8Array.from(seq);
}

/** Samples an index from logits with temperature (0: argmax) and top-k. */
export function pick(logits: Float32Array, temperature: number, topK: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;
  let order = Array.from(logits.keys());
  if (topK > 0 && topK < logits.length) order = order.sort((a, b) => logits[b]! - logits[a]!).slice(0, topK);
  const max = logits[best]!;
  const w = order.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let r = rng.uniform() * total;
  for (let j = 0; j < order.length; j++) {
    r -= w[j]!;
    if (r <= 0) return order[j]!;
  }
  return order[order.length - 1]!;
}

export { decode };
