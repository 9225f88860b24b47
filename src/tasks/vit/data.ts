/**
 * Fashion-MNIST for the ViT: IDX files (optionally gzipped) read and validated, a seeded train / validation split
 * of the training set, and batches of normalised, optionally augmented images already cut into patches (im2col on
 * the host, so the patch embedding on the GPU is a plain matmul).
 *
 * Where the files come from: Debian's `dataset-fashion-mnist` package installs them under
 * /usr/share/datasets/fashion-mnist/ (`node src/setup/bootstrap.mjs --vision` installs it on Debian/Ubuntu);
 * `--data DIR` reads the same four files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 * `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each plain or `.gz`) from anywhere else. The original MNIST
 * files have the same names and format and load too.
 *
 * IDX format (http://yann.lecun.com/exdb/mnist/): bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte,
 * the only one these files use), byte 3 the number of dimensions n, then n big-endian u32 sizes, then the
 * elements row-major. Every header field and the data length are checked; errors name the file and say what was
 * expected.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../../io/data-errors.js';
import { hashUniform, Rng, type RngState } from '../../util/rng.js';

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The four files, without the optional `.gz`. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Label names, by label id. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Mean and standard deviation of Fashion-MNIST's training pixels scaled to [0, 1]; inputs are (x - mean) / std. */
export const PIXEL_MEAN = 0.286;
export const PIXEL_STD = 0.353;

/** The validation split's share of the training set (5000 of Fashion-MNIST's 60000). */
export const VAL_FRACTION = 1 / 12;

