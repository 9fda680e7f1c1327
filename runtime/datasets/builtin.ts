import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { DATASETS } from '../registry';
import { MmclsError } from '../errors';
import { BaseDataset, BaseDatasetOptions, DataInfo, MultiLabelDataset, joinPath, listFromFile } from './base_dataset';
import { CIFAR100_CATEGORIES, CIFAR10_CATEGORIES, CUB_CATEGORIES, FASHIONMNIST_CATEGORIES, MNIST_CATEGORIES, VOC2007_CATEGORIES } from './categories';
import { Image } from './image';
import { PickledArray, loadPickle } from './pickle';

function notFound(cls: string, root: string, what: string): MmclsError {
  return new MmclsError(
    `Cannot find ${cls} dataset in ${root || '.'} (${what}). Put the files there or set data_root / data_prefix; ` +
      '`download=True` fetches them when a network is available.',
    { code: 'data.bad-prefix', location: { file: root } },
  );
}

function readAll(file: string): Buffer {
  return fs.readFileSync(file);
}

// ------------------------------------------------------------------ CIFAR

/** Options of CIFAR10 and CIFAR100. */
export interface CIFAR10Options extends Omit<BaseDatasetOptions, 'data_prefix'> {
  /** Folder holding `cifar-10-batches-py` (or `cifar-10-batches-bin`), relative to data_root. @default '' */
  data_prefix?: string;
  /** Use the test batch instead of the training batches. @default False */
  test_mode?: boolean;
  /** Download the dataset if it is not found (needs a network). @default True */
  download?: boolean;
}

/**
 * CIFAR-10 from the python-pickle batches (`cifar-10-batches-py`, read without executing anything)
 * or the binary version (`cifar-10-batches-bin`). Images are 32x32 RGB (as MMClassification keeps them).
 */
@DATASETS.registerModule()
export class CIFAR10 extends BaseDataset {
  static override METAINFO: Record<string, unknown> = { classes: CIFAR10_CATEGORIES };
  protected baseFolder = 'cifar-10-batches-py';
  protected binFolder = 'cifar-10-batches-bin';
  protected trainFiles = ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5'];
  protected testFiles = ['test_batch'];
  protected binTrain = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
  protected binTest = ['test_batch.bin'];
  protected labelKey = 'labels';
  protected binLabelBytes = 1;
  readonly download: boolean;

  constructor(options: CIFAR10Options = {}) {
    super({ ...options, data_prefix: { root: options.data_prefix ?? '' }, lazy_init: true });
    this.download = options.download ?? true;
    if (!(options.lazy_init ?? false)) this.fullInit();
  }

  get root(): string {
    return this.data_prefix.root || this.data_root;
  }

  override loadDataList(): DataInfo[] {
    const root = this.root;
    const py = path.join(root, this.baseFolder);
    const bin = path.join(root, this.binFolder);
    const imgs: Image[] = [];
    const labels: number[] = [];
    if (fs.existsSync(py)) {
      for (const name of this.test_mode ? this.testFiles : this.trainFiles) {
        const file = path.join(py, name);
        if (!fs.existsSync(file)) throw notFound(this.constructor.name, root, `missing ${file}`);
        const entry = loadPickle(readAll(file), file) as Record<string, unknown>;
        const data = entry.data;
        const lab = (entry[this.labelKey] ?? entry.labels ?? entry.fine_labels) as number[] | undefined;
        if (!(data instanceof PickledArray) || data.dtype !== '|u1' || data.shape.length !== 2 || data.shape[1] !== 3072 || !Array.isArray(lab)) {
          throw new MmclsError(`${file} is not a CIFAR batch (expected "data" uint8 N x 3072 and "${this.labelKey}")`, { code: 'data.bad-annotation', location: { file } });
        }
        for (let i = 0; i < data.shape[0]; i++) imgs.push(chwToHwc(data.bytes.subarray(i * 3072, (i + 1) * 3072)));
        labels.push(...lab);
      }
      if (!this.CLASSES) this.loadMeta(py);
    } else if (fs.existsSync(bin)) {
      const rec = this.binLabelBytes + 3072;
      for (const name of this.test_mode ? this.binTest : this.binTrain) {
        const file = path.join(bin, name);
        if (!fs.existsSync(file)) throw notFound(this.constructor.name, root, `missing ${file}`);
        const buf = readAll(file);
        if (buf.length % rec !== 0) throw new MmclsError(`${file}: ${buf.length} bytes is not a whole number of ${rec}-byte CIFAR records (truncated?)`, { code: 'data.bad-annotation', location: { file } });
        for (let o = 0; o < buf.length; o += rec) {
          labels.push(buf[o + this.binLabelBytes - 1]);
          imgs.push(chwToHwc(buf.subarray(o + this.binLabelBytes, o + rec)));
        }
      }
    } else {
      throw notFound(this.constructor.name, root, `no ${this.baseFolder} or ${this.binFolder} folder`);
    }
    return imgs.map((img, i) => ({ img, img_shape: [32, 32], ori_shape: [32, 32], gt_label: labels[i] }));
  }

