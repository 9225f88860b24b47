/**
 * Checkpoint I/O: the safetensors codec (round trip, byte layout, golden bytes, refusals), the atomic folder
 * writer (a simulated kill at every file-system step), and GPT-2 checkpoint save/load with its validation.
 * CPU only, a few hundred ms. Run: npx vitest run --config test/vitest.config.ts test/io
 */
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AtomicFs,
  MANIFEST_FILE,
  nodeAtomicFs,
  readManifest,
  resolveCheckpointDir,
  writeDirAtomic,
  writeFileAtomic,
} from '../src/io/atomic.js';
import {
  type Checkpoint,
  loadCheckpoint,
  loadModelWeights,
  MODEL_FILE,
  optimizerTensorSpecs,
  saveCheckpoint,
} from '../src/tasks/gpt/checkpoint.js';
import { CheckpointError } from '../src/io/errors.js';
import { type Gpt2Config, gpt2ConfigJson, gpt2TensorSpecs, parseGpt2ConfigJson } from '../src/tasks/gpt/hf-gpt2.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../src/io/safetensors.js';
import { Rng } from '../src/util/rng.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sbld-io-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let dirCounter = 0;
const freshDir = (): string => join(root, `case-${dirCounter++}`, 'ckpt');

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const f32FromBits = (bits: number[]): Float32Array => new Float32Array(new Uint32Array(bits).buffer);

/** Expects `fn` to throw (or reject with) a CheckpointError whose message matches every pattern. */
async function expectRefusal(fn: () => unknown, ...patterns: (string | RegExp)[]): Promise<string> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CheckpointError').toBeInstanceOf(CheckpointError);
  const msg = (err as Error).message;
  for (const p of patterns) expect(msg).toMatch(p);
  return msg;
}

