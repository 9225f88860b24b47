/**
 * The demo page: a form, a `LiveRun` (./run.ts) and its views. Scriptable through the URL, e.g.
 * `?autostart=1&task=gpt&preset=tiny&steps=20&seed=1&drop=sbld`; the ids `status` (`idle`, `running`, `paused`,
 * `stopped`, `done`, `error: ...`), `step`, `loss`, `val-loss` and `tokens-per-s` show the current values, and
 * `window.sbld` holds the run's per-step losses at full precision for tests.
 */
import {
  ConfigError,
  corpusFromDocuments,
  DataError,
  DEFAULT_DROP_CONFIG,
  DropConfigError,
  Engine,
  encode,
  GpuError,
  gpt2ModelFiles,
  minimumTextBytes,
  NO_WEBGPU_HELP,
  PRESETS,
  TrainingSession,
  type Corpus,
  type Document,
  type DropConfig,
  type TrainConfig,
} from '../../src/browser.js';
import { keepBars, layerStrip, lineChart } from './charts.js';
import { LiveRun, pageConfig, type StepProfileView, type StepRecord } from './run.js';

const $ = <T extends HTMLElement = HTMLInputElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el as T;
};
const params = new URLSearchParams(location.search);

/** What tests read (full-precision values; the page shows rounded ones). */
const exposed = { losses: [] as number[], layers: [] as string[], valLosses: [] as [number, number][], tokensPerS: [] as number[], adapter: '', features: [] as string[] };
(globalThis as unknown as { sbld: typeof exposed }).sbld = exposed;

let run: LiveRun | null = null;
let engine: Engine | null = null;
let brown: Document[] | null = null;

// ---------------------------------------------------------------- form

function setupForm(): void {
  const preset = $<HTMLSelectElement>('preset');
  for (const [name, p] of Object.entries(PRESETS)) preset.add(new Option(`${name}: ${p.description}`, name));
  preset.value = 'tiny';
  const d = DEFAULT_DROP_CONFIG;
  $('drop-rate').value = String(d.rate);
  $('drop-theta-bar').value = String(d.thetaBar);
  $('drop-gamma-t').value = String(d.gammaT);
  $('drop-rho-peak').value = String(d.rhoPeak);
  $('drop-q-max').value = String(d.qMax);
  $('drop-warmup-frac').value = String(d.warmupFrac);
  $('drop-remeasure-every').value = String(d.remeasureEvery);
  $<HTMLSelectElement>('drop-sensitivity').value = d.sensitivity;
  // URL parameters override the form.
  const fromUrl: Record<string, string> = { task: 'task', preset: 'preset', steps: 'steps', lr: 'lr', seed: 'seed', drop: 'drop', 'eval-every': 'eval-every', 'sample-every': 'sample-every' };
  for (const [param, id] of Object.entries(fromUrl)) {
    const v = params.get(param);
    if (v !== null) ($(id) as HTMLInputElement | HTMLSelectElement).value = v;
  }
  for (const k of ['drop-rate', 'drop-theta-bar', 'drop-gamma-t', 'drop-rho-peak', 'drop-q-max', 'drop-warmup-frac', 'drop-remeasure-every', 'drop-sensitivity']) {
    const v = params.get(k);
    if (v !== null) ($(k) as HTMLInputElement).value = v;
  }
  const showPolicy = () => {
    for (const el of document.querySelectorAll<HTMLElement>('[data-policy]')) el.hidden = el.dataset.policy !== $('drop').value;
  };
  const showTask = () => ($('text-box').hidden = $('task').value !== 'gpt-text');
  $('drop').addEventListener('change', showPolicy);
  $('task').addEventListener('change', showTask);
  showPolicy();
  showTask();
  const text = $<HTMLTextAreaElement>('text');
  const textInfo = () => {
    const need = minimumTextBytes(PRESETS[$('preset').value as keyof typeof PRESETS].seqLen);
    $('text-info').textContent = `${encode(text.value).length} bytes; preset ${$('preset').value} needs at least ${need}`;
  };
  text.addEventListener('input', textInfo);
  $('preset').addEventListener('change', textInfo);
  text.addEventListener('dragover', (ev) => ev.preventDefault());
  text.addEventListener('drop', (ev) => {
    ev.preventDefault();
    const file = ev.dataTransfer?.files[0];
    if (file) void file.text().then((t) => ((text.value = t), textInfo()));
  });
  textInfo();
  $('start').addEventListener('click', () => void start());
  $('pause').addEventListener('click', () => {
    if (!run) return;
    if (run.state === 'paused') {
      run.resume();
      $('pause').textContent = 'Pause';
      setStatus('running');
    } else {
      run.pause();
      $('pause').textContent = 'Resume';
      setStatus('paused');
    }
  });
  $('stop').addEventListener('click', () => run?.stop());
  $('profile').addEventListener('click', () => run?.profileNextStep());
  $('download-model').addEventListener('click', () => download('model.safetensors'));
  $('download-config').addEventListener('click', () => download('config.json'));
}

