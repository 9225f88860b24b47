/**
 * The GPT-2 parameter layout and config, in Hugging Face `transformers` terms: the single source of truth for
 * parameter names and shapes, and the `config.json` that lets `GPT2LMHeadModel.from_pretrained(dir)` load a
 * checkpoint folder written by this engine.
 *
 * HF GPT-2 uses Conv1D layers, which store weights as [in, out] (the transpose of nn.Linear). The LM head is
 * tied to `transformer.wte.weight` and is not stored.
 */
import { CheckpointError } from '../../io/errors.js';

/** Model hyper-parameters, named as in HF's GPT2Config. */
export interface Gpt2Config {
  n_layer: number; // L
  n_head: number; // NH
  n_embd: number; // C
  vocab_size: number; // V
  n_positions: number; // maxT
  /** Default `vocab_size - 1`, GPT-2's convention (for a 256-byte vocab that is 0xFF, never in UTF-8). */
  bos_token_id?: number;
  /** Default `vocab_size - 1`. */
  eos_token_id?: number;
  /** Default 1e-5. */
  layer_norm_epsilon?: number;
}

/** One parameter: HF name, shape, and the transformer block it belongs to (null outside the blocks). */
export interface TensorSpec {
  name: string;
  shape: number[];
  layer: number | null;
}

const SIZE_KEYS = ['n_layer', 'n_head', 'n_embd', 'vocab_size', 'n_positions'] as const;

/** Throws unless the five sizes are positive integers and the heads divide the width. */
export function checkGpt2Config(cfg: Gpt2Config, source?: string): void {
  for (const k of SIZE_KEYS) {
    const v = cfg[k];
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new CheckpointError(`${k} must be a positive integer, got ${JSON.stringify(v)}`, source);
    }
  }
  if (cfg.n_embd % cfg.n_head !== 0) {
    throw new CheckpointError(`n_embd ${cfg.n_embd} is not divisible by n_head ${cfg.n_head}`, source);
  }
  for (const k of ['bos_token_id', 'eos_token_id'] as const) {
    const v = cfg[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0 || v >= cfg.vocab_size)) {
      throw new CheckpointError(`${k} ${JSON.stringify(v)} is not a token id below vocab_size ${cfg.vocab_size}`, source);
    }
  }
}

/**
 * Every parameter of a GPT-2 model in order (embeddings, blocks 0..L-1, final layer norm), with HF names and
 * shapes: wte [V, C], wpe [n_positions, C], per block ln_1 [C], attn.c_attn [C, 3C] + [3C],
 * attn.c_proj [C, C] + [C], ln_2 [C], mlp.c_fc [C, 4C] + [4C], mlp.c_proj [4C, C] + [C]; ln_f [C].
 */
export function gpt2TensorSpecs(cfg: Gpt2Config): TensorSpec[] {
  checkGpt2Config(cfg);
  const { n_layer: L, n_embd: C, vocab_size: V, n_positions: P } = cfg;
  const specs: TensorSpec[] = [
    { name: 'transformer.wte.weight', shape: [V, C], layer: null },
    { name: 'transformer.wpe.weight', shape: [P, C], layer: null },
  ];
  for (let l = 0; l < L; l++) {
    const h = `transformer.h.${l}`;
    const block: [string, number[]][] = [
      ['ln_1.weight', [C]],
      ['ln_1.bias', [C]],
      ['attn.c_attn.weight', [C, 3 * C]],
      ['attn.c_attn.bias', [3 * C]],
      ['attn.c_proj.weight', [C, C]],
      ['attn.c_proj.bias', [C]],
      ['ln_2.weight', [C]],
      ['ln_2.bias', [C]],
      ['mlp.c_fc.weight', [C, 4 * C]],
      ['mlp.c_fc.bias', [4 * C]],
      ['mlp.c_proj.weight', [4 * C, C]],
      ['mlp.c_proj.bias', [C]],
    ];
    for (const [name, shape] of block) specs.push({ name: `${h}.${name}`, shape, layer: l });
  }
  specs.push({ name: 'transformer.ln_f.weight', shape: [C], layer: null });
  specs.push({ name: 'transformer.ln_f.bias', shape: [C], layer: null });
  return specs;
}

/** The HF `config.json` object for `cfg` (dropout off: this engine trains without it). */
export function gpt2ConfigJson(cfg: Gpt2Config): Record<string, unknown> {
  checkGpt2Config(cfg);
  const lastId = cfg.vocab_size - 1;
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: cfg.vocab_size,
    n_positions: cfg.n_positions,
    n_ctx: cfg.n_positions,
    n_embd: cfg.n_embd,
    n_layer: cfg.n_layer,
    n_head: cfg.n_head,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    layer_norm_epsilon: cfg.layer_norm_epsilon ?? 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    use_cache: true,
    tie_word_embeddings: true,
    bos_token_id: cfg.bos_token_id ?? lastId,
    eos_token_id: cfg.eos_token_id ?? lastId,
    torch_dtype: 'float32',
  };
}

/**
 * Reads a parsed HF GPT-2 `config.json` back into a `Gpt2Config`, refusing settings this engine's model does
 * not implement (another model type or activation, an untied head, n_inner other than 4C, scaled attention
 * variants).
 */
export function parseGpt2ConfigJson(json: unknown, source = 'config.json'): Gpt2Config {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError('not a JSON object', source);
  }
  const j = json as Record<string, unknown>;
  const problems: string[] = [];
  if (j.model_type !== 'gpt2') problems.push(`model_type is ${JSON.stringify(j.model_type)}, expected "gpt2"`);
  for (const k of SIZE_KEYS) {
    if (!Number.isSafeInteger(j[k])) problems.push(`${k} is ${JSON.stringify(j[k])}, expected an integer`);
  }
  const C = j.n_embd as number;
  const expectDefault = (key: string, ok: (v: unknown) => boolean, want: string): void => {
    if (j[key] !== undefined && !ok(j[key])) {
      problems.push(`${key} is ${JSON.stringify(j[key])}; this engine supports only ${want}`);
    }
  };
  expectDefault('activation_function', (v) => v === 'gelu_new', '"gelu_new"');
  expectDefault('n_inner', (v) => v === null || v === 4 * C, 'null (= 4 * n_embd)');
  expectDefault('tie_word_embeddings', (v) => v === true, 'true');
  expectDefault('scale_attn_weights', (v) => v === true, 'true');
  expectDefault('scale_attn_by_inverse_layer_idx', (v) => v === false, 'false');
  expectDefault('layer_norm_epsilon', (v) => typeof v === 'number' && v > 0, 'a positive number');
  if (problems.length > 0) throw new CheckpointError(problems.join('; '), source);

  const cfg: Gpt2Config = {
    n_layer: j.n_layer as number,
    n_head: j.n_head as number,
    n_embd: C,
    vocab_size: j.vocab_size as number,
    n_positions: j.n_positions as number,
    layer_norm_epsilon: (j.layer_norm_epsilon as number | undefined) ?? 1e-5,
  };
  if (typeof j.bos_token_id === 'number') cfg.bos_token_id = j.bos_token_id;
  if (typeof j.eos_token_id === 'number') cfg.eos_token_id = j.eos_token_id;
  checkGpt2Config(cfg, source);
  return cfg;
}

/** Lines saying where `actual` differs from `expected` in the sizes that fix the parameter shapes. */
export function diffGpt2Config(actual: Gpt2Config, expected: Gpt2Config): string[] {
  return SIZE_KEYS.filter((k) => actual[k] !== expected[k]).map(
    (k) => `${k} is ${actual[k]} in the checkpoint, expected ${expected[k]}`,
  );
}