/** Builds a safetensors file from a raw header string and `dataLen` zero bytes (no validation). */
function craft(header: string, dataLen: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe('safetensors codec', () => {
  const sample = (): Record<string, Tensor> => ({
    // NaN payloads (quiet and signalling, both signs), -0, infinities, denormal: bits must survive.
    weird: {
      dtype: 'F32',
      shape: [2, 4],
      data: f32FromBits([0x7fc00001, 0xffa00000, 0x7f800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000]),
    },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([Math.PI]) },
    odd: { dtype: 'F32', shape: [3, 5, 7], data: new Float32Array(105).map((_, i) => i * 0.37 - 11) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    ints: { dtype: 'I32', shape: [5], data: new Int32Array([-2147483648, -1, 0, 1, 2147483647]) },
    uints: { dtype: 'U32', shape: [1, 3], data: new Uint32Array([0, 0xdeadbeef, 0xffffffff]) },
    half: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x7e01, 0x8000]) }, // 1.0, NaN payload, -0
  });

  it('round-trips every dtype bit-exactly, with aligned own buffers', () => {
    const input = sample();
    const out = decodeSafetensors(encodeSafetensors(input, { note: 'hello', format: 'pt' }));
    expect(out.metadata).toEqual({ format: 'pt', note: 'hello' });
    expect(Object.keys(out.tensors).sort()).toEqual(Object.keys(input).sort());
    for (const [name, t] of Object.entries(input)) {
      const r = out.tensors[name]!;
      expect(r.dtype, name).toBe(t.dtype);
      expect(r.shape, name).toEqual(t.shape);
      expect(r.data.constructor, name).toBe(t.data.constructor);
      expect(Buffer.from(bytesOf(r.data)).equals(Buffer.from(bytesOf(t.data))), name).toBe(true);
      expect(r.data.byteOffset, name).toBe(0);
      expect(r.data.buffer.byteLength, name).toBe(r.data.byteLength);
    }
  });

  it('decodes from a Node Buffer at an odd offset and still copies out aligned data', () => {
    const bytes = encodeSafetensors(sample());
    const pool = Buffer.alloc(bytes.length + 3);
    pool.set(bytes, 3);
    const view = pool.subarray(3);
    const out = decodeSafetensors(view);
    const odd = out.tensors.odd!;
    expect(odd.data.byteOffset).toBe(0);
    expect(odd.data.buffer.byteLength).toBe(105 * 4);
    expect(Array.from(odd.data.slice(0, 2))).toEqual(Array.from(new Float32Array([-11, 0.37 - 11])));
  });

  it('matches the golden bytes of the reference implementation', () => {
    // From the unit tests of huggingface/safetensors (Rust): test_serialization, _forced_alignement, test_empty.
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const golden1 = [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58,
      34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116,
      97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ];
    expect(Array.from(encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } }))).toEqual(golden1);
    const golden2 = [
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97,
      116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ];
    expect(Array.from(encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } }))).toEqual(golden2);
    expect(Array.from(encodeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(encodeSafetensors({}, { framework: 'pt' }))).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102,
      114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('lays out the header as the spec says (parsed by hand)', () => {
    const bytes = encodeSafetensors(sample(), { format: 'pt' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    expect(text.trimEnd().length).toBeGreaterThan(n - 8); // padding is at most 7 spaces
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const header = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    // __metadata__ first; then widest dtype first (F32 > U32 > I32 > F16), names sorted within a dtype.
    expect(Object.keys(header)).toEqual(['__metadata__', 'empty', 'odd', 'scalar', 'weird', 'uints', 'ints', 'half']);
    let end = 0;
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      expect(info.data_offsets[0], name).toBe(end);
      end = info.data_offsets[1];
    }
    expect(8 + n + end).toBe(bytes.length);
    // The scalar's 4 bytes sit where its offsets say.
    const s = header.scalar!.data_offsets[0];
    expect(new DataView(bytes.buffer).getFloat32(8 + n + s, true)).toBe(Math.fround(Math.PI));
  });

  it('is deterministic whatever the insertion order, and keeps integer-like and __proto__ names', () => {
    const t = (v: number): Tensor => ({ dtype: 'F32', shape: [1], data: new Float32Array([v]) });
    const a = encodeSafetensors({ b: t(1), '10': t(2), '2': t(3), ['__proto__']: t(4) }, { y: '1', x: '2' });
    const b = encodeSafetensors(Object.fromEntries([['__proto__', t(4)], ['2', t(3)], ['b', t(1)], ['10', t(2)]]), { x: '2', y: '1' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    const text = Buffer.from(a.subarray(8, 8 + n)).toString('utf8');
    expect(text.indexOf('"10":{')).toBeLessThan(text.indexOf('"2":{')); // byte order, not JS integer-key order
    const out = decodeSafetensors(a);
    expect(Object.hasOwn(out.tensors, '__proto__')).toBe(true);
    expect(out.tensors['__proto__']!.data[0]).toBe(4);
  });

  it('refuses to encode data that does not match dtype or shape', async () => {
    await expectRefusal(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } }), 'tensor "w"', '[2,3] has 6 elements but data has 5');
    await expectRefusal(() => encodeSafetensors({ w: { dtype: 'I32', shape: [1], data: new Float32Array(1) } as unknown as Tensor }), 'tensor "w"', 'needs a Int32Array');
    await expectRefusal(() => encodeSafetensors({ w: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } }), 'not a non-negative integer');
  });

  describe('refuses damaged or invalid files, naming the tensor and the fault', () => {
    const good = encodeSafetensors({ a: { dtype: 'F32', shape: [4], data: new Float32Array(4) }, b: { dtype: 'I32', shape: [2], data: new Int32Array(2) } });
    const info = (dtype: string, shape: number[], b: number, e: number): string =>
      JSON.stringify({ dtype, shape, data_offsets: [b, e] });

    it('truncated files', async () => {
      await expectRefusal(() => decodeSafetensors(good.subarray(0, 5)), 'too short', 'truncated');
      await expectRefusal(() => decodeSafetensors(good.subarray(0, 40)), /header length \d+ runs past the end of the 40-byte file/);
      await expectRefusal(() => decodeSafetensors(good.subarray(0, good.length - 3)), 'tensor "b"', 'run past the end of the data', 'truncated');
      await expectRefusal(() => decodeSafetensors(good.subarray(0, good.length - 8)), 'tensor "b"', 'truncated');
    });

    it('a flipped byte in the header', async () => {
      const n = Number(new DataView(good.buffer).getBigUint64(0, true));
      const text = Buffer.from(good.subarray(8, 8 + n)).toString('latin1');
      const colon = good.slice();
      colon[8 + text.indexOf(':')]! ^= 0x01; // ':' -> ';'
      await expectRefusal(() => decodeSafetensors(colon, 'model.safetensors'), /^model\.safetensors: header is not valid JSON/);
      const digit = good.slice();
      digit[8 + text.indexOf('16]') + 1]! ^= 0x01; // a's end offset 16 -> 17
      await expectRefusal(() => decodeSafetensors(digit), 'tensor "a"', 'span 17 bytes but shape [4] of F32 needs 16');
      const utf = good.slice();
      utf[8 + 3]! = 0xff;
      await expectRefusal(() => decodeSafetensors(utf), 'not valid UTF-8');
      const huge = good.slice();
      huge[7] = 0x01; // header length ~ 2^56
      await expectRefusal(() => decodeSafetensors(huge), 'over the 100000000-byte limit');
    });

    it('bad dtypes, shapes and offsets', async () => {
      await expectRefusal(() => decodeSafetensors(craft(`{"x":${info('Q7', [1], 0, 4)}}`, 4)), 'tensor "x"', 'unknown dtype "Q7"');
      await expectRefusal(() => decodeSafetensors(craft(`{"x":${info('BF16', [2], 0, 4)}}`, 4)), 'tensor "x"', 'BF16 is not supported');
      await expectRefusal(() => decodeSafetensors(craft(`{"x":${info('F32', [2.5], 0, 4)}}`, 4)), 'tensor "x"', 'not a non-negative integer');
      await expectRefusal(() => decodeSafetensors(craft(`{"x":{"dtype":"F32","shape":[2,18446744073709551614],"data_offsets":[0,16]}}`, 16)), 'tensor "x"');
      await expectRefusal(() => decodeSafetensors(craft(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4)), 'tensor "x"', 'not a pair');
      await expectRefusal(() => decodeSafetensors(craft(`{"x":${info('F32', [1], 8, 4)}}`, 8)), 'end before they begin');
      await expectRefusal(() => decodeSafetensors(craft(`[1,2]`, 0)), 'does not start with "{"');
      await expectRefusal(() => decodeSafetensors(craft(`{"__metadata__":{"k":1}}`, 0)), '"__metadata__"."k" is 1, not a string');
    });

    it('gaps, overlaps and trailing bytes', async () => {
      await expectRefusal(() => decodeSafetensors(craft(`{"x":${info('F32', [1], 4, 8)}}`, 8)), 'tensor "x"', 'first tensor starts at byte 4');
      await expectRefusal(
        () => decodeSafetensors(craft(`{"x":${info('F32', [1], 0, 4)},"y":${info('F32', [1], 8, 12)}}`, 12)),
        'tensor "y"', 'previous tensor "x" ends at 4', 'gap of 4 bytes',
      );
      await expectRefusal(
        () => decodeSafetensors(craft(`{"x":${info('F32', [2], 0, 8)},"y":${info('F32', [1], 4, 8)}}`, 8)),
        'tensor "y": data_offsets [4, 8] overlap tensor "x" [0, 8]',
      );
      await expectRefusal(() => decodeSafetensors(craft(`{"x":${info('F32', [1], 0, 4)}}`, 9)), '5 unexpected bytes after the last tensor');
    });

    it('accepts what the reference accepts: whitespace padding, zero-size tensors', () => {
      expect(decodeSafetensors(craft('{}\r \t\n', 0)).tensors).toEqual({});
      const z = decodeSafetensors(craft(`{"z":${info('I32', [2, 0], 0, 0)},"w":${info('I32', [], 0, 4)}}`, 4));
      expect(z.tensors.z!.shape).toEqual([2, 0]);
      expect(z.tensors.w!.shape).toEqual([]);
    });
  });
});

