/**
 * The comparison's plots as Vega-Lite specs, rendered to SVG headless (vega's `View#toSVG()` with
 * renderer 'none': no browser, no canvas; text widths are estimated). Each function takes plain rows and
 * returns a spec; `renderSvg` turns a spec into an SVG string.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { MeanCurvePoint } from './analysis.js';

const WIDTH = 640;
const HEIGHT = 360;
const CONFIG = {
  background: 'white',
  font: 'Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 260, symbolOpacity: 1 },
  title: { fontSize: 15, anchor: 'start' as const, subtitleFontSize: 12, subtitleColor: '#555' },
};

/** The same colour for a policy in every plot; ablations take the palette in order. */
const POLICY_COLORS: Record<string, string> = { none: '#222222', layerdrop: '#8c8c8c', pld: '#e6a700', sbld: '#1f77b4' };
const PALETTE = ['#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e', '#7f7f7f', '#aec7e8'];

export function colorScale(variants: readonly string[]) {
  let next = 0;
  return { domain: [...variants], range: variants.map((v) => POLICY_COLORS[v] ?? PALETTE[next++ % PALETTE.length]!) };
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export interface CurveRow extends MeanCurvePoint {
  variant: string;
}

/** The y axis of an eval-curve plot: its title, the zoomed domain, and a d3 number format for its labels. */
interface CurveAxis {
  title: string;
  domain: [number, number];
  format?: string;
}

/**
 * An eval metric against `x` (train seconds or steps): per variant the mean over seeds as a line with points,
 * and the min–max band over seeds, the y axis zoomed to `y.domain`; marks outside it are clipped.
 */
function curveSpec(rows: readonly CurveRow[], x: 'train_s' | 'steps', variants: readonly string[], title: string, subtitle: string | string[], y: CurveAxis): TopLevelSpec {
  const xTitle = x === 'train_s' ? 'training wall time, s (steps + sensitivity measurement; no evaluation)' : 'optimizer steps';
  const color = { field: 'variant', type: 'nominal' as const, scale: colorScale(variants), sort: [...variants], title: 'policy' };
  const axis = y.format ? { format: y.format } : {};
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle },
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    encoding: { x: { field: x, type: 'quantitative', title: xTitle, scale: { zero: false } } },
    layer: [
      {
        mark: { type: 'area', opacity: 0.18, clip: true },
        encoding: {
          y: { field: 'lo', type: 'quantitative', scale: { domain: y.domain, zero: false }, title: y.title, axis },
          y2: { field: 'hi' },
          color,
        },
      },
      {
        mark: { type: 'line', strokeWidth: 2, clip: true, point: { size: 28, filled: true } },
        encoding: { y: { field: 'mean', type: 'quantitative' }, color },
      },
    ],
  };
}

/**
 * Validation loss against `x` (train seconds or steps): per variant the mean over seeds as a line with points,
 * and the min–max band over seeds. The y axis is zoomed to [lowest band, `yMax`] (the early, steep part of the
 * curves is clipped) so the differences at the end are readable. `yTitle` names the loss's unit.
 */
export function lossCurveSpec(
  rows: readonly CurveRow[],
  x: 'train_s' | 'steps',
  variants: readonly string[],
  title: string,
  subtitle: string | string[],
  yMax: number,
  yTitle = 'validation loss, nats/token',
): TopLevelSpec {
  const yMin = Math.min(...rows.map((r) => r.lo));
  const pad = (yMax - yMin) * 0.03;
  return curveSpec(rows, x, variants, title, subtitle, { title: yTitle, domain: [yMin - pad, yMax] });
}

/**
 * Validation accuracy (a fraction, labelled in percent) against `x`, drawn as `lossCurveSpec` but zoomed from
 * below: [`yMin`, highest band] (the low, steep start is clipped), never above 100%.
 */
export function accuracyCurveSpec(rows: readonly CurveRow[], x: 'train_s' | 'steps', variants: readonly string[], title: string, subtitle: string | string[], yMin: number, yTitle: string): TopLevelSpec {
  const yMax = Math.max(...rows.map((r) => r.hi));
  const pad = (yMax - yMin) * 0.03;
  return curveSpec(rows, x, variants, title, subtitle, { title: yTitle, domain: [yMin, Math.min(1, yMax + pad)], format: '.1%' });
}

export interface ThroughputRow {
  variant: string;
  seed: number;
  expected_kept: number;
  tokens_per_s: number;
}

/**
 * Tokens/s against the expected fraction of layers run, one point per run, with the curve a run would follow if
 * its whole step time scaled with the layers it runs (baseline tokens/s ÷ fraction run): the ceiling, since the
 * embedding, head, loss, optimizer step and readback do not shrink with skipped layers.
 */