const IDX_TYPES: Record<number, string> = { 0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

/** A parsed IDX array: its dimensions and its unsigned-byte elements, row-major. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * Parses an (already decompressed) IDX file of unsigned bytes. Throws a DataError naming `source` for a short or
 * wrong magic number, another element type, zero dimensions, a truncated header, or data shorter or longer than
 * the dimensions say.
 */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  if (bytes.length < 4) throw new DataError(`${source}: ${bytes.length} bytes, too short for an IDX file (a 4-byte magic number comes first)`);
  const magic = Array.from(bytes.subarray(0, 4), hex).join(' ');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`${source}: not an IDX file: magic number ${magic}, expected 0x00 0x00 0x08 <dimensions>`);
  }
  const type = bytes[2]!;
  if (type !== 0x08) {
    const name = IDX_TYPES[type] ? ` (${IDX_TYPES[type]})` : ' (not an IDX type)';
    throw new DataError(`${source}: IDX element type ${hex(type)}${name} is not supported; image and label files hold unsigned bytes (0x08)`);
  }
  const ndims = bytes[3]!;
  if (ndims === 0) throw new DataError(`${source}: IDX header declares 0 dimensions`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataError(`${source}: truncated: the IDX header declares ${ndims} dimensions (${headerBytes} header bytes), the file has ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const got = bytes.length - headerBytes;
  if (got < expected) {
    throw new DataError(
      `${source}: truncated: the header says [${dims.join(', ')}] = ${expected} bytes of data, the file has ${got}. Download or install the file again.`,
    );
  }
  if (got > expected) {
    throw new DataError(`${source}: ${got - expected} bytes after the [${dims.join(', ')}] array the header declares (corrupt, or not an IDX file)`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Decompresses gzip data (recognised by its 0x1f 0x8b magic); other bytes are returned as they are. */
export function gunzipIfGzip(bytes: Uint8Array, source: string): Uint8Array {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return new Uint8Array(gunzipSync(bytes));
  } catch (err) {
    throw new DataError(`${source}: cannot decompress it (${(err as Error).message}); the gzip file is truncated or corrupt. Download or install it again.`);
  }
}

/** Reads, decompresses (if gzipped) and parses one IDX file. */
export function readIdxFile(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DataError(`${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseIdx(gunzipIfGzip(bytes, path), path);
}

/** Grey-scale images with labels: image i is `images[i*H*W .. (i+1)*H*W)`, row-major. */
export interface ImageSet {
  N: number;
  H: number;
  W: number;
  images: Uint8Array; // (N, H, W)
  labels: Uint8Array; // (N)
}

/** Pairs an image array (N, H, W) with a label array (N); checks the counts agree and labels are below `nClasses`. */
export function imageSetFromIdx(images: IdxArray, labels: IdxArray, sources: { images: string; labels: string }, nClasses = FASHION_MNIST_CLASSES.length): ImageSet {
  if (images.dims.length !== 3) {
    throw new DataError(`${sources.images}: expected an image array (N, rows, columns), found ${images.dims.length} dimensions [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw new DataError(`${sources.labels}: expected a label array (N), found ${labels.dims.length} dimensions [${labels.dims.join(', ')}]`);
  }
  const [N, H, W] = images.dims as [number, number, number];
  if (labels.dims[0] !== N) {
    throw new DataError(`${sources.labels} holds ${labels.dims[0]} labels but ${sources.images} holds ${N} images; the files do not belong together`);
  }
  if (N === 0 || H === 0 || W === 0) throw new DataError(`${sources.images}: empty image array [${images.dims.join(', ')}]`);
  for (let i = 0; i < N; i++) {
    if (labels.data[i]! >= nClasses) throw new DataError(`${sources.labels}: label ${labels.data[i]} at index ${i} is not a class id below ${nClasses}`);
  }
  return { N, H, W, images: images.data, labels: labels.data };
}

/** `dir/name` or `dir/name.gz`, whichever exists (plain first), or null. */
export function findIdxFile(dir: string, name: string): string | null {
  for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) if (existsSync(candidate)) return candidate;
  return null;
}

/** The four IDX files of `dir` that are missing (plain or gzipped). */
export function missingIdxFiles(dir: string): string[] {
  return Object.values(IDX_FILES).filter((name) => findIdxFile(dir, name) === null);
}

/** The training and test sets, where they came from, and one line for logs. */
export interface VisionData {
  dir: string;
  train: ImageSet;
  test: ImageSet;
  description: string;
}

/** How to get the data, for error messages. */
export const VISION_DATA_HELP =
  'Install Fashion-MNIST with `node src/setup/bootstrap.mjs --vision` (on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`), ' +
  `or pass --data DIR with ${Object.values(IDX_FILES).join(', ')} (each plain or .gz; from https://github.com/zalandoresearch/fashion-mnist)`;

/**
 * Loads the training and test sets from `dir` (default: Debian's install location). Throws a DataError listing
 * the missing files and how to get them, or naming the file that is corrupt.
 * Cost: reads and decompresses ~30 MB (Fashion-MNIST) once; about half a second.
 */
export function loadFashionMnist(dir?: string): VisionData {
  const explicit = dir !== undefined;
  const root = resolve(dir ?? FASHION_MNIST_DIR);
  const missing = missingIdxFiles(root);
  if (missing.length > 0) {
    const where = explicit ? `--data ${dir}` : `Fashion-MNIST is not installed: ${root}`;
    throw new DataError(`${where}: missing ${missing.join(', ')} (plain or .gz). ${VISION_DATA_HELP}.`);
  }
  const load = (images: string, labels: string): ImageSet => {
    const paths = { images: findIdxFile(root, images)!, labels: findIdxFile(root, labels)! };
    return imageSetFromIdx(readIdxFile(paths.images), readIdxFile(paths.labels), paths);
  };
  const train = load(IDX_FILES.trainImages, IDX_FILES.trainLabels);
  const test = load(IDX_FILES.testImages, IDX_FILES.testLabels);
  if (train.H !== test.H || train.W !== test.W) {
    throw new DataError(`${root}: training images are ${train.H}x${train.W} but test images are ${test.H}x${test.W}`);
  }
  return { dir: root, train, test, description: `${root}: ${train.N} training and ${test.N} test images of ${train.H}x${train.W}` };
}

/** The images at `indices` (in that order) as a new set. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const px = set.H * set.W;
  const images = new Uint8Array(indices.length * px);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    images.set(set.images.subarray(j * px, (j + 1) * px), i * px);
    labels[i] = set.labels[j]!;
  }
  return { N: indices.length, H: set.H, W: set.W, images, labels };
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * Splits the training set into train and validation by a seeded permutation: a `VAL_FRACTION` share (at least
 * one image) goes to validation. Each part keeps the original order of its images.
 */
export function splitTrainVal(set: ImageSet, seed: number): { train: ImageSet; val: ImageSet } {
  if (set.N < 2) throw new DataError(`the training set has ${set.N} image(s); at least 2 are needed to split off validation images`);
  const nVal = Math.min(set.N - 1, Math.max(1, Math.round(set.N * VAL_FRACTION)));
  const perm = permutation(set.N, new Rng(seed ^ 0x5a17));
  const val = perm.slice(0, nVal).sort();
  const train = perm.slice(nVal).sort();
  return { train: subset(set, train), val: subset(set, val) };
}

/** How an H x W image is cut into P x P patches: a gh x gw grid of T tokens of K = P*P pixels each. */
export interface PatchGeometry {
  H: number;
  W: number;
  P: number;
  gh: number;
  gw: number;
  /** Tokens per image. */
  T: number;
  /** Pixels per patch (one channel). */
  K: number;
}

export function patchGeometry(H: number, W: number, P: number): PatchGeometry {
  if (!Number.isInteger(P) || P < 1 || H % P !== 0 || W % P !== 0) {
    throw new DataError(`patch size ${P} does not tile ${H}x${W} images; use a divisor of both (for 28x28: 1, 2, 4, 7, 14 or 28)`);
  }
  const gh = H / P;
  const gw = W / P;
  return { H, W, P, gh, gw, T: gh * gw, K: P * P };
}

/** Data augmentation of training images: a random shift by up to `crop` pixels (zero padding), a random left-right flip. */
export interface Augment {
  /** Padding of the random crop in pixels (0: none). */
  crop: number;
  flip: boolean;
}

export const NO_AUGMENT: Augment = { crop: 0, flip: false };
/** The augmentation `--augment` turns on: random crop with 2 pixels of padding, and horizontal flips. */
export const DEFAULT_AUGMENT: Augment = { crop: 2, flip: true };

/** One batch on the host: B images as patches, and their labels (-1 marks a padding row, ignored by the loss). */
export interface ImageBatch {
  /** (B, T, K) normalised pixels: patch t = py * gw + px, pixel k = dy * P + dx. */
  patches: Float32Array;
  /** (B) class ids, -1 for padding rows. */
  labels: Int32Array;
}

/**
 * Writes image `index` of `set` as row `b` of `out` (B, T, K), normalised. With `aug` and `rng`, first flips it
 * left-right with probability 1/2 and shifts it by (sy, sx) uniform in [-crop, crop]^2, filling with black (0),
 * i.e. a random crop of the zero-padded image.
 */
export function writePatches(set: ImageSet, index: number, g: PatchGeometry, out: Float32Array, b: number, aug: Augment = NO_AUGMENT, rng?: Rng): void {
  const { H, W, P, gw, T, K } = g;
  let sy = 0;
  let sx = 0;
  let flip = false;
  if (rng && aug.crop > 0) {
    sy = rng.int(2 * aug.crop + 1) - aug.crop;
    sx = rng.int(2 * aug.crop + 1) - aug.crop;
  }
  if (rng && aug.flip) flip = rng.uniform() < 0.5;
  const img = set.images.subarray(index * H * W, (index + 1) * H * W);
  const base = b * T * K;
  const black = -PIXEL_MEAN / PIXEL_STD;
  for (let y = 0; y < H; y++) {
    const ys = y + sy;
    const rowIn = ys >= 0 && ys < H;
    const t0 = Math.floor(y / P) * gw;
    const k0 = (y % P) * P;
    for (let x = 0; x < W; x++) {
      const xf = flip ? W - 1 - x : x;
      const xs = xf + sx;
      const v = rowIn && xs >= 0 && xs < W ? (img[ys * W + xs]! / 255 - PIXEL_MEAN) / PIXEL_STD : black;
      out[base + (t0 + Math.floor(x / P)) * K + k0 + (x % P)] = v;
    }
  }
}

/** A batch of the images at `indices` (padded with label -1 and zero patches up to B rows), not augmented. */
export function batchOf(set: ImageSet, indices: ArrayLike<number>, B: number, g: PatchGeometry): ImageBatch {
  if (indices.length > B) throw new Error(`batchOf: ${indices.length} images for a batch of ${B}`);
  const batch: ImageBatch = { patches: new Float32Array(B * g.T * g.K), labels: new Int32Array(B).fill(-1) };
  for (let b = 0; b < indices.length; b++) {
    writePatches(set, indices[b]!, g, batch.patches, b);
    batch.labels[b] = set.labels[indices[b]!]!;
  }
  return batch;
}

/** Every image of `set` in order, in batches of B (the last one padded). */
export function* orderedBatches(set: ImageSet, B: number, g: PatchGeometry, limit = set.N): Generator<ImageBatch> {
  const n = Math.min(limit, set.N);
  for (let start = 0; start < n; start += B) {
    const idx = Array.from({ length: Math.min(B, n - start) }, (_, i) => start + i);
    yield batchOf(set, idx, B, g);
  }
}

/** Everything needed to continue an `ImageLoader` where it stopped (JSON-serialisable). */
export interface ImageLoaderState {
  epoch: number;
  /** Next position in this epoch's order. */
  position: number;
  /** The augmentation RNG. */
  rng: RngState;
  batchesDrawn: number;
}

/**
 * Seeded training batches: epoch e visits every image once in the order of a permutation drawn from
 * (seed, e); batches run on across epoch boundaries. Augmentation draws from its own RNG, saved in the state,
 * so a resumed run sees exactly the batches an uninterrupted one would.
 */
export class ImageLoader {
  private epoch = 0;
  private position = 0;
  private drawn = 0;
  private order: Int32Array;
  private readonly rng: Rng;

  constructor(
    readonly set: ImageSet,
    readonly B: number,
    readonly geometry: PatchGeometry,
    readonly seed: number,
    readonly augment: Augment = NO_AUGMENT,
  ) {
    if (!Number.isInteger(B) || B < 1) throw new Error(`ImageLoader: B must be a positive integer, got ${B}`);
    if (set.H !== geometry.H || set.W !== geometry.W) throw new Error(`ImageLoader: images are ${set.H}x${set.W}, geometry is for ${geometry.H}x${geometry.W}`);
    this.rng = new Rng(seed ^ 0xa06);
    this.order = this.epochOrder(0);
  }

  private epochOrder(epoch: number): Int32Array {
    return permutation(this.set.N, new Rng(Math.floor(hashUniform(this.seed, 0x1ada, epoch) * 4294967296)));
  }

  get state(): ImageLoaderState {
    return { epoch: this.epoch, position: this.position, rng: this.rng.state, batchesDrawn: this.drawn };
  }

  setState(s: ImageLoaderState): void {
    if (![s.epoch, s.position, s.batchesDrawn].every((v) => Number.isInteger(v) && v >= 0) || s.position > this.set.N) {
      throw new Error(`ImageLoader.setState: bad state ${JSON.stringify(s)}`);
    }
    this.rng.setState(s.rng);
    if (s.epoch !== this.epoch) this.order = this.epochOrder(s.epoch);
    this.epoch = s.epoch;
    this.position = s.position;
    this.drawn = s.batchesDrawn;
  }

  /** The next B training images, augmented. Cost: O(B * H * W). */
  next(): ImageBatch {
    const { B, geometry: g } = this;
    const batch: ImageBatch = { patches: new Float32Array(B * g.T * g.K), labels: new Int32Array(B) };
    for (let b = 0; b < B; b++) {
      if (this.position === this.set.N) {
        this.epoch++;
        this.position = 0;
        this.order = this.epochOrder(this.epoch);
      }
      const i = this.order[this.position++]!;
      writePatches(this.set, i, g, batch.patches, b, this.augment, this.rng);
      batch.labels[b] = this.set.labels[i]!;
    }
    this.drawn++;
    return batch;
  }
}