function num(id: string): number {
  return Number($(id).value);
}

function dropConfig(): Partial<DropConfig> {
  const policy = $('drop').value as DropConfig['policy'];
  const rho = $('drop-rho-peak').value.trim();
  const knobs: Record<string, Partial<DropConfig>> = {
    none: {},
    layerdrop: { rate: num('drop-rate') },
    pld: { thetaBar: num('drop-theta-bar'), gammaT: num('drop-gamma-t') },
    sbld: {
      rhoPeak: rho === 'match_pld' ? 'match_pld' : Number(rho),
      qMax: num('drop-q-max'),
      warmupFrac: num('drop-warmup-frac'),
      sensitivity: $('drop-sensitivity').value as DropConfig['sensitivity'],
      remeasureEvery: num('drop-remeasure-every'),
    },
  };
  return { policy, ...knobs[policy] };
}

function trainConfig(): TrainConfig {
  return pageConfig({
    preset: $('preset').value as TrainConfig['preset'],
    steps: num('steps'),
    lr: num('lr'),
    seed: num('seed'),
    evalEvery: num('eval-every'),
    drop: dropConfig(),
  });
}

async function corpusFor(cfg: TrainConfig): Promise<Corpus> {
  if ($('task').value === 'gpt-text') {
    const text = $<HTMLTextAreaElement>('text').value;
    const need = minimumTextBytes(cfg.seqLen);
    const have = encode(text).length;
    if (have < need) throw new DataError(`the text is ${have} bytes; preset ${cfg.preset} (sequence length ${cfg.seqLen}) needs at least ${need} bytes for one training and one validation window`);
    return corpusFromDocuments([{ id: 'text', text }], cfg.seqLen, 'text', 'your text');
  }
  if (!brown) {
    const res = await fetch('./brown-slice.json');
    if (!res.ok) throw new DataError(`brown-slice.json: HTTP ${res.status} (run npm run build)`);
    brown = ((await res.json()) as { documents: Document[] }).documents;
  }
  return corpusFromDocuments(brown, cfg.seqLen, 'brown-slice', 'Brown corpus slice (every 10th document)');
}

// ---------------------------------------------------------------- run

function setStatus(s: string): void {
  const el = $('status');
  el.textContent = s;
  el.className = s.startsWith('error') ? 'error' : '';
}

function message(text: string): void {
  $('message').textContent = text;
}

function setRunning(on: boolean): void {
  $<HTMLButtonElement>('start').disabled = on;
  $<HTMLButtonElement>('pause').disabled = !on;
  $<HTMLButtonElement>('stop').disabled = !on;
  $<HTMLButtonElement>('profile').disabled = !on;
  $('pause').textContent = 'Pause';
}

