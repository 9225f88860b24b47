/**
 * Token + position embedding.
 *
 *   out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]      tokens (B, T) i32, wte (V, C), wpe (maxT, C), T <= maxT
 * Backward, with dout (B, T, C) and positions p = b * T + t:
 *   dwpe[t, :] += sum_b dout[b, t, :]
 *   dwte[v, :] += sum over p with tokens[p] == v of dout[p, :]      (rows of tokens that do not occur: nothing)
 * Saves: the token index (below); tokens, wte and wpe are not needed by the backward rule.
 *
 * Design note (why there is no row gather / scatter-add): the textbook dwte is a scatter-add, every position
 * adding its dout row into dwte[tokens[p]]. On a GPU that needs float atomics, and atomics sum in whatever order
 * the hardware runs, so the gradient is not reproducible. The trainer knows the tokens anyway (it uploads them),
 * so the host builds a CSR token index by counting sort in O(B*T + V): `offsets[v] .. offsets[v+1]` delimits the
 * positions holding token v, in ascending order. Each dwte row is then a gather-sum over its own list, written by
 * one workgroup: O(B*T*C) work, a fixed summation order, no atomics. dwpe needs no index: row t sums over b.
 *
 * Run the tests: npx vitest run --config test/vitest.config.ts test/embedding.test.ts
 */
import { foldGrid, type Engine } from '../runtime/engine.js';
import { expectDType, expectShape, fmtShape, ShapeError, Tensor } from '../runtime/tensor.js';

/** The CSR token index of one batch: the positions holding token v are `positions[offsets[v] .. offsets[v+1])`. */
export interface TokenIndex {
  offsets: Tensor; // (V + 1) i32
  positions: Tensor; // (B * T) i32, positions b * T + t grouped by token id, ascending within a token
}

/** Host side of the token index (what `uploadTokenIndex` writes to the GPU). */
export interface TokenIndexHost {
  offsets: Int32Array; // (V + 1)
  positions: Int32Array; // (B * T)
}

/**
 * Builds the CSR token index by counting sort: count each id, prefix-sum the counts into row starts, then place
 * positions in ascending order (so each token's list is ascending). O(B*T + V). Throws on an id outside [0, V).
 */
export function buildTokenIndex(tokensHost: Int32Array, V: number): TokenIndexHost {
  if (!Number.isInteger(V) || V < 1) throw new ShapeError(`embedding: vocabulary size V must be a positive integer, got ${V}`);
  const offsets = new Int32Array(V + 1);
  for (let p = 0; p < tokensHost.length; p++) {
    const tok = tokensHost[p]!;
    if (!(tok >= 0 && tok < V)) {
      throw new ShapeError(`embedding: token id ${tok} at position ${p} is outside [0, V=${V})`);
    }
    offsets[tok + 1]!++;
  }
  for (let v = 0; v < V; v++) offsets[v + 1]! += offsets[v]!;
  const next = offsets.slice(0, V);
  const positions = new Int32Array(tokensHost.length);
  for (let p = 0; p < tokensHost.length; p++) positions[next[tokensHost[p]!]!++] = p;
  return { offsets, positions };
}

/**
 * Builds the token index of `tokensHost` (flattened (B, T) ids) and uploads it into arena tensors: like the
 * tokens themselves it is valid until the next `resetArena()`, so upload it after resetting, once per step.
 */
export function uploadTokenIndex(e: Engine, tokensHost: Int32Array, V: number): TokenIndex {
  const host = buildTokenIndex(tokensHost, V);
  const offsets = e.alloc([V + 1], 'i32', 'tokens.offsets');
  const positions = e.alloc([tokensHost.length], 'i32', 'tokens.positions');
  e.write(offsets, host.offsets);
  e.write(positions, host.positions);
  return { offsets, positions };
}

/** Uploads a (B, T) batch of token ids (validated against V) and its token index, both arena tensors. */
export function uploadTokens(e: Engine, tokensHost: Int32Array, B: number, T: number, V: number): { tokens: Tensor; index: TokenIndex } {
  if (tokensHost.length !== B * T) {
    throw new ShapeError(`embedding: got ${tokensHost.length} token ids for a (B, T) = [${B}, ${T}] batch`);
  }
  const index = uploadTokenIndex(e, tokensHost, V); // validates the ids before anything is written
  const tokens = e.alloc([B, T], 'i32', 'tokens');
  e.write(tokens, tokensHost);
  return { tokens, index };
}

interface Dims {
  B: number;
  T: number;
  C: number;
  V: number;
  maxT: number;
}

