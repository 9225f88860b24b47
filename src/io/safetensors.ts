/**
 * The safetensors file format (https://huggingface.co/docs/safetensors), written and read in memory.
 *
 * Layout:
 *   bytes [0, 8)        N, the header length, a little-endian u64
 *   bytes [8, 8 + N)    the header: UTF-8 JSON
 *                         {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
 *                       padded with spaces so that 8 + N is a multiple of 8
 *   bytes [8 + N, ...)  the data: each tensor's elements, little-endian, row-major, at [begin, end) relative to
 *                       the start of the data; tensors cover the data exactly, without gaps or overlaps.
 *
 * Why our own code rather than a package: the only npm package of that name (`safetensors` 0.0.1) is an
 * unmaintained single release, and `@huggingface/hub` only parses headers of remote files. The format is
 * small, so this module implements it and validates like the reference (Rust) implementation does.
 *
 * Output is deterministic and byte-identical to the reference's `serialize`: tensors sorted by dtype
 * (widest first, so every tensor starts aligned to its element size) then by name, `__metadata__` first with
 * sorted keys, compact JSON, space padding. Decoding copies each tensor out of the file buffer, so the returned
 * typed arrays are aligned and own their memory.
 *
 * Supported dtypes: F32, I32, U32, and F16 (carried as raw bits in a Uint16Array; Node 20 has no
 * Float16Array). The host must be little-endian (every platform Node runs training on is).
 */
import { CheckpointError } from './errors.js';

export { CheckpointError };

/** Element types this engine stores. */
export type Dtype = 'F32' | 'I32' | 'U32' | 'F16';

/** The typed array that carries each dtype. F16 is carried as its raw IEEE half bits. */
export interface DtypeArrays {
  F32: Float32Array;
  I32: Int32Array;
  U32: Uint32Array;
  F16: Uint16Array;
}

/** A tensor of one dtype: row-major `data` of `shape` (`[]` is a scalar with one element). */
export interface TensorOf<D extends Dtype> {
  dtype: D;
  shape: number[];
  data: DtypeArrays[D];
}

/** A tensor of any supported dtype (a union discriminated by `dtype`). */
export type Tensor = { [D in Dtype]: TensorOf<D> }[Dtype];

/** What `decodeSafetensors` returns. `metadata` is `{}` when the file has no `__metadata__`. */
export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Per dtype: bytes per element, typed-array constructor, and sort rank (the reference's enum order). */
const DTYPES = {
  F32: { bytes: 4, array: Float32Array, rank: 3 },
  U32: { bytes: 4, array: Uint32Array, rank: 2 },
  I32: { bytes: 4, array: Int32Array, rank: 1 },
  F16: { bytes: 2, array: Uint16Array, rank: 0 },
} as const;

/** Dtypes of the format that this engine does not read; named in the error so it is not called "unknown". */
const OTHER_FORMAT_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'I16', 'U16', 'BF16', 'F64',
  'I64', 'U64', 'C64',
]);

/** The reference implementation refuses headers above this size; so do we. */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

/** Node 20's largest typed array: the whole file is built in one. */
const MAX_FILE_BYTES = 2 ** 32;

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new CheckpointError('safetensors data is little-endian; this big-endian host is not supported');
  }
}

/** Number of elements of `shape`, or an error message when it is not a list of non-negative integers. */
function elementCount(shape: unknown): number | string {
  if (!Array.isArray(shape)) return `shape ${JSON.stringify(shape)} is not an array`;
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) {
      return `shape ${JSON.stringify(shape)} has ${JSON.stringify(d)}, not a non-negative integer`;
    }
    n *= d as number;
    if (!Number.isSafeInteger(n)) return `shape ${JSON.stringify(shape)} has too many elements`;
  }
  return n;
}