async function start(): Promise<void> {
  message('');
  let cfg: TrainConfig;
  let corpus: Corpus;
  try {
    cfg = trainConfig();
    corpus = await corpusFor(cfg);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DropConfigError || err instanceof DataError) {
      message(err.message);
      setStatus(`error: ${err.message.split('\n')[0]}`);
      return;
    }
    throw err;
  }
  setRunning(true);
  setStatus('starting');
  $('data-info').textContent = corpus.description;
  try {
    if (!engine || engine.gpu.lostReason) {
      engine?.destroy();
      engine = await Engine.create();
      exposed.adapter = engine.gpu.adapterName;
      exposed.features = [...engine.gpu.features];
      $('adapter').textContent = `${engine.gpu.adapterName}; features: ${exposed.features.join(', ') || 'none'}`;
    }
    const session = new TrainingSession(engine, cfg, corpus);
    const view = new RunView(cfg);
    run = new LiveRun(session, view.events(), { sampleEvery: num('sample-every'), sampleTokens: 160 });
    const loseAt = params.get('lose-device-at');
    if (loseAt !== null) view.loseDeviceAt(Number(loseAt), engine);
    setStatus('running');
    await run.run();
    setStatus(run.state === 'stopped' ? 'stopped' : 'done');
  } catch (err) {
    const lost = engine?.gpu.lostReason;
    const kept = run?.snapshot ? ` The model as of step ${run.snapshot.step} is still downloadable.` : '';
    const text = lost ? `the GPU device was lost (${lost}); training stopped.${kept}` : `${(err as Error).message}${kept}`;
    message(text);
    setStatus(`error: ${text}`);
    if (!lost && !(err instanceof GpuError)) console.error(err);
  } finally {
    setRunning(false);
    updateSnapshot();
  }
}

function updateSnapshot(): void {
  const snap = run?.snapshot;
  $<HTMLButtonElement>('download-model').disabled = !snap;
  $<HTMLButtonElement>('download-config').disabled = !snap;
  $('snapshot-info').textContent = snap ? `Download: Hugging Face GPT-2 files of the model after step ${snap.step}.` : '';
}

