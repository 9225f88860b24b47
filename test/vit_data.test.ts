/**
 * The ViT's data: IDX parsing (good files, plain and gzipped, and every kind of corrupt file, each refused with a
 * message naming the file), loading a folder (missing files listed with how to get them), the real Fashion-MNIST
 * headers when the package is installed, the seeded train / validation split, im2col against the float64
 * reference's loops, augmentation (every augmented image is one of the 50 shifted / flipped originals), and the
 * epoch loader (covers every image once per epoch; a saved state resumes the exact same batches).
 * Run: npx vitest run --config test/vitest.config.ts test/vit_data.test.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/io/data-errors.js';
import { Rng } from '../src/util/rng.js';
import {
  batchOf,
  DEFAULT_AUGMENT,
  FASHION_MNIST_DIR,
  IDX_FILES,
  ImageLoader,
  loadFashionMnist,
  missingIdxFiles,
  parseIdx,
  patchGeometry,
  PIXEL_MEAN,
  PIXEL_STD,
  readIdxFile,
  splitTrainVal,
  VAL_FRACTION,
  writePatches,
  type ImageSet,
} from '../src/tasks/vit/data.js';
import { idxBytes, randomSet as makeSet, writeDataset } from './helpers/vit_data.js';
import { patchifyRef } from './reference/vit.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vit-data-test-'));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

const normalised = (pixel: number) => Math.fround((pixel / 255 - PIXEL_MEAN) / PIXEL_STD);

describe('IDX parsing', () => {
  it('reads dimensions and data of good files, plain and gzipped', () => {
    const labels = idxBytes([5], [3, 1, 4, 1, 5]);
    expect(parseIdx(labels, 'labels')).toEqual({ dims: [5], data: Uint8Array.from([3, 1, 4, 1, 5]) });
    const images = idxBytes([2, 3, 4], Array.from({ length: 24 }, (_, i) => i * 10));
    const p = join(root, 'images.gz');
    writeFileSync(p, gzipSync(images));
    const got = readIdxFile(p);
    expect(got.dims).toEqual([2, 3, 4]);
    expect(Array.from(got.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 10));
    writeFileSync(join(root, 'plain'), images);
    expect(readIdxFile(join(root, 'plain')).dims).toEqual([2, 3, 4]);
  });

  it('refuses corrupt files with a message naming the file and the problem', () => {
    const good = idxBytes([2, 3, 4], new Uint8Array(24));
    const cases: [string, Uint8Array, RegExp][] = [
      ['short', good.subarray(0, 3), /short: 3 bytes, too short for an IDX file/],
      ['magic', Uint8Array.from([1, 0, 8, 3, ...good.subarray(4)]), /magic: not an IDX file: magic number 0x01 0x00 0x08 0x03, expected 0x00 0x00 0x08/],
      ['float', Uint8Array.from([0, 0, 0x0d, 3, ...good.subarray(4)]), /float: IDX element type 0x0d \(float32\) is not supported/],
      ['nodims', Uint8Array.from([0, 0, 8, 0]), /nodims: IDX header declares 0 dimensions/],
      ['header', good.subarray(0, 10), /header: truncated: the IDX header declares 3 dimensions \(16 header bytes\), the file has 10 bytes/],
      ['data', good.subarray(0, good.length - 5), /data: truncated: the header says \[2, 3, 4\] = 24 bytes of data, the file has 19/],
      ['trailing', Uint8Array.from([...good, 7, 7]), /trailing: 2 bytes after the \[2, 3, 4\] array/],
    ];
    for (const [name, bytes, msg] of cases) {
      expect(() => parseIdx(bytes, name), name).toThrow(DataError);
      expect(() => parseIdx(bytes, name), name).toThrow(msg);
    }
    const gz = gzipSync(good);
    const cut = join(root, 'cut.gz');
    writeFileSync(cut, gz.subarray(0, gz.length - 10));
    expect(() => readIdxFile(cut)).toThrow(/cut\.gz: cannot decompress it .*truncated or corrupt/);
    expect(() => readIdxFile(join(root, 'nope'))).toThrow(/nope: cannot read it \(ENOENT\)/);
  });

  it('loads a folder (mixed .gz and plain) and refuses files that do not belong together', () => {
    const dir = join(root, 'good');
    writeDataset(dir, makeSet(30, 1), makeSet(12, 2));
    const d = loadFashionMnist(dir);
    expect([d.train.N, d.train.H, d.train.W, d.test.N]).toEqual([30, 28, 28, 12]);
    expect(d.train.labels[13]).toBe(3);
    expect(d.description).toMatch(/30 training and 12 test images of 28x28/);

    const mismatch = join(root, 'mismatch');
    writeDataset(mismatch, makeSet(30, 1), makeSet(12, 2));
    writeFileSync(join(mismatch, IDX_FILES.trainLabels), idxBytes([29], new Uint8Array(29)));
    expect(() => loadFashionMnist(mismatch)).toThrow(/train-labels-idx1-ubyte holds 29 labels but .*train-images-idx3-ubyte.gz holds 30 images/);

    const badLabel = join(root, 'badlabel');
    writeDataset(badLabel, makeSet(30, 1), makeSet(12, 2));
    writeFileSync(join(badLabel, IDX_FILES.testLabels), idxBytes([12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0]));
    expect(() => loadFashionMnist(badLabel)).toThrow(/t10k-labels-idx1-ubyte: label 10 at index 10 is not a class id below 10/);

    const flat = join(root, 'flat');
    writeDataset(flat, makeSet(30, 1), makeSet(12, 2));
    writeFileSync(join(flat, `${IDX_FILES.testImages}.gz`), gzipSync(idxBytes([12, 784], new Uint8Array(12 * 784))));
    expect(() => loadFashionMnist(flat)).toThrow(/expected an image array \(N, rows, columns\), found 2 dimensions \[12, 784\]/);

    const sizes = join(root, 'sizes');
    writeDataset(sizes, makeSet(30, 1), makeSet(12, 2, 14));
    expect(() => loadFashionMnist(sizes)).toThrow(/training images are 28x28 but test images are 14x14/);
  });

  it('lists missing files and how to get them', () => {
    const dir = join(root, 'partial');
    writeDataset(dir, makeSet(30, 1), makeSet(12, 2));
    rmSync(join(dir, `${IDX_FILES.trainImages}.gz`));
    rmSync(join(dir, IDX_FILES.testLabels));
    expect(missingIdxFiles(dir)).toEqual([IDX_FILES.trainImages, IDX_FILES.testLabels]);
    expect(() => loadFashionMnist(dir)).toThrow(/--data .*partial: missing train-images-idx3-ubyte, t10k-labels-idx1-ubyte \(plain or \.gz\)\. Install Fashion-MNIST with `node src\/setup\/bootstrap.mjs --vision`/);
  });

  it.skipIf(missingIdxFiles(FASHION_MNIST_DIR).length > 0)('the installed Fashion-MNIST: 60000 + 10000 images of 28x28, 6000 per class', () => {
    const d = loadFashionMnist();
    expect([d.train.N, d.train.H, d.train.W, d.test.N, d.test.H, d.test.W]).toEqual([60000, 28, 28, 10000, 28, 28]);
    const counts = new Array(10).fill(0);
    for (const l of d.train.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(6000));
    // The normalisation constants are the training pixels' statistics.
    let s = 0;
    let s2 = 0;
    for (const p of d.train.images) {
      s += p / 255;
      s2 += (p / 255) ** 2;
    }
    const mean = s / d.train.images.length;
    expect(Math.abs(mean - PIXEL_MEAN)).toBeLessThan(1e-3);
    expect(Math.abs(Math.sqrt(s2 / d.train.images.length - mean * mean) - PIXEL_STD)).toBeLessThan(1e-3);
  });
});

describe('split, patches, augmentation, loader', () => {
  it('the split is seeded, disjoint and complete, VAL_FRACTION of the images', () => {
    const set = makeSet(120, 3);
    const a = splitTrainVal(set, 7);
    expect(a.val.N).toBe(Math.round(120 * VAL_FRACTION));
    expect(a.train.N + a.val.N).toBe(120);
    const ids = (s: ImageSet) => Array.from({ length: s.N }, (_, i) => s.images[i * 784]!);
    expect([...ids(a.train), ...ids(a.val)].sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(ids(splitTrainVal(set, 7).val)).toEqual(ids(a.val));
    expect(ids(splitTrainVal(set, 8).val)).not.toEqual(ids(a.val));
    // Labels travel with their images.
    ids(a.val).forEach((id, i) => expect(a.val.labels[i]).toBe(id % 10));
  });

  it('patches are the reference im2col of the normalised images, for every patch size', () => {
    const set = makeSet(3, 4);
    for (const P of [1, 4, 7, 14, 28]) {
      const g = patchGeometry(28, 28, P);
      const batch = batchOf(set, [2, 0], 3, g);
      const ref = patchifyRef(Float64Array.from(set.images.subarray(2 * 784, 3 * 784), normalised), 1, 28, P);
      expect(Array.from(batch.patches.subarray(0, g.T * g.K)), `P=${P}`).toEqual(Array.from(ref));
      expect(Array.from(batch.labels)).toEqual([2, 0, -1]); // a padding row
      expect(batch.patches.subarray(2 * g.T * g.K).every((v) => v === 0)).toBe(true);
    }
    expect(() => patchGeometry(28, 28, 5)).toThrow(/patch size 5 does not tile 28x28 images/);
  });

  it('an augmented image is its original flipped or not and shifted by at most 2 pixels, black-filled', () => {
    const set = makeSet(60, 5);
    const g = patchGeometry(28, 28, 7);
    const rng = new Rng(11);
    const seen = { flips: 0, shifts: new Set<string>() };
    for (let i = 0; i < set.N; i++) {
      const out = new Float32Array(g.T * g.K);
      writePatches(set, i, g, out, 0, DEFAULT_AUGMENT, rng);
      const img = set.images.subarray(i * 784, (i + 1) * 784);
      let match: string | null = null;
      for (const flip of [false, true])
        for (let sy = -2; sy <= 2 && !match; sy++)
          for (let sx = -2; sx <= 2 && !match; sx++) {
            const shifted = Float64Array.from({ length: 784 }, (_, p) => {
              const [y, x] = [Math.floor(p / 28), p % 28];
              const [ys, xs] = [y + sy, (flip ? 27 - x : x) + sx];
              return ys >= 0 && ys < 28 && xs >= 0 && xs < 28 ? normalised(img[ys * 28 + xs]!) : normalised(0);
            });
            const ref = patchifyRef(shifted, 1, 28, 7);
            if (ref.every((v, j) => v === out[j])) match = `${flip} ${sy} ${sx}`;
          }
      expect(match, `image ${i}`).not.toBeNull();
      if (match!.startsWith('true')) seen.flips++;
      seen.shifts.add(match!.split(' ').slice(1).join(' '));
    }
    expect(seen.flips).toBeGreaterThan(15);
    expect(seen.flips).toBeLessThan(45);
    expect(seen.shifts.size).toBeGreaterThan(15);
  });

  it('the loader visits every image once per epoch, reshuffles, and resumes exactly from a saved state', () => {
    const set = makeSet(48, 6);
    const g = patchGeometry(28, 28, 7);
    const id = (patches: Float32Array, b: number) => Math.round((patches[b * g.T * g.K]! * PIXEL_STD + PIXEL_MEAN) * 255) | 0;
    const loader = new ImageLoader(set, 16, g, 3);
    const epoch = (l: ImageLoader) => [0, 1, 2].flatMap(() => {
      const batch = l.next();
      return Array.from({ length: 16 }, (_, b) => {
        expect(batch.labels[b]).toBe(id(batch.patches, b) % 10);
        return id(batch.patches, b);
      });
    });
    const e0 = epoch(loader);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, i) => i));
    const e1 = epoch(loader);
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, i) => i));
    expect(e1).not.toEqual(e0);
    // Mid-epoch, with augmentation: a restored loader continues bit for bit.
    const aug = new ImageLoader(set, 10, g, 4, DEFAULT_AUGMENT);
    for (let i = 0; i < 7; i++) aug.next();
    const state = JSON.parse(JSON.stringify(aug.state));
    const want = [aug.next(), aug.next(), aug.next()];
    const again = new ImageLoader(set, 10, g, 4, DEFAULT_AUGMENT);
    again.setState(state);
    expect([again.next(), again.next(), again.next()]).toEqual(want);
    expect(again.state.batchesDrawn).toBe(10);
  });
});
