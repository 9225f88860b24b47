/**
 * Turning timed dispatches into the profiler's views: rows per (step, layer, phase, kernel) with dispatch
 * counts and GPU time, skipped layers listed with zero dispatches, per-layer totals, and a Chrome trace-event
 * file (one track per layer, a slice per kernel) that Perfetto and chrome://tracing open.
 */
import type { DispatchRecord, Phase } from '../runtime/engine.js';

export interface ProfileRow {
  step: number;
  /** Layer index, or 'other' for embedding, head, loss and optimizer bookkeeping. */
  layer: number | 'other';
  phase: Phase;
  kernel: string;
  dispatches: number;
  gpu_ms: number;
  skipped: boolean;
}

export interface StepProfile {
  step: number;
  records: DispatchRecord[];
  /** Layers that ran in at least one micro-batch of the step. */
  layersRun: boolean[];
}

const PHASES: Phase[] = ['forward', 'backward', 'optimizer'];

/** Rows for every (step, layer, phase, kernel); skipped layers get one row per phase with no dispatches. */
export function profileRows(steps: readonly StepProfile[]): ProfileRow[] {
  const rows: ProfileRow[] = [];
  for (const s of steps) {
    const groups = new Map<string, ProfileRow>();
    for (const r of s.records) {
      const layer = r.layer ?? 'other';
      const key = `${layer}|${r.phase}|${r.kernel}`;
      let row = groups.get(key);
      if (!row) groups.set(key, (row = { step: s.step, layer, phase: r.phase, kernel: r.kernel, dispatches: 0, gpu_ms: 0, skipped: false }));
      row.dispatches++;
      row.gpu_ms += (r.gpuNs ?? 0) / 1e6;
    }
    rows.push(...groups.values());
    s.layersRun.forEach((ran, l) => {
      if (ran) return;
      for (const phase of PHASES) rows.push({ step: s.step, layer: l, phase, kernel: '-', dispatches: 0, gpu_ms: 0, skipped: true });
    });
  }
  return rows;
}

export interface LayerTotal {
  layer: number | 'other';
  dispatches: number;
  gpu_ms: number;
  /** Steps in which the layer was skipped entirely. */
  skippedSteps: number;
}

/** Per-layer totals over all steps, layers in order and 'other' last. */
export function layerTotals(rows: readonly ProfileRow[], nLayer: number): LayerTotal[] {
  const totals: LayerTotal[] = Array.from({ length: nLayer }, (_, l) => ({ layer: l, dispatches: 0, gpu_ms: 0, skippedSteps: 0 }));
  const other: LayerTotal = { layer: 'other', dispatches: 0, gpu_ms: 0, skippedSteps: 0 };
  for (const r of rows) {
    const t = r.layer === 'other' ? other : totals[r.layer]!;
    t.dispatches += r.dispatches;
    t.gpu_ms += r.gpu_ms;
    if (r.skipped && r.phase === 'forward') t.skippedSteps++;
  }
  return [...totals, other];
}

/** Totals per kernel name over all steps, most expensive first. */
export function kernelTotals(rows: readonly ProfileRow[]): { kernel: string; dispatches: number; gpu_ms: number }[] {
  const m = new Map<string, { kernel: string; dispatches: number; gpu_ms: number }>();
  for (const r of rows) {
    if (r.skipped) continue;
    const t = m.get(r.kernel) ?? { kernel: r.kernel, dispatches: 0, gpu_ms: 0 };
    t.dispatches += r.dispatches;
    t.gpu_ms += r.gpu_ms;
    m.set(r.kernel, t);
  }
  return [...m.values()].sort((a, b) => b.gpu_ms - a.gpu_ms);
}

/**
 * The kind of work a kernel does, for "share of the step per kernel kind": matmul (with bias gradients),
 * attention, layernorm, gelu, residual, embedding, crossentropy, optimizer (norms, clipping, AdamW), else the
 * name's first word.
 */
export function kernelKind(kernel: string): string {
  if (kernel.startsWith('bias_backward') || kernel.startsWith('matmul')) return 'matmul';
  if (kernel.startsWith('grad_') || kernel.startsWith('adamw')) return 'optimizer';
  return kernel.split('_')[0]!;
}

/** GPU time and dispatches per kernel kind, most expensive first. */
export function kindTotals(rows: readonly ProfileRow[]): { kind: string; dispatches: number; gpu_ms: number }[] {
  const m = new Map<string, { kind: string; dispatches: number; gpu_ms: number }>();
  for (const k of kernelTotals(rows)) {
    const kind = kernelKind(k.kernel);
    const t = m.get(kind) ?? { kind, dispatches: 0, gpu_ms: 0 };
    t.dispatches += k.dispatches;
    t.gpu_ms += k.gpu_ms;
    m.set(kind, t);
  }
  return [...m.values()].sort((a, b) => b.gpu_ms - a.gpu_ms);
}

/** Chrome trace-event JSON: pid 1, one thread per layer (tid = layer + 1; tid 0 = other), a slice per dispatch. */
export function chromeTrace(steps: readonly StepProfile[], nLayer: number): object {
  const events: object[] = [];
  events.push({ name: 'process_name', ph: 'M', pid: 1, args: { name: 'GPU (sbld-webgpu)' } });
  events.push({ name: 'thread_name', ph: 'M', pid: 1, tid: 0, args: { name: 'embedding / head / optimizer' } });
  events.push({ name: 'thread_sort_index', ph: 'M', pid: 1, tid: 0, args: { sort_index: nLayer + 1 } });
  for (let l = 0; l < nLayer; l++) {
    events.push({ name: 'thread_name', ph: 'M', pid: 1, tid: l + 1, args: { name: `layer ${l}` } });
    events.push({ name: 'thread_sort_index', ph: 'M', pid: 1, tid: l + 1, args: { sort_index: l } });
  }
  // Steps are timed separately; lay them end to end on one time axis.
  let offsetUs = 0;
  for (const s of steps) {
    let endUs = offsetUs;
    for (const r of s.records) {
      const ts = offsetUs + (r.startNs ?? 0) / 1000;
      const dur = (r.gpuNs ?? 0) / 1000;
      events.push({ name: r.kernel, cat: r.phase, ph: 'X', pid: 1, tid: r.layer === null ? 0 : r.layer + 1, ts, dur, args: { step: s.step, phase: r.phase } });
      endUs = Math.max(endUs, ts + dur);
    }
    s.layersRun.forEach((ran, l) => {
      if (!ran) events.push({ name: `step ${s.step}: skipped`, ph: 'i', s: 't', pid: 1, tid: l + 1, ts: offsetUs });
    });
    offsetUs = endUs + 10;
  }
  return { traceEvents: events, displayTimeUnit: 'ms' };
}