function download(name: 'model.safetensors' | 'config.json'): void {
  const snap = run?.snapshot;
  if (!run || !snap) return;
  const files = gpt2ModelFiles(run.session.modelConfig, snap.params);
  const blob = new Blob([files[name] as BlobPart], { type: name.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The live views of one run; redrawn at most once per animation frame. */
class RunView {
  private readonly train: [number, number][] = [];
  private readonly trainT: [number, number][] = [];
  private readonly val: [number, number][] = [];
  private readonly valT: [number, number][] = [];
  private readonly tps: [number, number][] = [];
  private readonly ran: boolean[][] = [];
  private keep: number[] = [];
  private sensitivity: number[] | null = null;
  private pending = false;
  private loseAt = -1;
  private loseEngine: Engine | null = null;

  constructor(private readonly cfg: TrainConfig) {
    exposed.losses = [];
    exposed.layers = [];
    exposed.valLosses = [];
    exposed.tokensPerS = [];
    for (const id of ['step', 'loss', 'val-loss', 'tokens-per-s', 'kept']) $(id).textContent = '-';
    $('sample').textContent = '';
    this.draw();
  }

  /** Test hook (`?lose-device-at=K`): destroys the device after step K, as a lost GPU would end the run. */
  loseDeviceAt(step: number, e: Engine): void {
    this.loseAt = step;
    this.loseEngine = e;
  }

  events() {
    return {
      onStep: (r: StepRecord) => this.onStep(r),
      onEval: (step: number, v: number, t: number) => {
        this.val.push([step + 1, v]);
        this.valT.push([t, v]);
        exposed.valLosses.push([step + 1, v]);
        $('val-loss').textContent = v.toFixed(4);
        updateSnapshot();
        this.schedule();
      },
      onSensitivity: (m: { sensitivities: number[] }) => {
        this.sensitivity = m.sensitivities;
        this.schedule();
      },
      onSample: (step: number, text: string) => {
        $('sample').textContent = `after step ${step + 1}:\n${text}`;
      },
      onProfile: (p: StepProfileView) => showProfile(p, this.cfg.n_layer),
    };
  }

  private onStep(r: StepRecord): void {
    const n = r.step + 1;
    this.train.push([n, r.loss]);
    this.trainT.push([r.elapsedS, r.loss]);
    this.tps.push([n, r.tokensPerS]);
    this.ran.push(Array.from({ length: this.cfg.n_layer }, (_, l) => r.layers.some((bits) => bits[l] === '1')));
    this.keep = r.keep.keep;
    exposed.losses.push(r.loss);
    exposed.layers.push(r.layers.join(' '));
    exposed.tokensPerS.push(r.tokensPerS);
    $('step').textContent = String(n);
    $('loss').textContent = r.loss.toFixed(4);
    $('tokens-per-s').textContent = r.tokensPerS.toFixed(0);
    $('kept').textContent = `${(100 * r.keep.expectedKeptFraction).toFixed(0)}%`;
    if (r.step === this.loseAt) this.loseEngine?.device.destroy();
    this.schedule();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw(): void {
    lineChart($<HTMLCanvasElement>('chart-steps'), [
      { label: 'train', color: '#2f5d8a', points: this.train },
      { label: 'validation', color: '#c0392b', points: this.val, dots: true },
    ]);
    lineChart($<HTMLCanvasElement>('chart-time'), [
      { label: 'train', color: '#2f5d8a', points: this.trainT },
      { label: 'validation', color: '#c0392b', points: this.valT, dots: true },
    ]);
    lineChart($<HTMLCanvasElement>('chart-tps'), [{ label: 'tokens/s', color: '#3a7d44', points: this.tps }]);
    layerStrip($<HTMLCanvasElement>('strip'), this.ran, this.cfg.n_layer, this.cfg.steps);
    keepBars($<HTMLCanvasElement>('keep'), this.keep.length ? this.keep : new Array<number>(this.cfg.n_layer).fill(1), this.sensitivity);
  }
}

function showProfile(p: StepProfileView, nLayer: number): void {
  const groups = new Map<string, { layer: string; phase: string; dispatches: number; ms: number; skipped: boolean }>();
  for (const r of p.rows) {
    const key = `${r.layer}|${r.phase}`;
    const g = groups.get(key) ?? { layer: String(r.layer), phase: r.phase, dispatches: 0, ms: 0, skipped: r.skipped };
    g.dispatches += r.dispatches;
    g.ms += r.gpu_ms;
    groups.set(key, g);
  }
  const order = (l: string) => (l === 'other' ? nLayer : Number(l));
  const rows = [...groups.values()].sort((a, b) => order(a.layer) - order(b.layer) || a.phase.localeCompare(b.phase));
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const how = p.mode === 'timestamps' ? 'GPU time from timestamp queries' : 'host time of each dispatch submitted alone (no timestamp-query on this adapter)';
  const body = rows
    .map((r) => `<tr class="${r.skipped ? 'skipped' : ''}"><td>${r.layer}</td><td>${r.phase}</td><td>${r.skipped ? 'skipped' : 'ran'}</td><td>${r.dispatches}</td><td>${r.ms.toFixed(3)}</td></tr>`)
    .join('');
  $('profile-out').innerHTML =
    `<p>Step ${p.step + 1}: ${how}; ${total.toFixed(2)} ms in all.</p>` +
    `<table><tr><th>layer</th><th>phase</th><th></th><th>dispatches</th><th>ms</th></tr>${body}</table>`;
}

// ---------------------------------------------------------------- start-up

setupForm();
if (!(navigator as Navigator & { gpu?: unknown }).gpu) {
  message(NO_WEBGPU_HELP);
  setStatus('error: no WebGPU in this browser');
  $<HTMLButtonElement>('start').disabled = true;
} else if (params.get('autostart') === '1') {
  void start();
}