  private loadMeta(folder: string): void {
    const file = path.join(folder, this.constructor.name === 'CIFAR100' ? 'meta' : 'batches.meta');
    if (!fs.existsSync(file)) return;
    const meta = loadPickle(readAll(file), file) as Record<string, unknown>;
    const names = meta[this.constructor.name === 'CIFAR100' ? 'fine_label_names' : 'label_names'];
    if (Array.isArray(names)) this._metainfo.classes = names.map(String);
  }
}

function chwToHwc(src: Uint8Array): Image {
  const out = new Uint8Array(3072);
  for (let c = 0; c < 3; c++) for (let i = 0; i < 1024; i++) out[i * 3 + c] = src[c * 1024 + i];
  return { data: out, height: 32, width: 32, channels: 3 };
}

/** Options of CIFAR100. */
export interface CIFAR100Options extends CIFAR10Options {}

/** CIFAR-100 (fine labels) from `cifar-100-python` or `cifar-100-binary`. */
@DATASETS.registerModule()
export class CIFAR100 extends CIFAR10 {
  static override METAINFO: Record<string, unknown> = { classes: CIFAR100_CATEGORIES };
  constructor(options: CIFAR100Options = {}) {
    super({ ...options, lazy_init: true });
    this.baseFolder = 'cifar-100-python';
    this.binFolder = 'cifar-100-binary';
    this.trainFiles = ['train'];
    this.testFiles = ['test'];
    this.binTrain = ['train.bin'];
    this.binTest = ['test.bin'];
    this.labelKey = 'fine_labels';
    this.binLabelBytes = 2;
    if (!(options.lazy_init ?? false)) this.fullInit();
  }
}

// ------------------------------------------------------------------ MNIST

/** Options of MNIST and FashionMNIST. */
export interface MNISTOptions extends Omit<BaseDatasetOptions, 'data_prefix'> {
  /** Folder holding the IDX files (gzipped or not), relative to data_root. @default '' */
  data_prefix?: string;
  /** Use the t10k files instead of the training files. @default False */
  test_mode?: boolean;
  /** Download the dataset if it is not found (needs a network). @default True */
  download?: boolean;
}

/** Reads an IDX file (gzipped or not): returns its dims and data bytes. */
export function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  let buf: Uint8Array = readAll(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new MmclsError(`${file} is a damaged gzip file: ${(e as Error).message}`, { code: 'data.bad-annotation', location: { file }, cause: e });
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) {
    throw new MmclsError(`${file} is not an unsigned-byte IDX file`, { code: 'data.bad-annotation', location: { file } });
  }
  const nd = buf[3];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => dv.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, b) => a * b, 1);
  const off = 4 + 4 * nd;
  if (buf.length < off + n) throw new MmclsError(`${file} is truncated: ${buf.length - off} of ${n} data bytes`, { code: 'data.bad-annotation', location: { file } });
  return { dims, data: buf.subarray(off, off + n) };
}

/** MNIST handwritten digits from the IDX files (28x28, one channel). */
@DATASETS.registerModule()
export class MNIST extends BaseDataset {
  static override METAINFO: Record<string, unknown> = { classes: MNIST_CATEGORIES };
  readonly download: boolean;

  constructor(options: MNISTOptions = {}) {
    super({ ...options, data_prefix: { root: options.data_prefix ?? '' }, lazy_init: true });
    this.download = options.download ?? true;
    if (!(options.lazy_init ?? false)) this.fullInit();
  }

