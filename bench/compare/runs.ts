/**
 * What `npm run bench -- compare` trains: the variants (the four policies and, with --ablations, SBLD's
 * ablations from /work/shared/SBLD.md) and one TrainConfig per (seed, variant), GPT's or (--task vit) the ViT's.
 * Every run of a seed shares the model, initialisation, data order and learning-rate schedule: they all come
 * from the same TrainConfig except `drop`, and `cfg.seed` seeds initialisation, the batch order (and the ViT's
 * train/validation split) and the layer-drop draws alike.
 */
import { join } from 'node:path';
import { DROP_POLICIES, type DropConfig, type DropPolicyName } from '../../src/drop/config.js';
import { resolveDropConfig } from '../../src/drop/resolve.js';
import { keepProbabilities } from '../../src/drop/policy.js';
import { computeLists } from '../../src/drop/sbld.js';
import { PRESETS } from '../../src/tasks/gpt/presets.js';
import { ConfigError, type TrainConfig } from '../../src/train/config.js';
import { resolveConfig } from '../../src/tasks/gpt/config.js';
import { isVitConfig, resolveVitConfig, VIT_IMAGE_SIZE, VIT_PRESETS } from '../../src/tasks/vit/config.js';
import { VAL_FRACTION } from '../../src/tasks/vit/data.js';

export interface Variant {
  /** Folder-safe name used in tables and plots. */
  name: string;
  /** Layer-dropping settings on top of the shared ones (the policy at least). */
  drop: Partial<DropConfig>;
  /** One line on what it is. */
  about: string;
  ablation: boolean;
}

export const POLICY_ABOUT: Record<DropPolicyName, string> = {
  none: 'every layer, every step (the baseline)',
  layerdrop: 'LayerDrop: every layer kept with p = 1 - r',
  pld: "Progressive Layer Dropping: θ(t) decays to θ̄, deeper layers dropped more (DeepSpeed's reference lists)",
  sbld: 'Sensitivity-Based Layer Dropping, equal expected compute to PLD (ρ_peak = match_pld)',
};

/** Parses `--policies a,b,c`; throws a ConfigError naming the unknown ones. */
export function parsePolicies(list: string): DropPolicyName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(DROP_POLICIES as readonly string[]).includes(n));
  if (bad.length || names.length === 0) {
    throw new ConfigError(`--policies ${list}: unknown policy ${bad.join(', ') || '(none given)'}; choose from ${DROP_POLICIES.join(', ')}`);
  }
  return [...new Set(names)] as DropPolicyName[];
}

/**
 * SBLD's ablations, each one switch away from full SBLD (`sbldRescale` is full SBLD's resolved rescale, so
 * "rescale" flips it whichever way it is set). Periodic re-measurement every steps/10.
 */
export function ablationVariants(steps: number, sbldRescale: 'none' | 'inverse_keep'): Variant[] {
  const a = (name: string, drop: Partial<DropConfig>, about: string): Variant => ({ name, drop, about, ablation: true });
  const flipped = sbldRescale === 'none' ? 'inverse_keep' : 'none';
  return [
    a('sbld-no-lists', { policy: 'sbld', useLists: false }, 'SBLD without block/allow lists (useLists false)'),
    a('sbld-pld-curve', { policy: 'sbld', curve: 'pld' }, "SBLD with PLD's time curve 1 - exp(-γt) (curve pld)"),
    a('pld-sbld-curve', { policy: 'pld', pldCurve: 'pwegd' }, "PLD dropping SBLD's PWEGD fraction ρ(t) (pldCurve pwegd)"),
    a('sbld-shuffled', { policy: 'sbld', shuffleSensitivities: true }, 'SBLD with sensitivities permuted across layers (seeded)'),
    a(`sbld-rescale-${flipped === 'inverse_keep' ? 'on' : 'off'}`, { policy: 'sbld', rescale: flipped }, `SBLD with rescale ${flipped}`),
    a('sbld-ordered', { policy: 'sbld', alloc: 'ordered' }, 'SBLD filling the least sensitive layers to the cap first (alloc ordered)'),
    a('sbld-remeasure', { policy: 'sbld', remeasureEvery: Math.max(1, Math.round(steps / 10)) }, `SBLD re-measuring every ${Math.max(1, Math.round(steps / 10))} steps`),
    a('sbld-taylor', { policy: 'sbld', sensitivity: 'taylor' }, 'SBLD with online taylor sensitivities instead of skip_loss'),
  ];
}

/** The variants to run: the chosen policies, then the ablations (which add sbld if it was not chosen). */
export function planVariants(policies: readonly DropPolicyName[], ablations: boolean, base: TrainConfig): Variant[] {
  const chosen = ablations && !policies.includes('sbld') ? [...policies, 'sbld' as const] : policies;
  const vs: Variant[] = chosen.map((p) => ({ name: p, drop: { policy: p }, about: POLICY_ABOUT[p], ablation: false }));
  if (ablations) {
    const sbld = resolveDropConfig({ ...base.drop, policy: 'sbld' }, { nLayer: base.n_layer, totalSteps: base.steps });
    vs.push(...ablationVariants(base.steps, sbld.rescale));
  }
  return vs;
}

export interface PlannedRun {
  variant: Variant;
  seed: number;
  /** Index of the seed (0..K-1). */
  seedIndex: number;
  cfg: TrainConfig;
}

/** The run folder of one (variant, seed) inside the comparison folder. */
export function runDir(out: string, variant: string, seed: number): string {
  return join(out, 'runs', variant, `seed-${seed}`);
}