describe('GPT-2 layout', () => {
  it('has HF names and Conv1D [in, out] shapes, and GPT-2 small has 124,439,808 parameters', () => {
    const small = { n_layer: 12, n_head: 12, n_embd: 768, vocab_size: 50257, n_positions: 1024 };
    const specs = gpt2TensorSpecs(small);
    expect(specs.length).toBe(2 + 12 * 12 + 2);
    expect(specs.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0)).toBe(124_439_808);
    const byName = new Map(specs.map((s) => [s.name, s.shape]));
    expect(byName.get('transformer.wte.weight')).toEqual([50257, 768]);
    expect(byName.get('transformer.wpe.weight')).toEqual([1024, 768]);
    expect(byName.get('transformer.h.11.attn.c_attn.weight')).toEqual([768, 2304]);
    expect(byName.get('transformer.h.0.mlp.c_proj.weight')).toEqual([3072, 768]);
    expect(specs.at(-1)).toEqual({ name: 'transformer.ln_f.bias', shape: [768], layer: null });
    expect(specs.filter((s) => s.layer === 3).length).toBe(12);
  });

  it('writes a config.json that transformers reads as GPT-2', () => {
    const j = gpt2ConfigJson({ n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 256, n_positions: 16 });
    expect(j).toMatchObject({
      model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_ctx: 16, n_inner: null, activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5, tie_word_embeddings: true, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0,
      bos_token_id: 255, eos_token_id: 255,
    });
  });

  it('reads config.json back, refusing what the model does not implement', async () => {
    const c = { n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 256, n_positions: 16 };
    expect(parseGpt2ConfigJson(gpt2ConfigJson(c))).toMatchObject(c);
    await expectRefusal(
      () => parseGpt2ConfigJson({ ...gpt2ConfigJson(c), activation_function: 'relu', n_inner: 64, model_type: 'llama' }),
      /^config\.json: /, 'model_type is "llama"', 'activation_function is "relu"', 'n_inner is 64',
    );
    await expectRefusal(() => gpt2TensorSpecs({ ...c, n_head: 3 }), 'n_embd 8 is not divisible by n_head 3');
  });
});