/** Checks shapes and dtypes of the op's inputs; errors name the op and the shapes. */
function embeddingDims(tokens: Tensor, wte: Tensor, wpe: Tensor): Dims {
  if (tokens.shape.length !== 2) throw new ShapeError(`embedding: tokens must be (B, T), got ${fmtShape(tokens.shape)}`);
  expectDType('embedding', 'tokens', tokens, 'i32');
  if (wte.shape.length !== 2) throw new ShapeError(`embedding: wte must be (V, C), got ${fmtShape(wte.shape)}`);
  if (wpe.shape.length !== 2) throw new ShapeError(`embedding: wpe must be (maxT, C), got ${fmtShape(wpe.shape)}`);
  expectDType('embedding', 'wte', wte, 'f32');
  expectDType('embedding', 'wpe', wpe, 'f32');
  const [B, T] = tokens.shape as [number, number];
  const [V, C] = wte.shape as [number, number];
  const [maxT, C2] = wpe.shape as [number, number];
  if (C !== C2) throw new ShapeError(`embedding: wte ${fmtShape(wte.shape)} and wpe ${fmtShape(wpe.shape)} differ in C`);
  if (T > maxT) throw new ShapeError(`embedding: tokens ${fmtShape(tokens.shape)} has T=${T} > maxT=${maxT} of wpe ${fmtShape(wpe.shape)}`);
  return { B, T, C, V, maxT };
}

function checkIndex(index: TokenIndex, d: Dims): void {
  expectShape('embedding', 'index.offsets', index.offsets, [d.V + 1]);
  expectShape('embedding', 'index.positions', index.positions, [d.B * d.T]);
  expectDType('embedding', 'index.offsets', index.offsets, 'i32');
  expectDType('embedding', 'index.positions', index.positions, 'i32');
}


/** Kernel-level forward: out (B, T, C) = wte[tokens] + wpe[t]. Output first. */
export function embedding_forward(e: Engine, out: Tensor, tokens: Tensor, wte: Tensor, wpe: Tensor): void {
  const d = embeddingDims(tokens, wte, wpe);
  expectShape('embedding', 'out', out, [d.B, d.T, d.C]);
  expectDType('embedding', 'out', out, 'f32');
  e.dispatch('embedding_forward', { tokens, wte, wpe, out }, { ...d, accumulate: 0 }, foldGrid(d.B * d.T));
}

/** Kernel-level dwte (V, C) (+)= per-token sums of dout (B, T, C) over the token index's lists. */
export function embedding_backward_wte(e: Engine, dwte: Tensor, dout: Tensor, index: TokenIndex, accumulate: boolean): void {
  if (dwte.shape.length !== 2 || dout.shape.length !== 3 || dout.shape[2] !== dwte.shape[1]) {
    throw new ShapeError(`embedding: dwte ${fmtShape(dwte.shape)} and dout ${fmtShape(dout.shape)} do not match (V, C) and (B, T, C)`);
  }
  const [B, T, C] = dout.shape as [number, number, number];
  const V = dwte.shape[0]!;
  checkIndex(index, { B, T, C, V, maxT: T });
  e.dispatch(
    'embedding_backward_wte',
    { dout, offsets: index.offsets, positions: index.positions, dwte },
    { B, T, C, V, maxT: 0, accumulate: accumulate ? 1 : 0 },
    foldGrid(V),
  );
}

/** Kernel-level dwpe (maxT, C) (+)= sum over b of dout (B, T, C); rows t >= T get nothing (zeros when writing). */
export function embedding_backward_wpe(e: Engine, dwpe: Tensor, dout: Tensor, accumulate: boolean): void {
  if (dwpe.shape.length !== 2 || dout.shape.length !== 3 || dout.shape[2] !== dwpe.shape[1] || dout.shape[1]! > dwpe.shape[0]!) {
    throw new ShapeError(`embedding: dwpe ${fmtShape(dwpe.shape)} and dout ${fmtShape(dout.shape)} do not match (maxT, C) and (B, T <= maxT, C)`);
  }
  const [B, T, C] = dout.shape as [number, number, number];
  const maxT = dwpe.shape[0]!;
  e.dispatch('embedding_backward_wpe', { dout, dwpe }, { B, T, C, V: 0, maxT, accumulate: accumulate ? 1 : 0 }, foldGrid(maxT));
}

/**
 * Autograd embedding: returns out (B, T, C) = wte[tokens] + wpe[0..T) and records the backward rule. `index` is
 * the token index of the same `tokens` (from `uploadTokens`); it may be null only while gradients are disabled.
 * Cost: forward one dispatch (B*T workgroups), backward two (V and maxT workgroups), O(B*T*C) each.
 */
export function embedding(e: Engine, tokens: Tensor, index: TokenIndex | null, wte: Tensor, wpe: Tensor): Tensor {
  const d = embeddingDims(tokens, wte, wpe);
  if (e.gradEnabled) {
    if (!index) throw new ShapeError('embedding: a TokenIndex is needed while gradients are enabled (build it with uploadTokens)');
    checkIndex(index, d);
  }
  const out = e.alloc([d.B, d.T, d.C], 'f32', 'embedding.out');
  embedding_forward(e, out, tokens, wte, wpe);
  e.record('embedding', [out], () => {
    const dout = e.gradIn('embedding', out);
    const gwte = e.gradOf('embedding', wte);
    embedding_backward_wte(e, gwte.grad, dout, index!, gwte.accumulate);
    const gwpe = e.gradOf('embedding', wpe);
    embedding_backward_wpe(e, gwpe.grad, dout, gwpe.accumulate);
  });
  return out;
}
