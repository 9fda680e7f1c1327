/**
 * Writes the small Fashion-MNIST subset bundled in `data/fashion-mnist-mini/`
 * from the full data set, deterministically (same input, same bytes out).
 *
 *   npx tsx scripts/make-fashion-mnist-mini.ts [--src DIR] [--out DIR] [--train N] [--test N]
 *
 * The subset is class-balanced: N / 10 images per class, the first ones of each
 * class in the original file order, kept in that order. Files are written in
 * the original format (gzipped IDX), with the same names, so a data set reader
 * treats the subset exactly like the full data.
 */
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync, gzipSync } from 'fflate';

const NUM_CLASSES = 10;

interface IdxFile {
  /** Header bytes (magic number and dimensions). */
  dims: number[];
  /** Element type code from the magic number (0x08 = unsigned byte). */
  typeCode: number;
  data: Uint8Array;
}

function readIdx(file: string): IdxFile {
  const raw = gunzipSync(new Uint8Array(fs.readFileSync(file)));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint16(0) !== 0) throw new Error(`${file}: not an IDX file (bad magic number)`);
  const typeCode = view.getUint8(2);
  if (typeCode !== 0x08) throw new Error(`${file}: expected unsigned bytes, found type 0x${typeCode.toString(16)}`);
  const ndim = view.getUint8(3);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i));
  const offset = 4 + 4 * ndim;
  const count = dims.reduce((a, b) => a * b, 1);
  if (raw.length !== offset + count) throw new Error(`${file}: size ${raw.length} does not match its header`);
  return { dims, typeCode, data: raw.subarray(offset) };
}

function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  view.setUint16(0, 0);
  view.setUint8(2, 0x08);
  view.setUint8(3, dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  // mtime 0 and a fixed level keep the output byte-for-byte reproducible.
  return gzipSync(out, { level: 9, mtime: 0 });
}

/** Indices of the first `perClass` samples of each class, in file order. */
export function balancedIndices(labels: Uint8Array, perClass: number): number[] {
  const taken = new Array<number>(NUM_CLASSES).fill(0);
  const picked: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (taken[c] < perClass) {
      taken[c]++;
      picked.push(i);
    }
  }
  const short = taken.findIndex((t) => t < perClass);
  if (short >= 0) throw new Error(`class ${short} has only ${taken[short]} samples, ${perClass} requested`);
  return picked;
}

function subset(srcDir: string, outDir: string, split: 'train' | 't10k', count: number): void {
  if (count % NUM_CLASSES !== 0) throw new Error(`--${split === 'train' ? 'train' : 'test'} must be a multiple of ${NUM_CLASSES}`);
  const images = readIdx(path.join(srcDir, `${split}-images-idx3-ubyte.gz`));
  const labels = readIdx(path.join(srcDir, `${split}-labels-idx1-ubyte.gz`));
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${split}: ${n} images but ${labels.dims[0]} labels`);
  const idx = balancedIndices(labels.data, count / NUM_CLASSES);
  const pixels = h * w;
  const outImages = new Uint8Array(idx.length * pixels);
  const outLabels = new Uint8Array(idx.length);
  idx.forEach((src, dst) => {
    outImages.set(images.data.subarray(src * pixels, (src + 1) * pixels), dst * pixels);
    outLabels[dst] = labels.data[src];
  });
  fs.writeFileSync(path.join(outDir, `${split}-images-idx3-ubyte.gz`), encodeIdx([idx.length, h, w], outImages));
  fs.writeFileSync(path.join(outDir, `${split}-labels-idx1-ubyte.gz`), encodeIdx([idx.length], outLabels));
  console.log(`${split}: ${idx.length} of ${n} images (${count / NUM_CLASSES} per class)`);
}

function main(argv: string[]): void {
  const opts: Record<string, string> = {
    src: path.join('..', 'shared', 'data', 'fashion-mnist'),
    out: path.join('data', 'fashion-mnist-mini'),
    train: '2000',
    test: '500',
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(src|out|train|test)$/.exec(argv[i]);
    if (!m || i + 1 >= argv.length) {
      throw new Error(`unknown or incomplete argument '${argv[i]}'; usage: [--src DIR] [--out DIR] [--train N] [--test N]`);
    }
    opts[m[1]] = argv[++i];
  }
  fs.mkdirSync(opts.out, { recursive: true });
  subset(opts.src, opts.out, 'train', Number(opts.train));
  subset(opts.src, opts.out, 't10k', Number(opts.test));
  const copyright = path.join(opts.src, 'COPYRIGHT');
  if (fs.existsSync(copyright)) {
    // Read and write rather than copy, so the copy does not inherit a read-only mode.
    fs.writeFileSync(path.join(opts.out, 'COPYRIGHT'), fs.readFileSync(copyright));
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`make-fashion-mnist-mini: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