describe('atomic writes', () => {
  it('writeFileAtomic replaces a file, and a failed write leaves the old one and no temp file', async () => {
    const dir = freshDir();
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'f.txt');
    await writeFileAtomic(path, 'old');
    const failing: AtomicFs = { ...nodeAtomicFs, rename: async () => { throw new Error('disk gone'); } };
    await expect(writeFileAtomic(path, 'new', { fs: failing })).rejects.toThrow('disk gone');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['f.txt']);
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
  });

  /** Reads a folder's files (manifest aside) as name -> text. */
  async function contents(dir: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const n of (await readdir(dir)).sort()) if (n !== MANIFEST_FILE) out[n] = await readFile(join(dir, n), 'utf8');
    return out;
  }

  /** Counts the steps of a write; with `killAt`, the k-th step (0-based) dies halfway and all later ones fail. */
  function steppedFs(killAt = Infinity): AtomicFs & { steps: number } {
    const fs = {
      steps: 0,
      async step<T>(run: () => Promise<T>, half?: () => Promise<void>): Promise<T> {
        const k = fs.steps++;
        if (k < killAt) return run();
        if (k === killAt && half) await half();
        throw new Error(`killed at step ${k}`);
      },
      writeFile: (p: string, d: Uint8Array) => fs.step(() => nodeAtomicFs.writeFile(p, d), () => nodeAtomicFs.writeFile(p, d.subarray(0, d.length >> 1))),
      rename: (a: string, b: string) => fs.step(() => nodeAtomicFs.rename(a, b)),
      mkdir: (p: string) => fs.step(() => nodeAtomicFs.mkdir(p)),
      rm: (p: string) => fs.step(() => nodeAtomicFs.rm(p)),
      syncDir: (p: string) => fs.step(() => nodeAtomicFs.syncDir(p)),
    };
    return fs;
  }

  it('a kill at any step leaves the old or the new folder, complete, once resolved', async () => {
    const oldFiles = { 'a.bin': 'old-a'.repeat(100), 'b.json': '{"old":true}' };
    const newFiles = { 'a.bin': 'new-a'.repeat(120), 'c.txt': 'only in new' };
    const probe = steppedFs();
    await writeDirAtomic(freshDir(), oldFiles); // first write: no swap
    const dir0 = freshDir();
    await writeDirAtomic(dir0, oldFiles);
    await writeDirAtomic(dir0, newFiles, { fs: probe });
    const total = probe.steps;
    expect(total).toBeGreaterThan(8);

    const seen: string[] = [];
    for (let k = 0; k <= total; k++) {
      const dir = freshDir();
      await writeDirAtomic(dir, oldFiles);
      const fs = steppedFs(k);
      if (k < total) await expect(writeDirAtomic(dir, newFiles, { fs })).rejects.toThrow(`killed at step ${k}`);
      else await writeDirAtomic(dir, newFiles, { fs });
      expect(await resolveCheckpointDir(dir), `kill at ${k}`).toBe(dir);
      const got = await contents(dir);
      await readManifest(dir); // complete and consistent
      const which = JSON.stringify(got) === JSON.stringify(oldFiles) ? 'old' : JSON.stringify(got) === JSON.stringify(newFiles) ? 'new' : 'MIXED';
      seen.push(which);
      expect(which, `kill at step ${k}`).not.toBe('MIXED');
      expect(await readdir(join(dir, '..')), `leftovers after kill at ${k}`).toEqual(['ckpt']);
    }
    expect(seen[0]).toBe('old');
    expect(seen.at(-1)).toBe('new');
    if (process.env.DEBUG) console.log(`kill at steps 0..${total}: ${seen.join(' ')}`);
    expect(seen).toContain('new'); // a kill between the two renames recovers the new folder
    expect(seen.lastIndexOf('old')).toBeLessThan(seen.indexOf('new')); // old ... old, new ... new
  });

  it('a kill during the very first save leaves no checkpoint', async () => {
    const dir = freshDir();
    await expect(writeDirAtomic(dir, { 'a.bin': 'x' }, { fs: steppedFs(4) })).rejects.toThrow('killed');
    expect(await resolveCheckpointDir(dir)).toBeNull();
    await expectRefusal(() => loadCheckpoint(dir), 'no checkpoint folder');
  });

  it('resolve picks the complete folder among stale ones', async () => {
    const deadPid = 2_000_000_000;
    const base = freshDir();
    // Complete new folder left mid-swap (dir missing) next to the old one: the new one wins.
    await writeDirAtomic(`${base}-src-new`, { v: 'new' });
    await writeDirAtomic(`${base}-src-old`, { v: 'old' });
    await nodeAtomicFs.rename(`${base}-src-new`, `${base}.tmp-${deadPid}`);
    await nodeAtomicFs.rename(`${base}-src-old`, `${base}.old-${deadPid}`);
    expect(await resolveCheckpointDir(base)).toBe(base);
    expect(await readFile(join(base, 'v'), 'utf8')).toBe('new');
    expect((await readdir(join(base, '..'))).sort()).toEqual(['ckpt']);

    // An incomplete temp folder (no manifest) and an old one: the old one wins.
    const b2 = freshDir();
    await writeDirAtomic(`${b2}-src-old`, { v: 'old' });
    await nodeAtomicFs.rename(`${b2}-src-old`, `${b2}.old-${deadPid}`);
    await mkdir(`${b2}.tmp-${deadPid}`);
    await writeFile(join(`${b2}.tmp-${deadPid}`, 'v'), 'half-written');
    expect(await resolveCheckpointDir(b2)).toBe(b2);
    expect(await readFile(join(b2, 'v'), 'utf8')).toBe('old');

    // The folder exists: stale leftovers of dead writers are removed, the folder is untouched.
    await mkdir(`${b2}.tmp-${deadPid}`);
    expect(await resolveCheckpointDir(b2)).toBe(b2);
    expect((await readdir(join(b2, '..'))).sort()).toEqual(['ckpt']);
  });
});

