/** The page's charts, drawn on canvases: a line chart, the layers-by-steps strip and per-layer bars. */

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  /** Draw dots instead of a line (few points, e.g. validation). */
  dots?: boolean;
}

const AXIS = '#5c6b7a';
const GRID = '#e6eaef';

/** Sizes the canvas's backing store to its displayed size (sharp lines on any screen). */
function prepare(canvas: HTMLCanvasElement): { g: CanvasRenderingContext2D; w: number; h: number } {
  const ratio = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400;
  const h = Number(canvas.getAttribute('height')) || 150;
  if (canvas.width !== Math.round(w * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    canvas.style.height = `${h}px`;
  }
  const g = canvas.getContext('2d')!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  return { g, w, h };
}

function niceTicks(lo: number, hi: number, n = 4): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / n));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= n) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / unit) * unit; v <= hi + 1e-9; v += unit) out.push(+v.toPrecision(6));
  return out;
}

export function lineChart(canvas: HTMLCanvasElement, series: Series[]): void {
  const { g, w, h } = prepare(canvas);
  const all = series.flatMap((s) => s.points);
  const pad = { l: 44, r: 8, t: 16, b: 18 };
  if (all.length === 0) return;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const X = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const Y = (y: number) => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  g.strokeStyle = GRID;
  g.fillStyle = AXIS;
  g.lineWidth = 1;
  for (const t of niceTicks(y0, y1)) {
    g.beginPath();
    g.moveTo(pad.l, Y(t));
    g.lineTo(w - pad.r, Y(t));
    g.stroke();
    g.fillText(String(t), 4, Y(t) + 4);
  }
  for (const t of niceTicks(x0, x1, 6)) g.fillText(String(t), X(t) - 8, h - 4);
  let lx = pad.l + 4;
  for (const s of series) {
    g.strokeStyle = g.fillStyle = s.color;
    if (s.dots) {
      for (const [x, y] of s.points) g.fillRect(X(x) - 2.5, Y(y) - 2.5, 5, 5);
    } else {
      g.lineWidth = 1.5;
      g.beginPath();
      s.points.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
      g.stroke();
    }
    g.fillText(s.label, lx, 11);
    lx += g.measureText(s.label).width + 14;
  }
}

/** Rows: layers (0 at the top); columns: steps; `ran[step][layer]` true when the layer ran in any micro-batch. */
export function layerStrip(canvas: HTMLCanvasElement, ran: boolean[][], nLayer: number, totalSteps: number): void {
  const { g, w, h } = prepare(canvas);
  const pad = { l: 26, t: 2, b: 2 };
  const cw = (w - pad.l) / Math.max(1, totalSteps);
  const rh = (h - pad.t - pad.b) / nLayer;
  g.fillStyle = '#f1f3f6';
  g.fillRect(pad.l, pad.t, w - pad.l, h - pad.t - pad.b);
  g.fillStyle = AXIS;
  for (let l = 0; l < nLayer; l++) if (nLayer <= 12 || l % 2 === 0) g.fillText(`L${l}`, 2, pad.t + (l + 0.5) * rh + 4);
  ran.forEach((col, s) => {
    col.forEach((r, l) => {
      g.fillStyle = r ? '#2f5d8a' : '#f4b183';
      g.fillRect(pad.l + s * cw, pad.t + l * rh + 0.5, Math.max(cw, 1), rh - 1);
    });
  });
}

/** Per-layer bars of keep probabilities (0..1) and, when given, sensitivities as dots (scaled to their max). */
export function keepBars(canvas: HTMLCanvasElement, keep: number[], sensitivity: number[] | null): void {
  const { g, w, h } = prepare(canvas);
  const pad = { l: 30, b: 16, t: 8 };
  const n = keep.length;
  const bw = (w - pad.l) / Math.max(1, n);
  const Y = (v: number) => h - pad.b - v * (h - pad.b - pad.t);
  g.fillStyle = AXIS;
  g.fillText('1', 4, Y(1) + 4);
  g.fillText('0', 4, Y(0));
  keep.forEach((p, l) => {
    g.fillStyle = '#2f5d8a';
    g.fillRect(pad.l + l * bw + 2, Y(p), bw - 4, Y(0) - Y(p));
    g.fillStyle = AXIS;
    if (n <= 16 || l % 2 === 0) g.fillText(`L${l}`, pad.l + l * bw + bw / 2 - 8, h - 3);
  });
  if (sensitivity && sensitivity.length === n) {
    const max = Math.max(...sensitivity, 1e-12);
    g.fillStyle = '#c0392b';
    sensitivity.forEach((s, l) => {
      g.beginPath();
      g.arc(pad.l + l * bw + bw / 2, Y(s / max), 4, 0, 2 * Math.PI);
      g.fill();
    });
  }
}