  get root(): string {
    return this.data_prefix.root || this.data_root;
  }

  private find(stem: string): string {
    for (const name of [stem, `${stem}.gz`]) {
      const f = path.join(this.root, name);
      if (fs.existsSync(f)) return f;
    }
    throw notFound(this.constructor.name, this.root, `missing ${stem}[.gz]`);
  }

  override loadDataList(): DataInfo[] {
    const split = this.test_mode ? 't10k' : 'train';
    const imgFile = this.find(`${split}-images-idx3-ubyte`);
    const labFile = this.find(`${split}-labels-idx1-ubyte`);
    const imgs = readIdx(imgFile);
    const labs = readIdx(labFile);
    if (imgs.dims.length !== 3 || labs.dims.length !== 1 || imgs.dims[0] !== labs.dims[0]) {
      throw new MmclsError(`${imgFile} (${imgs.dims.join('x')}) and ${labFile} (${labs.dims.join('x')}) do not match`, { code: 'data.bad-annotation', location: { file: imgFile } });
    }
    const [n, h, w] = imgs.dims;
    const out: DataInfo[] = [];
    for (let i = 0; i < n; i++) {
      out.push({ img: { data: imgs.data.subarray(i * h * w, (i + 1) * h * w), height: h, width: w, channels: 1 } as Image, img_shape: [h, w], ori_shape: [h, w], gt_label: labs.data[i] });
    }
    return out;
  }
}

/** Options of FashionMNIST. */
export interface FashionMNISTOptions extends MNISTOptions {}

/** Fashion-MNIST (Zalando's clothing images, MNIST's format). */
@DATASETS.registerModule()
export class FashionMNIST extends MNIST {
  static override METAINFO: Record<string, unknown> = { classes: FASHIONMNIST_CATEGORIES };
  constructor(options: FashionMNISTOptions = {}) {
    super(options);
  }
}

// ------------------------------------------------------------------ VOC

/** Options of VOC. */
export interface VOCOptions extends Omit<BaseDatasetOptions, 'data_prefix'> {
  /** Root of the VOC devkit year folder (e.g. data/VOCdevkit/VOC2007). */
  data_root: string;
  /** File of image ids (e.g. ImageSets/Main/trainval.txt), relative to data_root. */
  image_set_path: string;
  /** Image and annotation folders. @default dict(img_path='JPEGImages', ann_path='Annotations') */
  data_prefix?: string | Record<string, string>;
  /** Test mode (annotations optional). @default False */
  test_mode?: boolean;
}

/** Pascal VOC as a multi-label dataset: labels of every object; `difficult` ones go to `gt_label_difficult`. */
@DATASETS.registerModule()
export class VOC extends MultiLabelDataset {
  static override METAINFO: Record<string, unknown> = { classes: VOC2007_CATEGORIES };
  readonly image_set_path: string;

  constructor(options: VOCOptions) {
    const prefix = options.data_prefix ?? { img_path: 'JPEGImages', ann_path: 'Annotations' };
    const dp = typeof prefix === 'string' ? { img_path: prefix } : prefix;
    if (!dp || typeof dp.img_path !== 'string') throw new MmclsError('VOC: `data_prefix` must be a dict with key img_path', { code: 'data.bad-arg' });
    if (!(options.test_mode ?? false) && !dp.ann_path) throw new MmclsError('VOC: "ann_path" must be set in `data_prefix` if `test_mode` is False.', { code: 'data.bad-arg' });
    if (typeof options.data_root !== 'string' || typeof options.image_set_path !== 'string') throw new MmclsError('VOC: data_root and image_set_path are required', { code: 'data.bad-arg' });
    super({ ...options, ann_file: '', data_prefix: dp, lazy_init: true });
    this.image_set_path = joinPath(options.data_root, options.image_set_path);
    if (!(options.lazy_init ?? false)) this.fullInit();
  }

  get ann_prefix(): string | undefined {
    return this.data_prefix.ann_path;
  }