export function throughputSpec(rows: readonly ThroughputRow[], variants: readonly string[], baselineTps: number): TopLevelSpec {
  const xs = rows.map((r) => r.expected_kept);
  const lo = Math.max(0.05, Math.min(...xs) - 0.05);
  const ideal = Number.isFinite(baselineTps)
    ? Array.from({ length: 21 }, (_, i) => {
        const f = lo + ((1 - lo) * i) / 20;
        return { f, tps: baselineTps / f };
      })
    : [];
  const color = { field: 'variant', type: 'nominal' as const, scale: colorScale(variants), sort: [...variants], title: 'policy' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Throughput against the fraction of layers run',
      subtitle: [
        'one point per run: tokens/s over its step time (sensitivity measurements left out; the wall times keep them)',
        'dashed: baseline tokens/s ÷ fraction run, the ceiling if every cost of a step scaled with depth',
      ],
    },
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: ideal },
        mark: { type: 'line', strokeDash: [6, 4], color: '#888' },
        encoding: {
          x: { field: 'f', type: 'quantitative' },
          y: { field: 'tps', type: 'quantitative' },
        },
      },
      {
        data: { values: rows.map((r) => ({ ...r })) },
        mark: { type: 'point', filled: true, size: 90, opacity: 0.85 },
        encoding: {
          x: { field: 'expected_kept', type: 'quantitative', title: 'expected fraction of layer-steps run (mean over steps)', scale: { domain: [lo, 1.02] } },
          y: { field: 'tokens_per_s', type: 'quantitative', title: 'training tokens/s (steps)', scale: { zero: false } },
          color,
          tooltip: [{ field: 'variant' }, { field: 'seed' }],
        },
      },
    ],
  };
}

export interface KeepCell {
  /** First step of the column. */
  step: number;
  step_end: number;
  layer: number;
  keep: number;
}

export interface KeptLineRow {
  variant: string;
  step: number;
  expected_kept: number;
}

/**
 * SBLD's keep probability per layer over training as a heat map (columns = step bins, mean p in the bin), above
 * the expected fraction of layers run per step for the dropping policies (equal expected compute: equal areas).
 */
export function keepHeatmapSpec(cells: readonly KeepCell[], kept: readonly KeptLineRow[], variants: readonly string[], subtitle: string | string[]): TopLevelSpec {
  const minKeep = Math.min(0.5, ...cells.map((c) => c.keep));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: "SBLD's keep probabilities over training", subtitle },
    config: CONFIG,
    vconcat: [
      {
        width: WIDTH,
        height: 260,
        data: { values: cells.map((c) => ({ ...c })) },
        mark: { type: 'rect' },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'optimizer step', scale: { nice: false } },
          x2: { field: 'step_end' },
          y: { field: 'layer', type: 'ordinal', title: 'layer (0 = first)', sort: 'ascending' },
          color: { field: 'keep', type: 'quantitative', title: 'keep p', scale: { scheme: 'viridis', domain: [minKeep, 1] } },
        },
      },
      {
        width: WIDTH,
        height: 150,
        data: { values: kept.map((k) => ({ ...k })) },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'optimizer step', scale: { nice: false } },
          y: { field: 'expected_kept', type: 'quantitative', title: 'expected fraction run', scale: { zero: false } },
          color: { field: 'variant', type: 'nominal', scale: colorScale(variants), sort: [...variants], title: 'policy' },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  };
}

export interface SensitivityRow {
  layer: number;
  sensitivity: number;
  /** Measurement step, as a label. */
  measured: string;
  list: 'block' | 'allow' | 'ordinary';
}

/** SBLD's sensitivities per layer (log scale), one line per measurement, the point shape marking its list. */
export function sensitivitySpec(rows: readonly SensitivityRow[], subtitle: string | string[]): TopLevelSpec {
  const order = [...new Set(rows.map((r) => r.measured))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: "SBLD's measured layer sensitivities", subtitle },
    width: WIDTH,
    height: 300,
    config: CONFIG,
    data: { values: rows.map((r) => ({ ...r })) },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 1.5, opacity: 0.7 },
        encoding: {
          x: { field: 'layer', type: 'ordinal', title: 'layer (0 = first)', axis: { labelAngle: 0 } },
          y: { field: 'sensitivity', type: 'quantitative', scale: { type: 'log' }, title: 's_l (log scale)' },
          color: { field: 'measured', type: 'ordinal', sort: order, scale: { scheme: 'viridis' }, title: 'measured at step' },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'layer', type: 'ordinal' },
          y: { field: 'sensitivity', type: 'quantitative' },
          color: { field: 'measured', type: 'ordinal', sort: order },
          shape: { field: 'list', type: 'nominal', title: 'list', scale: { domain: ['block', 'ordinary', 'allow'], range: ['square', 'circle', 'triangle-down'] } },
        },
      },
    ],
  };
}
