/**
 * `npm run bench -- kernels [--json] [--quick] [--filter S] [--trials N] [--target-ms MS]`: one row per
 * (kernel, shape) with ms per call and GFLOP/s (matmul, attention) or GB/s (memory-bound kernels).
 *
 * Shapes: matmul at 1024 x 1024 x 1024 and at the GPT shapes of preset `small` (B*T x C x 3C, x C, x 4C,
 * B*T x 4C x C, and the tied head B*T x C x V with the weight stored (V, C)), each forward and its two backward
 * GEMMs exactly as `src/ops/matmul.ts` records them (dA = dY W^T, dW = A^T dY, the weight gradient +=); where
 * the adapter has shader-f16, the same GEMMs on f16 operands (`matmul f16 ...`, f16 precision's kernels) and
 * the f32 -> f16 casts f16 precision adds (cast_to_f16 at B*T x C and x 4C);
 * attention forward and backward at B=16, NH=4, HS=32, T in {64, 128, 256, 512}; layernorm, gelu, residual,
 * crossentropy, embedding, adamw and grad_sumsq at the GPT shape and at one larger shape (bandwidth ceiling),
 * layernorm under both its forward / dx kernels (a row per invocation, a workgroup per row);
 * bias_backward (a linear layer's dbias) at the GPT's B*T = 1024 rows x C, 3C, 4C and the ViT's (preset
 * `small`: B = 64 images x 17 tokens) 1088 rows x C, 4C with C = 64, under both row-split plans, and the
 * layernorm parameter gradients alone (which share that plan) at the GPT's 1024 x C and the ViT's 1088 x 64.
 *
 * Method: buffers are created and filled outside the timed region; one call is run and synced untimed (late
 * pipeline compiles, bind groups, arena buffers) and sizes R so a trial lasts about --target-ms; each trial
 * records R calls into one command encoder and awaits `e.sync()`; the row reports the median over trials of
 * wall time / R. Host recording time is inside the timed region, as it is in a training step.
 * The crossentropy forward has a row per kernel (src/ops/crossentropy.ts picks one per adapter; each row forces its
 * own with useCrossEntropyKernel), so the CPU adapters' online kernel and the GPUs' workgroup kernel compare in
 * one run on any adapter.
 *
 * Counting: matmul 2 M N K flops. Attention counts the useful multiply-adds of the causal mask, P = B NH T(T+1)/2
 * (query, key) pairs: forward 4 HS P (Q K^T and P V), backward 2.5x forward (FlashAttention's convention: four
 * GEMMs plus recomputing the scores; our kernels recompute the scores twice, so they do more than is credited).
 * GB/s: bytes = the sizes of the tensors a call reads plus those it writes, each counted once (a tensor it
 * updates in place counts twice), over the wall time: an effective bandwidth, a lower bound on real traffic
 * (layernorm forward reads x twice, embedding rows are gathered per position).
 */