describe('checkpoints', () => {
  const cfg: Gpt2Config = { n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 19, n_positions: 7 };

  function randomCheckpoint(c: Gpt2Config, seed: number): Checkpoint {
    const rng = new Rng(seed);
    const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
    const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
    const params = Object.fromEntries(gpt2TensorSpecs(c).map((s) => [s.name, fill(size(s.shape))]));
    const optimizer = Object.fromEntries(optimizerTensorSpecs(c).map((s) => [s.name, fill(size(s.shape))]));
    optimizer['m.transformer.ln_f.bias']!.set(f32FromBits([0x7fc00123, 0x80000000]), 0); // NaN payload, -0
    const trainerState = {
      step: 42, rng: { data: [1, 2, 3, 4], drop: [4294967295, 0, 7, 9] }, loader: { epoch: 1, cursor: 12345 },
      config: { lr: 3e-4, batch: 8, schedule: 'cosine' }, policy: { sensitivity: [0.5, 0.25], frozen: null },
      metrics: [{ step: 40, loss: 2.5 }],
    };
    return { modelConfig: c, params, optimizer, trainerState };
  }

  const sameBits = (a: Record<string, Float32Array>, b: Record<string, Float32Array>): void => {
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) expect(Buffer.from(bytesOf(a[k]!)).equals(Buffer.from(bytesOf(b[k]!))), k).toBe(true);
  };

  it('round-trips bit-exactly', async () => {
    const dir = freshDir();
    const ck = randomCheckpoint(cfg, 1);
    await saveCheckpoint(dir, ck);
    expect((await readdir(dir)).sort()).toEqual(
      ['MANIFEST.json', 'config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json'],
    );
    const back = await loadCheckpoint(dir, { modelConfig: cfg });
    expect(back.modelConfig).toMatchObject(cfg);
    expect(back.trainerState).toEqual(ck.trainerState);
    sameBits(back.params, ck.params);
    sameBits(back.optimizer, ck.optimizer);
    expect(Object.keys(back.params)).toEqual(gpt2TensorSpecs(cfg).map((s) => s.name)); // spec order

    const w = await loadModelWeights(dir);
    sameBits(w.params, ck.params);
    // Saving again over it replaces it whole.
    const ck2 = randomCheckpoint(cfg, 2);
    await saveCheckpoint(dir, ck2);
    sameBits((await loadCheckpoint(dir)).params, ck2.params);
  });

  it('refuses a checkpoint of another shape, listing config and tensor differences', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, randomCheckpoint({ ...cfg, n_embd: 16 }, 3));
    const msg = await expectRefusal(
      () => loadCheckpoint(dir, { modelConfig: cfg }),
      'config.json: n_embd is 16 in the checkpoint, expected 8',
      'transformer.h.0.attn.c_attn.weight: shape [16, 48] in file, model expects [8, 24]',
      /\.\.\. and \d+ more problems$/, // the optimizer's 56 wrong shapes are counted, not listed
    );
    expect(msg).toContain(dir);
  });

  it('lists missing, unexpected and wrong-shaped tensors in one error', async () => {
    const dir = freshDir();
    const ck = randomCheckpoint(cfg, 4);
    const model: Record<string, Tensor> = {};
    for (const s of gpt2TensorSpecs(cfg)) model[s.name] = { dtype: 'F32', shape: s.shape, data: ck.params[s.name]! };
    delete model['transformer.h.1.ln_2.bias'];
    model['transformer.h.0.attn.c_attn.weight'] = { dtype: 'F32', shape: [8, 12], data: new Float32Array(96) };
    model['lm_head.weight'] = { dtype: 'F32', shape: [19, 8], data: new Float32Array(152) };
    await writeDirAtomic(dir, {
      'config.json': JSON.stringify(gpt2ConfigJson(cfg)),
      [MODEL_FILE]: encodeSafetensors(model, { format: 'pt' }),
    });
    await expectRefusal(
      () => loadModelWeights(dir, { modelConfig: cfg }),
      'model.safetensors: transformer.h.0.attn.c_attn.weight: shape [8, 12] in file, model expects [8, 24]',
      'model.safetensors: missing 1 tensors: transformer.h.1.ln_2.bias',
      'model.safetensors: unexpected 1 tensors: lm_head.weight',
    );
  });

  it('detects truncated, corrupted and missing files', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, randomCheckpoint(cfg, 5));
    const model = join(dir, MODEL_FILE);
    const original = await readFile(model);

    await truncate(model, original.length - 100);
    await expectRefusal(() => loadCheckpoint(dir), 'model.safetensors', 'truncated');

    const flipped = Buffer.from(original);
    flipped[20]! ^= 0x04; // inside the header JSON
    await writeFile(model, flipped);
    await expectRefusal(() => loadCheckpoint(dir), 'model.safetensors', 'sha256', 'corrupted');
    // One MANIFEST policy for every reader: without one, weights-only loading refuses too.
    await rm(join(dir, MANIFEST_FILE));
    await expectRefusal(() => loadModelWeights(dir), 'no MANIFEST.json');
    await expectRefusal(() => loadCheckpoint(dir), 'no MANIFEST.json');

    const dir2 = freshDir();
    await saveCheckpoint(dir2, randomCheckpoint(cfg, 6));
    await rm(join(dir2, 'trainer_state.json'));
    await expectRefusal(() => loadCheckpoint(dir2), 'trainer_state.json: listed in MANIFEST.json but missing');

    // A consistent manifest over a file that is not JSON: the parse error names the file.
    const dir3 = freshDir();
    const ck = randomCheckpoint(cfg, 6);
    await saveCheckpoint(dir3, ck);
    const files = Object.fromEntries(
      await Promise.all(['config.json', 'model.safetensors', 'optimizer.safetensors'].map(async (n) => [n, await readFile(join(dir3, n))])),
    );
    await writeDirAtomic(dir3, { ...files, 'trainer_state.json': '{"step": 1,' });
    await expectRefusal(() => loadCheckpoint(dir3), /trainer_state\.json: not valid JSON/);
  });

  it('refuses to save mismatched tensors or non-JSON trainer state, writing nothing', async () => {
    const dir = freshDir();
    const ck = randomCheckpoint(cfg, 7);
    const { ['transformer.wpe.weight']: _wpe, ...noWpe } = ck.params;
    await expectRefusal(() => saveCheckpoint(dir, { ...ck, params: noWpe }), 'params: missing 1 tensors: transformer.wpe.weight');
    await expectRefusal(
      () => saveCheckpoint(dir, { ...ck, params: { ...ck.params, 'transformer.ln_f.bias': new Float32Array(3) } }),
      'transformer.ln_f.bias: 3 values, model expects shape [8] = 8',
    );
    await expectRefusal(() => saveCheckpoint(dir, { ...ck, optimizer: {} }), 'optimizer: missing 56 tensors: m.transformer.wte.weight');
    await expectRefusal(() => saveCheckpoint(dir, { ...ck, trainerState: { metrics: { loss: [1, NaN] } } }), 'trainerState.metrics.loss[1] is NaN');
    await expectRefusal(() => saveCheckpoint(dir, { ...ck, trainerState: { rng: new Uint32Array(4) } }), 'trainerState.rng is a Uint32Array');
    expect(await resolveCheckpointDir(dir)).toBeNull();
  });
});