  override loadDataList(): DataInfo[] {
    const ids = listFromFile(this.image_set_path, 'image set file').map((s) => s.trim()).filter((s) => s);
    const c2i = this.class_to_idx;
    return ids.map((id) => {
      const info: DataInfo = { img_path: path.join(this.img_prefix, `${id}.jpg`), gt_label: null, gt_label_difficult: null };
      if (this.ann_prefix) {
        const xmlFile = path.join(this.ann_prefix, `${id}.xml`);
        let xml: string;
        try {
          xml = fs.readFileSync(xmlFile, 'utf8');
        } catch (e) {
          throw new MmclsError(`cannot read the VOC annotation ${xmlFile}`, { code: 'data.missing-file', location: { file: xmlFile }, cause: e });
        }
        const labels = new Set<number>();
        const difficult = new Set<number>();
        for (const m of xml.matchAll(/<object>([\s\S]*?)<\/object>/g)) {
          const name = /<name>\s*([^<]*?)\s*<\/name>/.exec(m[1])?.[1];
          if (name === undefined || !(name in c2i)) continue;
          const diff = Number(/<difficult>\s*(\d+)\s*<\/difficult>/.exec(m[1])?.[1] ?? '0');
          (diff ? difficult : labels).add(c2i[name]);
        }
        info.gt_label = [...labels];
        info.gt_label_difficult = [...difficult];
      }
      return info;
    });
  }
}

// ------------------------------------------------------------------ CUB

/** Options of CUB. */
export interface CUBOptions extends Omit<BaseDatasetOptions, 'data_prefix'> {
  /** Root of CUB_200_2011. */
  data_root: string;
  /** Test split (train_test_split 0) instead of the training split (1). */
  test_mode: boolean;
  /** `id path` list of the images. @default 'images.txt' */
  ann_file?: string;
  /** Images folder. @default 'images' */
  data_prefix?: string;
  /** `id label` list (labels from 1). @default 'image_class_labels.txt' */
  image_class_labels_file?: string;
  /** `id is_training` list. @default 'train_test_split.txt' */
  train_test_split_file?: string;
}

/** Caltech-UCSD Birds-200-2011 (5994 training and 5794 test images, 200 classes). */
@DATASETS.registerModule()
export class CUB extends BaseDataset {
  static override METAINFO: Record<string, unknown> = { classes: CUB_CATEGORIES };
  readonly image_class_labels_file: string;
  readonly train_test_split_file: string;

  constructor(options: CUBOptions) {
    if (typeof options?.data_root !== 'string') throw new MmclsError('CUB: data_root is required', { code: 'data.bad-arg' });
    super({ ...options, ann_file: options.ann_file ?? 'images.txt', data_prefix: options.data_prefix ?? 'images', lazy_init: true });
    this.image_class_labels_file = joinPath(options.data_root, options.image_class_labels_file ?? 'image_class_labels.txt');
    this.train_test_split_file = joinPath(options.data_root, options.train_test_split_file ?? 'train_test_split.txt');
    if (!(options.lazy_init ?? false)) this.fullInit();
  }

  private readPairs(file: string): Map<number, string> {
    const out = new Map<number, string>();
    listFromFile(file, 'CUB list').forEach((line, i) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length < 2) {
        if (line.trim()) throw new MmclsError(`line ${i + 1} of ${file} should be "id value"`, { code: 'data.bad-annotation', location: { file, line: i + 1 } });
        return;
      }
      out.set(Number(parts[0]) - 1, parts.slice(1).join(' '));
    });
    return out;
  }

  override loadDataList(): DataInfo[] {
    const samples = this.readPairs(this.ann_file);
    const labels = this.readPairs(this.image_class_labels_file);
    const split = this.readPairs(this.train_test_split_file);
    const same = (a: Map<number, string>, b: Map<number, string>) => a.size === b.size && [...a.keys()].every((k) => b.has(k));
    if (!same(samples, labels) || !same(samples, split)) {
      throw new MmclsError(`sample_ids should be same in files ${this.ann_file}, ${this.image_class_labels_file} and ${this.train_test_split_file}`, { code: 'data.bad-annotation', location: { file: this.ann_file } });
    }
    const out: DataInfo[] = [];
    for (const [id, rel] of samples) {
      const s = split.get(id);
      if ((s === '1' && this.test_mode) || (s === '0' && !this.test_mode)) continue;
      out.push({ img_path: path.join(this.img_prefix, rel), gt_label: Number(labels.get(id)) - 1 });
    }
    return out;
  }
}