import { PRESETS } from '../src/tasks/gpt/presets.js';
import { VOCAB_SIZE } from '../src/tasks/gpt/data/tokenizer.js';
import { adamw_update, grad_sumsq, gradSumsqDispatches, writeStepScalars } from '../src/ops/adamw.js';
import { attention_backward, attention_forward } from '../src/ops/attention.js';
import { crossentropy_backward, crossentropy_forward, useCrossEntropyKernel, type CrossEntropyKernel } from '../src/ops/crossentropy.js';
import { buildTokenIndex, embedding_backward_wpe, embedding_backward_wte, embedding_forward } from '../src/ops/embedding.js';
import { gelu_backward, gelu_forward } from '../src/ops/gelu.js';
import { layernorm_backward, layernorm_backward_params, layernorm_forward, useLayerNormKernel } from '../src/ops/layernorm.js';
import type { LayerNormKind } from '../src/runtime/choice.js';
import { bias_backward, useBiasBackwardPlan, type BiasPlanKind } from '../src/ops/bias.js';
import { linear_gelu_forward } from '../src/ops/linear_gelu.js';
import { gemm } from '../src/ops/matmul.js';
import { cast_to_f16 } from '../src/ops/cast.js';
import { Float16Array } from '@petamoriken/float16';
import { residual_backward, residual_forward } from '../src/ops/residual.js';
import { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { Rng } from '../src/util/rng.js';
import { describeMachine, fmt, machineLoad, round, Table, timeCalls, type TimeOptions } from './util.js';

export interface KernelsOptions {
  json: boolean;
  quick: boolean;
  filter?: string;
  trials?: number;
  targetMs?: number;
}

/** One benchmark row: `setup` allocates and fills (untimed) and returns the call to time. */
interface Case {
  kernel: string;
  shape: string;
  /** What the shape is in the model. */
  what: string;
  flops?: number;
  bytes?: number;
  setup: (b: Buffers) => () => void;
}

/** Persistent buffers of one case, destroyed when the case is done (the engine never frees persistent buffers). */
class Buffers {
  private readonly made: Tensor[] = [];
  constructor(
    readonly e: Engine,
    readonly rng: Rng,
  ) {}

  keep<T extends Tensor>(t: T): T {
    this.made.push(t);
    return t;
  }

  /** f32 tensor of seeded N(0, std) values. */
  normal(shape: readonly number[], label: string, std = 1): Tensor {
    const t = this.keep(this.e.persistent(shape, 'f32', label));
    const data = new Float32Array(t.size);
    for (let i = 0; i < data.length; i++) data[i] = std * this.rng.normal();
    this.e.write(t, data);
    return t;
  }

  /** f16 tensor of seeded N(0, std) values (rounded to f16 on the host). */
  half(shape: readonly number[], label: string, std = 1): Tensor {
    const t = this.keep(this.e.persistent(shape, 'f16', label));
    const data = new Float16Array(t.size);
    for (let i = 0; i < data.length; i++) data[i] = std * this.rng.normal();
    this.e.write(t, new Uint16Array(data.buffer));
    return t;
  }

  /** f32 tensor of one value (zeros: WebGPU buffers start zeroed). */
  fill(shape: readonly number[], label: string, value = 0): Tensor {
    const t = this.keep(this.e.persistent(shape, 'f32', label));
    if (value !== 0) this.e.write(t, new Float32Array(t.size).fill(value));
    return t;
  }

  /** i32 tensor from host data. */
  ints(shape: readonly number[], data: Int32Array, label: string): Tensor {
    const t = this.keep(this.e.persistent(shape, 'i32', label));
    this.e.write(t, data);
    return t;
  }

  /** Seeded ids in [0, n). */
  randomIds(count: number, n: number): Int32Array {
    const ids = new Int32Array(count);
    for (let i = 0; i < count; i++) ids[i] = this.rng.int(n);
    return ids;
  }

  destroy(): void {
    this.e.flush();
    for (const t of this.made) t.buffer.destroy();
    this.made.length = 0;
  }
}

const F32 = 4;

// ---------------------------------------------------------------- cases

/**
 * Forward and the two backward GEMMs of a linear layer y (M, N) = x (M, K) @ W + bias, W stored (K, N), or, for
 * the tied head (`transB`), y = x @ W^T with W stored (N, K) and no bias. The backward calls mirror `matmul()`.
 * With `half`, the operands are f16 (the f16 twins, as f16 precision runs them; outputs stay f32) and the rows
 * are named `matmul f16 ...`; the casts that make those operands are rows of their own (castCases).
 */
function matmulCases(M: number, K: number, N: number, what: string, opts: { transB?: boolean; bias?: boolean; only?: 'fwd'; half?: boolean } = {}): Case[] {
  const { transB = false, bias = true, half = false } = opts;
  const operand = (b: Buffers, shape: readonly number[], label: string, std = 1) => (half ? b.half(shape, label, std) : b.normal(shape, label, std));
  const shape = `${M}x${K}x${N}`;
  const flops = 2 * M * N * K;
  const wShape = transB ? [N, K] : [K, N];
  const cases: Case[] = [
    {
      kernel: half ? 'matmul f16 fwd' : 'matmul fwd',
      shape,
      what,
      flops,
      setup: (b) => {
        const x = operand(b, [M, K], 'x');
        const w = operand(b, wShape, 'w', 0.02);
        const bi = bias ? b.normal([N], 'bias', 0.02) : null;
        const y = b.fill([M, N], 'y');
        return () => gemm(b.e, y, x, w, bi, { batch: 1, M, N, K }, { transB });
      },
    },
    {
      // dA (M, K) = dY (M, N) @ W'^T: W' = W (K, N) read transposed, or the head's stored (N, K) read as is.
      kernel: half ? 'matmul f16 bwd dA=dY.W^T' : 'matmul bwd dA=dY.W^T',
      shape,
      what,
      flops,
      setup: (b) => {
        const dy = operand(b, [M, N], 'dy');
        const w = operand(b, wShape, 'w', 0.02);
        const dx = b.fill([M, K], 'dx');
        return () => gemm(b.e, dx, dy, w, null, { batch: 1, M, N: K, K: N }, { transB: !transB });
      },
    },
    {
      // dW' (K, N) = A^T @ dY, accumulated into the parameter gradient; the head stores dW (N, K) = dY^T @ A.
      kernel: half ? 'matmul f16 bwd dW=A^T.dY' : 'matmul bwd dW=A^T.dY',
      shape,
      what,
      flops,
      setup: (b) => {
        const x = operand(b, [M, K], 'x');
        const dy = operand(b, [M, N], 'dy');
        const dw = b.fill(wShape, 'dw');
        return transB
          ? () => gemm(b.e, dw, dy, x, null, { batch: 1, M: N, N: K, K: M }, { transA: true, accumulate: true })
          : () => gemm(b.e, dw, x, dy, null, { batch: 1, M: K, N, K: M }, { transA: true, accumulate: true });
      },
    },
  ];
  return opts.only === 'fwd' ? cases.slice(0, 1) : cases;
}

/** f32 -> f16 of n elements (what f16 precision adds per linear: its input forward, dout backward). */
function castCase(n: number, what: string): Case {
  return {
    kernel: 'cast_to_f16',
    shape: `${n}`,
    what,
    bytes: n * (F32 + 2),
    setup: (b) => {
      const x = b.normal([n], 'x');
      const out = b.keep(b.e.persistent([n], 'f16', 'out'));
      return () => cast_to_f16(b.e, out, x);
    },
  };
}

/**
 * The MLP's first linear and its GELU, y = gelu(x (M, K) @ W + bias): the fused kernel (src/ops/linear_gelu.ts,
 * writing y and the pre-activation) against matmul then gelu_forward, the two dispatches it replaces.
 */
function linearGeluCases(M: number, K: number, N: number, what: string): Case[] {
  const shape = `${M}x${K}x${N}`;
  const flops = 2 * M * N * K;
  const operands = (b: Buffers) => ({ x: b.normal([M, K], 'x'), w: b.normal([K, N], 'w', 0.02), bias: b.normal([N], 'bias', 0.02), pre: b.fill([M, N], 'pre'), y: b.fill([M, N], 'y') });
  return [
    {
      kernel: 'linear+gelu fused',
      shape,
      what,
      flops,
      setup: (b) => {
        const t = operands(b);
        return () => linear_gelu_forward(b.e, t.y, t.pre, t.x, t.w, t.bias);
      },
    },
    {
      kernel: 'linear then gelu',
      shape,
      what,
      flops,
      setup: (b) => {
        const t = operands(b);
        return () => {
          gemm(b.e, t.pre, t.x, t.w, t.bias, { batch: 1, M, N, K });
          gelu_forward(b.e, t.y, t.pre);
        };
      },
    },
  ];
}

/**
 * dbias (N) += column sums of dout (M, N), as a linear layer's backward records it, under the row-split `plan`
 * (the adapter's is what training uses; the other shows what it would cost).
 */
function biasBackwardCase(M: number, N: number, what: string, plan: BiasPlanKind): Case {
  return {
    kernel: 'bias_backward',
    shape: `${M}x${N}`,
    what: `${what}, ${plan} plan`,
    // reads dout, updates dbias in place (a split's partials scratch is not counted)
    bytes: F32 * (M * N + 2 * N),
    setup: (b) => {
      const dout = b.normal([M, N], 'dout');
      const dbias = b.fill([N], 'dbias');
      return () => {
        // A split takes its (chunks, N) partials from the arena: hand them back after each call.
        const mark = b.e.arenaMark();
        useBiasBackwardPlan(b.e, plan);
        bias_backward(b.e, dbias, dout, true);
        useBiasBackwardPlan(b.e, null);
        b.e.releaseArena(mark);
      };
    },
  };
}

function attentionCases(B: number, NH: number, HS: number, T: number): Case[] {
  const C = NH * HS;
  const pairs = (B * NH * T * (T + 1)) / 2;
  const fwdFlops = 4 * HS * pairs;
  const shape = `B${B} NH${NH} HS${HS} T${T}`;
  const inputs = (b: Buffers) => ({
    qkv: b.normal([B, T, 3 * C], 'qkv'),
    out: b.fill([B, T, C], 'out'),
    lse: b.fill([B, NH, T], 'lse'),
  });
  return [
    {
      kernel: 'attention fwd',
      shape,
      what: 'causal',
      flops: fwdFlops,
      setup: (b) => {
        const { qkv, out, lse } = inputs(b);
        return () => attention_forward(b.e, out, lse, qkv, B, T, C, NH, true);
      },
    },
    {
      kernel: 'attention bwd',
      shape,
      what: 'causal, dq + dkv',
      flops: 2.5 * fwdFlops,
      setup: (b) => {
        const { qkv, out, lse } = inputs(b);
        attention_forward(b.e, out, lse, qkv, B, T, C, NH, true); // out and lse as backward expects them
        const dout = b.normal([B, T, C], 'dout');
        const dqkv = b.fill([B, T, 3 * C], 'dqkv');
        return () => {
          // The op takes its (B, NH, T) scratch from the arena: hand it back after each call, as a training
          // step does per micro-batch, so every call reuses one buffer.
          const mark = b.e.arenaMark();
          attention_backward(b.e, dqkv, false, qkv, out, dout, lse, B, T, C, NH, true);
          b.e.releaseArena(mark);
        };
      },
    },
  ];
}

/** LayerNorm forward and backward under the forward / dx kernel family `kind` (the adapter's, or forced). */
function layernormCases(N: number, C: number, what: string, kind?: LayerNormKind): Case[] {
  const shape = `${N}x${C}`;
  const suffix = kind === 'workgroup-per-row' ? ' rows' : kind ? ' row/inv' : '';
  // Force the kind around each call (other rows must see the adapter's choice).
  const under = (e: Engine, call: () => void) => () => {
    if (kind) useLayerNormKernel(e, kind);
    call();
    if (kind) useLayerNormKernel(e, null);
  };
  const inputs = (b: Buffers) => ({
    x: b.normal([N, C], 'x'),
    weight: b.fill([C], 'weight', 1),
    bias: b.fill([C], 'bias'),
    mean: b.fill([N], 'mean'),
    rstd: b.fill([N], 'rstd'),
  });
  return [
    {
      kernel: `layernorm fwd${suffix}`,
      shape,
      what,
      // reads x, weight, bias; writes out, mean, rstd
      bytes: F32 * (2 * N * C + 2 * C + 2 * N),
      setup: (b) => {
        const { x, weight, bias, mean, rstd } = inputs(b);
        const out = b.fill([N, C], 'out');
        return under(b.e, () => layernorm_forward(b.e, out, mean, rstd, x, weight, bias, N, C));
      },
    },
    {
      kernel: `layernorm bwd${suffix}`,
      shape,
      what: `${what}, dx + dparams`,
      // dx kernel: reads x, dout, weight, mean, rstd, writes dx; params kernel: reads x, dout, mean, rstd,
      // updates dweight and dbias in place
      bytes: F32 * (3 * N * C + C + 2 * N) + F32 * (2 * N * C + 2 * N + 4 * C),
      setup: (b) => {
        const { x, weight, mean, rstd, bias } = inputs(b);
        layernorm_forward(b.e, b.fill([N, C], 'out'), mean, rstd, x, weight, bias, N, C);
        const dout = b.normal([N, C], 'dout');
        const dx = b.fill([N, C], 'dx');
        const dweight = b.fill([C], 'dweight');
        const dbias = b.fill([C], 'dbias');
        return under(b.e, () => {
          // A row split takes its (chunks, C) partials from the arena: hand them back after each call.
          const mark = b.e.arenaMark();
          layernorm_backward(b.e, dx, false, dweight, dbias, x, weight, mean, rstd, dout, N, C, true);
          b.e.releaseArena(mark);
        });
      },
    },
  ];
}

/**
 * The LayerNorm parameter gradients alone, dweight and dbias (C) += sums over N rows, under the row-split `plan`
 * (it shares bias_backward's; the adapter's is what training uses, the other shows what it would cost).
 */
function layernormParamsCase(N: number, C: number, what: string, plan: BiasPlanKind): Case {
  return {
    kernel: 'layernorm params',
    shape: `${N}x${C}`,
    what: `${what}, ${plan} plan`,
    // reads x, dout, mean, rstd; updates dweight and dbias in place (a split's partials scratches are not counted)
    bytes: F32 * (2 * N * C + 2 * N + 4 * C),
    setup: (b) => {
      const x = b.normal([N, C], 'x');
      const dout = b.normal([N, C], 'dout');
      const mean = b.fill([N], 'mean');
      const rstd = b.fill([N], 'rstd', 1);
      const dweight = b.fill([C], 'dweight');
      const dbias = b.fill([C], 'dbias');
      return () => {
        const mark = b.e.arenaMark();
        useBiasBackwardPlan(b.e, plan);
        layernorm_backward_params(b.e, dweight, dbias, x, mean, rstd, dout, N, C, true);
        useBiasBackwardPlan(b.e, null);
        b.e.releaseArena(mark);
      };
    },
  };
}

function elementwiseCases(n: number, what: string): Case[] {
  const shape = `n=${n}`;
  return [
    {
      kernel: 'gelu fwd',
      shape,
      what,
      bytes: F32 * 2 * n,
      setup: (b) => {
        const x = b.normal([n], 'x');
        const out = b.fill([n], 'out');
        return () => gelu_forward(b.e, out, x);
      },
    },
    {
      kernel: 'gelu bwd',
      shape,
      what,
      bytes: F32 * 3 * n,
      setup: (b) => {
        const x = b.normal([n], 'x');
        const dout = b.normal([n], 'dout');
        const dx = b.fill([n], 'dx');
        return () => gelu_backward(b.e, dx, false, x, dout);
      },
    },
  ];
}

function residualCases(n: number, what: string): Case[] {
  const shape = `n=${n}`;
  return [
    {
      kernel: 'residual fwd',
      shape,
      what,
      bytes: F32 * 3 * n,
      setup: (b) => {
        const h = b.normal([n], 'h');
        const branch = b.normal([n], 'branch');
        const out = b.fill([n], 'out');
        return () => residual_forward(b.e, out, h, branch, 1);
      },
    },
    {
      kernel: 'residual bwd',
      shape,
      what,
      bytes: F32 * 3 * n,
      setup: (b) => {
        const dout = b.normal([n], 'dout');
        const dh = b.fill([n], 'dh');
        const dbranch = b.fill([n], 'dbranch');
        return () => residual_backward(b.e, dh, false, dbranch, false, dout, 1);
      },
    },
  ];
}

function crossentropyCases(N: number, V: number, what: string): Case[] {
  const shape = `${N}x${V}`;
  const inputs = (b: Buffers) => ({
    logits: b.normal([N, V], 'logits'),
    targets: b.ints([N], b.randomIds(N, V), 'targets'),
    lse: b.fill([N], 'lse'),
    losses: b.fill([N], 'losses'),
  });
  const forward = (kernel: CrossEntropyKernel, label: string): Case => ({
    kernel: 'crossentropy fwd',
    shape,
    what: `${what}, ${label}, no mean`,
    // reads logits, targets; writes lse, losses
    bytes: F32 * (N * V + 3 * N),
    setup: (b) => {
      const { logits, targets, lse, losses } = inputs(b);
      // Forced for this call only: the cases after it (and the backward's setup) get the adapter's choice.
      return () => {
        useCrossEntropyKernel(b.e, kernel);
        crossentropy_forward(b.e, lse, losses, logits, targets);
        useCrossEntropyKernel(b.e, null);
      };
    },
  });
  return [
    forward('crossentropy_forward_online', 'online (CPU)'),
    forward('crossentropy_forward', 'workgroup (GPU)'),
    {
      kernel: 'crossentropy bwd',
      shape,
      what,
      // reads logits, targets, lse; writes dlogits
      bytes: F32 * (2 * N * V + 2 * N),
      setup: (b) => {
        const { logits, targets, lse, losses } = inputs(b);
        crossentropy_forward(b.e, lse, losses, logits, targets);
        const dloss = b.fill([1], 'dloss', 1);
        const count = b.fill([1], 'count', N);
        const dlogits = b.fill([N, V], 'dlogits');
        return () => crossentropy_backward(b.e, dlogits, logits, targets, lse, dloss, count, false);
      },
    },
  ];
}

function embeddingCases(B: number, T: number, C: number, V: number, what: string): Case[] {
  const shape = `B${B} T${T} C${C} V${V}`;
  return [
    {
      kernel: 'embedding fwd',
      shape,
      what,
      // reads tokens, wte, wpe[0, T); writes out
      bytes: F32 * (B * T + V * C + T * C + B * T * C),
      setup: (b) => {
        const tokens = b.ints([B, T], b.randomIds(B * T, V), 'tokens');
        const wte = b.normal([V, C], 'wte', 0.02);
        const wpe = b.normal([T, C], 'wpe', 0.02);
        const out = b.fill([B, T, C], 'out');
        return () => embedding_forward(b.e, out, tokens, wte, wpe);
      },
    },
    {
      kernel: 'embedding bwd',
      shape,
      what: `${what}, dwte + dwpe`,
      // dwte: reads dout, offsets, positions, updates dwte; dwpe: reads dout, updates dwpe
      bytes: F32 * (B * T * C + V + 1 + B * T + 2 * V * C) + F32 * (B * T * C + 2 * T * C),
      setup: (b) => {
        const host = buildTokenIndex(b.randomIds(B * T, V), V);
        const index = { offsets: b.ints([V + 1], host.offsets, 'offsets'), positions: b.ints([B * T], host.positions, 'positions') };
        const dout = b.normal([B, T, C], 'dout');
        const dwte = b.fill([V, C], 'dwte');
        const dwpe = b.fill([T, C], 'dwpe');
        return () => {
          embedding_backward_wte(b.e, dwte, dout, index, true);
          embedding_backward_wpe(b.e, dwpe, dout, true);
        };
      },
    },
  ];
}

function optimizerCases(n: number, what: string): Case[] {
  const shape = `n=${n}`;
  return [
    {
      kernel: 'adamw',
      shape,
      what,
      // reads p, grads, m, v; writes p, m, v
      bytes: F32 * 7 * n,
      setup: (b) => {
        const block = {
          params: b.normal([n], 'p', 0.02),
          grads: b.normal([n], 'g', 0.01),
          m: b.fill([n], 'm'),
          v: b.fill([n], 'v'),
          decayCount: n,
        };
        const scalars = b.fill([4], 'step_scalars');
        writeStepScalars(b.e, scalars, [{ lr: 1e-3, step: 1 }], 0.9, 0.95);
        // [clip scale 1, norm, no overflow (a set flag would make the update return at once), 0]
        const clip = b.fill([4], 'clip');
        b.e.write(clip, Float32Array.from([1, 0, 0, 0]));
        const hp = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
        return () => adamw_update(b.e, block, scalars, 0, clip, hp);
      },
    },
    {
      kernel: 'grad_sumsq',
      shape,
      what: `${what}, ${gradSumsqDispatches(n)} dispatch(es)`,
      bytes: F32 * n,
      setup: (b) => {
        const grads = b.normal([n], 'g', 0.01);
        const sumsq = b.fill([1], 'sumsq');
        return () => grad_sumsq(b.e, grads, sumsq, 0);
      },
    },
  ];
}

/** Elements of one layer's parameter block as `ParamBlock` lays it out (each tensor padded to 64 elements). */
function layerBlockSize(C: number): number {
  const sizes = [C, C, 3 * C * C, 3 * C, C * C, C, C, C, 4 * C * C, 4 * C, 4 * C * C, C];
  return sizes.reduce((n, s) => n + Math.ceil(s / 64) * 64, 0);
}

function allCases(quick: boolean, half: boolean): Case[] {
  const { n_embd: C, seqLen: T, batchSize: B, n_head: NH } = PRESETS.small;
  const V = VOCAB_SIZE;
  const BT = B * T;
  const LARGE = 4 * 1024 * 1024; // elements: 16 MB per f32 tensor
  const cases: Case[] = [
    ...matmulCases(1024, 1024, 1024, 'square', { only: quick ? 'fwd' : undefined }),
    ...matmulCases(BT, C, 3 * C, 'qkv: B*T x C x 3C'),
    ...matmulCases(BT, C, C, 'attn proj: B*T x C x C'),
    ...matmulCases(BT, C, 4 * C, 'fc: B*T x C x 4C'),
    ...linearGeluCases(BT, C, 4 * C, 'fc + gelu: B*T x C x 4C'),
    ...matmulCases(BT, 4 * C, C, 'mlp proj: B*T x 4C x C'),
    ...matmulCases(BT, C, V, 'tied head: B*T x C x V', { transB: true, bias: false }),
  ];
  // f16 precision's GEMMs and casts, where the device has shader-f16.
  if (half) {
    cases.push(
      ...matmulCases(1024, 1024, 1024, 'square', { only: quick ? 'fwd' : undefined, half }),
      ...matmulCases(BT, C, 3 * C, 'qkv: B*T x C x 3C', { half }),
      ...matmulCases(BT, C, C, 'attn proj: B*T x C x C', { half }),
      ...matmulCases(BT, C, 4 * C, 'fc: B*T x C x 4C', { half }),
      ...matmulCases(BT, 4 * C, C, 'mlp proj: B*T x 4C x C', { half }),
      ...matmulCases(BT, C, V, 'tied head: B*T x C x V', { transB: true, bias: false, half }),
      castCase(BT * C, 'GPT: B*T x C'),
      castCase(BT * 4 * C, 'GPT: B*T x 4C'),
    );
  }
  for (const t of quick ? [64, 256] : [64, 128, 256, 512]) cases.push(...attentionCases(16, NH, C / NH, t));
  for (const plan of ['cpu', 'gpu'] as const) {
    for (const n of [C, 3 * C, 4 * C]) cases.push(biasBackwardCase(BT, n, 'GPT: B*T x N', plan));
    for (const n of [64, 256]) cases.push(biasBackwardCase(64 * 17, n, 'ViT small: B*T x N', plan));
    cases.push(layernormParamsCase(BT, C, 'GPT ln', plan));
    cases.push(layernormParamsCase(64 * 17, 64, 'ViT small ln', plan));
  }
  // Both forward / dx kernel families, whichever this adapter picks (src/runtime/choice.ts).
  for (const kind of ['row-per-invocation', 'workgroup-per-row'] as const) {
    cases.push(...layernormCases(BT, C, 'GPT ln', kind));
    if (!quick) cases.push(...layernormCases(8192, 768, 'large', kind));
  }
  cases.push(...elementwiseCases(BT * 4 * C, 'GPT: B*T x 4C'));
  if (!quick) cases.push(...elementwiseCases(LARGE, 'large'));
  cases.push(...residualCases(BT * C, 'GPT: B*T x C'));
  if (!quick) cases.push(...residualCases(LARGE, 'large'));
  cases.push(...crossentropyCases(BT, V, 'GPT: B*T x V'));
  if (!quick) cases.push(...crossentropyCases(4096, 2048, 'large'));
  cases.push(...embeddingCases(B, T, C, V, 'GPT'));
  if (!quick) cases.push(...embeddingCases(8, 1024, 768, V, 'large'));
  cases.push(...optimizerCases(layerBlockSize(C), 'GPT layer block'));
  if (!quick) cases.push(...optimizerCases(LARGE, 'large'));
  return cases;
}

// ---------------------------------------------------------------- main

export async function benchKernels(o: KernelsOptions): Promise<void> {
  const e = await Engine.create();
  const timeOpts: TimeOptions = {
    trials: o.trials ?? (o.quick ? 2 : 5),
    targetMs: o.targetMs ?? (o.quick ? 20 : 150),
    maxReps: o.quick ? 50 : 500,
  };
  const cases = allCases(o.quick, e.choice.halfAvailable).filter((c) => !o.filter || `${c.kernel} ${c.what}`.toLowerCase().includes(o.filter.toLowerCase()));
  const adapter = e.gpu.adapterName;
  const table = new Table([
    { title: 'kernel', width: 24 },
    { title: 'shape', width: 20 },
    { title: 'what', width: 32 },
    { title: 'R', width: 4, right: true },
    { title: 'ms/call', width: 9, right: true },
    { title: 'GFLOP/s', width: 8, right: true },
    { title: 'GB/s', width: 7, right: true },
    { title: 'spread', width: 6, right: true },
  ]);
  if (!o.json) {
    console.log(describeMachine(e));
    console.log(
      `method: median of ${timeOpts.trials} trials, each R calls in one encoder then sync, R sized for ~${timeOpts.targetMs} ms; ` +
        'spread = (max - min) / median of the trials',
    );
    table.header();
  }
  const t0 = performance.now();
  const rng = new Rng(1234);
  for (const c of cases) {
    const buffers = new Buffers(e, rng);
    const call = c.setup(buffers);
    const t = await timeCalls(e, call, timeOpts);
    buffers.destroy();
    const gflops = c.flops !== undefined ? c.flops / (t.ms * 1e6) : null;
    const gbps = c.bytes !== undefined ? c.bytes / (t.ms * 1e6) : null;
    if (o.json) {
      console.log(
        JSON.stringify({
          kernel: c.kernel,
          shape: c.shape,
          what: c.what,
          ms: round(t.ms, 4),
          gflops: gflops === null ? null : round(gflops, 3),
          gbps: gbps === null ? null : round(gbps, 3),
          reps: t.reps,
          trials: t.trials,
          spread: round(t.spread, 3),
          adapter,
          load1: machineLoad().load1,
        }),
      );
    } else {
      table.row([c.kernel, c.shape, c.what, String(t.reps), fmt(t.ms, 3), fmt(gflops, 2), fmt(gbps, 2), `${Math.round(100 * t.spread)}%`]);
    }
  }
  if (!o.json) console.log(`\n${cases.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s; load average now ${machineLoad().load1.toFixed(2)}`);
  e.destroy();
}
