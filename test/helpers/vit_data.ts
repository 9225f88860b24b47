/** Synthetic image data for the ViT tests: IDX bytes, random image sets, learnable class patterns, dataset folders. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Rng } from '../../src/util/rng.js';
import { IDX_FILES, type ImageSet, type VisionData } from '../../src/tasks/vit/data.js';

/** An IDX file of unsigned bytes with the given dimensions. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 0x08, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Uint8Array.from(data), 4 + 4 * dims.length);
  return out;
}

/** N random side x side images whose first pixel is their index mod 256 (so batches can be traced back), labels i % 10. */
export function randomSet(N: number, seed: number, side = 28): ImageSet {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: N * side * side }, () => rng.int(256));
  for (let i = 0; i < N; i++) images[i * side * side] = i % 256;
  return { N, H: side, W: side, images, labels: Uint8Array.from({ length: N }, (_, i) => i % 10) };
}

/**
 * N 28x28 images a small model learns to classify in a few dozen steps: class c tiles a fixed random 7x7 binary
 * template of its own over the image (every 7x7 patch shows it), plus noise; labels seeded. Each patch token
 * alone carries the class, which suits the ViT's mean pooling.
 */
export function patternSet(N: number, seed: number): ImageSet {
  const templates = Array.from({ length: 10 }, (_, c) => {
    const r = new Rng(1000 + c);
    return Array.from({ length: 49 }, () => r.int(2));
  });
  const rng = new Rng(seed);
  const images = new Uint8Array(N * 784);
  const labels = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    const c = rng.int(10);
    labels[i] = c;
    for (let p = 0; p < 784; p++) {
      const [y, x] = [Math.floor(p / 28), p % 28];
      images[i * 784 + p] = templates[c]![(y % 7) * 7 + (x % 7)]! * 170 + rng.int(86);
    }
  }
  return { N, H: 28, W: 28, images, labels };
}

/** Writes the four files of a set pair into `dir` (per file gzipped or plain). */
export function writeDataset(dir: string, train: ImageSet, test: ImageSet, gz = [true, false, true, false]): void {
  mkdirSync(dir, { recursive: true });
  const files: [string, Uint8Array][] = [
    [IDX_FILES.trainImages, idxBytes([train.N, train.H, train.W], train.images)],
    [IDX_FILES.trainLabels, idxBytes([train.N], train.labels)],
    [IDX_FILES.testImages, idxBytes([test.N, test.H, test.W], test.images)],
    [IDX_FILES.testLabels, idxBytes([test.N], test.labels)],
  ];
  files.forEach(([name, bytes], i) => writeFileSync(join(dir, gz[i] ? `${name}.gz` : name), gz[i] ? gzipSync(bytes) : bytes));
}

/** A VisionData in memory (no files). */
export function visionData(train: ImageSet, test: ImageSet): VisionData {
  return { dir: '(memory)', train, test, description: `synthetic: ${train.N} training and ${test.N} test images` };
}