/** Compares names by their UTF-8 bytes, as the reference (Rust `String` order) does. */
function compareUtf8(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
const utf8 = new TextEncoder();

/**
 * Serialises tensors (and optional string metadata) to safetensors bytes.
 *
 * Tensors are laid out sorted by dtype width (widest first) then by name, so the same input always gives the
 * same bytes. Cost: one copy of every tensor into the returned buffer.
 *
 * @throws CheckpointError when a tensor's data does not match its dtype or shape, or a name is reserved.
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  assertLittleEndianHost();
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name]!;
    const where = `tensor "${name}"`;
    if (name === METADATA_KEY) throw new CheckpointError(`"${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (!isDtype(t.dtype)) throw new CheckpointError(`${where}: unsupported dtype ${JSON.stringify(t.dtype)}`);
    const spec = DTYPES[t.dtype];
    if (!(t.data instanceof spec.array)) {
      throw new CheckpointError(`${where}: dtype ${t.dtype} needs a ${spec.array.name}, got ${describe(t.data)}`);
    }
    const n = elementCount(t.shape);
    if (typeof n === 'string') throw new CheckpointError(`${where}: ${n}`);
    if (n !== t.data.length) {
      throw new CheckpointError(
        `${where}: shape ${JSON.stringify(t.shape)} has ${n} elements but data has ${t.data.length}`,
      );
    }
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError(`metadata "${k}": value must be a string, got ${typeof v}`);
    }
  }

  names.sort((a, b) => DTYPES[tensors[b]!.dtype].rank - DTYPES[tensors[a]!.dtype].rank || compareUtf8(a, b));

  // The header is assembled by hand: a JS object would enumerate integer-like names ("0", "1") first.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',');
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${body}}`);
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const begin = offset;
    offset += t.data.byteLength;
    const info = `{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},"data_offsets":[${begin},${offset}]}`;
    parts.push(`${JSON.stringify(name)}:${info}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);

  const total = 8 + headerLen + offset;
  if (total > MAX_FILE_BYTES) {
    throw new CheckpointError(`${total} bytes is over the ${MAX_FILE_BYTES}-byte limit of one typed array: split the tensors`);
  }
  const out = new Uint8Array(total);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // spaces
  let pos = 8 + headerLen;
  for (const name of names) {
    const d = tensors[name]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  return (v as object).constructor?.name ?? 'object';
}

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and validates safetensors bytes.
 *
 * Checks, each failing with a `CheckpointError` that names the tensor: the header length fits the file; the
 * header is UTF-8 JSON of the expected form; every dtype is supported; every shape is a list of non-negative
 * integers; every `data_offsets` pair is ordered and spans exactly shape x dtype bytes; tensors cover the data
 * section without gaps or overlaps; the file is neither truncated nor followed by stray bytes.
 * Cost: one copy of the data (each tensor is copied into its own aligned buffer).
 *
 * @param bytes  the whole file.
 * @param source a file name to start error messages with.
 */
export function decodeSafetensors(bytes: Uint8Array, source?: string): SafetensorsContents {
  assertLittleEndianHost();
  const fail: (msg: string) => never = (msg) => {
    throw new CheckpointError(msg, source);
  };

  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short to hold the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} is over the ${MAX_HEADER_BYTES}-byte limit (corrupted?)`);
  const headerLen = Number(n64);
  if (8 + headerLen > bytes.length) {
    fail(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  }

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail('header is not valid UTF-8 (corrupted?)');
  }
  if (!text.startsWith('{')) fail(`header does not start with "{" (got ${JSON.stringify(text.slice(0, 16))})`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (corrupted?): ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');

  const metadata: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`"${METADATA_KEY}" is not an object`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"${METADATA_KEY}"."${k}" is ${JSON.stringify(v)}, not a string`);
        metadata.push([k, v as string]);
      }
      continue;
    }
    entries.push(parseEntry(name, info, fail));
  }

  // Layout: sorted by offsets, the tensors must tile [0, dataLen) exactly.
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || compareUtf8(a.name, b.name));
  let covered = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin > covered) {
      fail(
        prev === undefined
          ? `tensor "${e.name}": first tensor starts at byte ${e.begin}, not 0 (gap of ${e.begin} bytes)`
          : `tensor "${e.name}": starts at byte ${e.begin} but the previous tensor "${prev.name}" ends at ` +
              `${covered} (gap of ${e.begin - covered} bytes)`,
      );
    }
    if (e.begin < covered) {
      fail(
        `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev!.name}" ` +
          `[${prev!.begin}, ${prev!.end}]`,
      );
    }
    if (e.end > dataLen) {
      fail(
        `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] run past the end of the data ` +
          `(${dataLen} bytes after the header): file truncated`,
      );
    }
    covered = e.end;
    prev = e;
  }
  if (covered < dataLen) {
    fail(`${dataLen - covered} unexpected bytes after the last tensor (tensors cover ${covered} of ${dataLen} data bytes)`);
  }

  const tensors = entries.map((e): [string, Tensor] => {
    // Uint8Array's slice() copies into a fresh ArrayBuffer, so the typed array is aligned whatever the file
    // offset was. Called through the prototype: a Node Buffer's own slice() returns a view, not a copy.
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + e.begin, dataStart + e.end).buffer;
    const data = new DTYPES[e.dtype].array(raw);
    return [e.name, { dtype: e.dtype, shape: e.shape, data } as Tensor];
  });
  // Object.fromEntries defines own properties, so even a tensor named "__proto__" comes back as data.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

/** Validates one header entry on its own (dtype, shape, offsets, size); layout is checked by the caller. */
function parseEntry(name: string, info: unknown, fail: (msg: string) => never): Entry {
  const where = `tensor "${name}"`;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (!isDtype(dtype)) {
    if (typeof dtype === 'string' && OTHER_FORMAT_DTYPES.has(dtype)) fail(`${where}: dtype ${dtype} is not supported here`);
    fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  }
  const count = elementCount(shape);
  if (typeof count === 'string') fail(`${where}: ${count}`);
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  const need = (count as number) * DTYPES[dtype as Dtype].bytes;
  if (end - begin !== need) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ` +
        `${JSON.stringify(shape)} of ${dtype} needs ${need}`,
    );
  }
  return { name, dtype: dtype as Dtype, shape: shape as number[], begin, end };
}