/**
 * One run per (seed, variant), seeds outermost and the variant order rotated by one per seed, so drift in the
 * machine's load over the comparison touches every policy alike rather than always the first. Seeds are
 * base.seed, base.seed + 1, ...; shared `--drop-*` flags in base.drop apply to every run, the variant's own
 * settings on top. Every config is validated here, before anything trains (a ViT base through
 * `resolveVitConfig`, the base as its file layer, since the derived seqLen is refused as a flag).
 */
export function planRuns(base: TrainConfig, variants: readonly Variant[], seeds: number, out: string): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (let k = 0; k < seeds; k++) {
    const seed = base.seed + k;
    const r = k % variants.length;
    for (const v of [...variants.slice(r), ...variants.slice(0, r)]) {
      const own = { seed, out: runDir(out, v.name, seed), drop: { ...base.drop, ...v.drop } };
      const cfg = isVitConfig(base) ? resolveVitConfig(base, own) : resolveConfig({}, { ...base, ...own });
      runs.push({ variant: v, seed, seedIndex: k, cfg });
    }
  }
  return runs;
}

/**
 * Idle-machine costs at preset deep on this 2-core machine (lavapipe), measured for DEFAULT_STEPS (main.ts) with
 * the subgroup kernels: a full-depth step (1.0 s on a quiet day, 1.2-1.3 s on a busier host: 1.1), an evaluation
 * of 8 batches, a skip_loss measurement of 13 x 4 forwards (16.7 s), an engine start.
 */
export const DEEP_COSTS = { fullStep_s: 1.1, eval_s: 2.5, skipLoss_s: 17, start_s: 5 };

/**
 * The same for the ViT's preset deep (L12 C64 H4, 7x7 patches: T16, B64), measured in the three-seed ViT study
 * (docs/results/vit, 1000 steps, otherwise idle): a full-depth step 0.48 s (seed 1337: 475 s for 1000 steps; the
 * later seeds 535-574 s as the host slowed); one forward of a 64-image batch 0.17 s (the test set, 157 batches,
 * took 20-31 s); an engine start with Fashion-MNIST's loading. Evaluations, the test set and skip_loss probes
 * are costed per image from the batch forward.
 */
export const VIT_DEEP_COSTS = { fullStep_s: 0.48, evalBatch_s: 0.17, start_s: 5 };
/** Fashion-MNIST's image counts, for the ViT's estimate (another --data set makes it rougher). */
const FASHION_MNIST = { train: 60000, test: 10000 };

/**
 * Rough seconds one run takes on an idle machine, before anything is measured: DEEP_COSTS (VIT_DEEP_COSTS for
 * --task vit) scaled by the model's L·C²·B·T·gradAccum against deep's, the step time by each step's expected
 * fraction of layers run (SBLD's mean keep depends only on ρ(t) and the caps, so a uniform stand-in for its
 * sensitivities gives it), plus evaluations and skip_loss measurements (taylor costs none); for the ViT also the
 * last evaluation on the whole validation split and the test set after training. For the up-front estimate
 * and the ETA's weights.
 */
export function estimateRunSeconds(cfg: TrainConfig): number {
  const L = cfg.n_layer;
  const T = cfg.steps;
  const drop = resolveDropConfig(cfg.drop, { nLayer: L, totalSteps: T });
  const ones = new Array<number>(L).fill(1);
  const view = { sensitivities: ones, ...computeLists(ones, drop.nBlock, drop.nAllow, drop.useLists) };
  let kept = 0;
  for (let t = 0; t < T; t++) kept += keepProbabilities(drop, t, drop.policy === 'sbld' ? view : null).expectedKeptFraction;
  const evals = cfg.evalEvery > 0 ? Math.floor(T / cfg.evalEvery) + (T % cfg.evalEvery ? 1 : 0) : 1;
  let measurements = 0;
  if (drop.policy === 'sbld' && drop.sensitivity === 'skip_loss' && drop.warmupSteps < T) {
    measurements = 1 + (drop.remeasureEvery > 0 ? Math.floor((T - 1 - drop.warmupSteps) / drop.remeasureEvery) : 0);
  }
  if (isVitConfig(cfg)) {
    const d = VIT_PRESETS.deep;
    const dT = (VIT_IMAGE_SIZE / d.patchSize) ** 2;
    // Per image: a forward costs L·C²·T against deep's; a step's batch B·gradAccum images.
    const fwdImage = (VIT_DEEP_COSTS.evalBatch_s / d.batchSize) * ((L * cfg.n_embd ** 2 * cfg.seqLen) / (d.n_layer * d.n_embd ** 2 * dT));
    const stepScale = (L * cfg.n_embd ** 2 * cfg.batchSize * cfg.seqLen * cfg.gradAccum) / (d.n_layer * d.n_embd ** 2 * d.batchSize * dT);
    const valImages = Math.round(FASHION_MNIST.train * VAL_FRACTION);
    const evalImages = (evals - 1) * Math.min(valImages, cfg.evalBatches * cfg.batchSize) + valImages + FASHION_MNIST.test;
    const probeImages = measurements * (L + 1) * drop.probeBatches * cfg.batchSize;
    return VIT_DEEP_COSTS.start_s + VIT_DEEP_COSTS.fullStep_s * stepScale * kept + fwdImage * (evalImages + probeImages);
  }
  const d = PRESETS.deep;
  const scale = (L * cfg.n_embd ** 2 * cfg.batchSize * cfg.seqLen * cfg.gradAccum) / (d.n_layer * d.n_embd ** 2 * d.batchSize * d.seqLen);
  const forwardsPerMeasurement = ((L + 1) * drop.probeBatches) / ((d.n_layer + 1) * 4);
  return (
    DEEP_COSTS.start_s +
    DEEP_COSTS.fullStep_s * scale * kept +
    DEEP_COSTS.eval_s * scale * (cfg.evalBatches / 8) * evals +
    DEEP_COSTS.skipLoss_s * scale * forwardsPerMeasurement * measurements
  );
}
