/**
 * How many samples a config's training set has, when that is cheap to know without building the
 * dataset: the count in an IDX header (MNIST, Fashion-MNIST), the record count of CIFAR's binary
 * batches (or the fixed size of its pickled batches), the lines of an annotation file, or a
 * bounded walk of a class-folder layout; then `indices`, RepeatDataset, ConcatDataset and
 * KFoldDataset as MMEngine applies them. Anything else is unknown (undefined), never guessed.
 * Results are cached per file (by modification time and size) and per folder (for a short while).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';

type Dict = Record<string, unknown>;

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface DatasetSize {
  size: number;
  /** Where the number comes from, for people (`train-labels-idx1-ubyte.gz`, `meta/train.txt`, `the standard split`). */
  from: string;
}

/** Sizes of the standard training / test splits, used when the files are not there (`download=True` fetches exactly these). */
const STANDARD: Record<string, [number, number]> = {
  MNIST: [60000, 10000],
  FashionMNIST: [60000, 10000],
  CIFAR10: [50000, 10000],
  CIFAR100: [50000, 10000],
};

const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif'];

/** Annotation files up to this size are read to count their lines (ImageNet's train.txt is about 40 MB). */
const MAX_TEXT_BYTES = 64 * 1024 * 1024;
/** OpenMMLab json annotation files up to this size are parsed for the length of `data_list`. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
/** A folder layout is walked up to this many entries; larger ones are unknown. */
const MAX_WALK_ENTRIES = 50_000;
/** How long a folder count is trusted; a folder too large to walk is not tried again for longer. */
const FOLDER_TTL_MS = 120_000;
const TOO_LARGE_TTL_MS = 600_000;

const fileCache = new Map<string, { mtimeMs: number; size: number; count: number | undefined }>();
const folderCache = new Map<string, { at: number; ttl: number; count: number | undefined }>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size > 256) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

/** A count computed from one file, recomputed only when the file changes. */
function countOfFile(file: string, count: (f: string, st: fs.Stats) => number | undefined): number | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  const key = `${count.name}:${file}`;
  const hit = fileCache.get(key);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.count;
  let n: number | undefined;
  try {
    n = count(file, st);
  } catch {
    n = undefined;
  }
  remember(fileCache, key, { mtimeMs: st.mtimeMs, size: st.size, count: n });
  return n;
}

function expandUser(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

function join(root: string, p: string): string {
  if (!root || path.isAbsolute(p)) return p;
  return path.join(root, p);
}

/** The first dimension of an IDX file (gzipped or not): the number of samples. */
function idxCount(file: string): number | undefined {
  let buf: Uint8Array = fs.readFileSync(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  if (buf.length < 8 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08 || buf[3] < 1) return undefined;
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(4, false);
}

/** Non-empty lines of a text file. */
function lineCount(file: string, st: fs.Stats): number | undefined {
  if (st.size > MAX_TEXT_BYTES) return undefined;
  const text = fs.readFileSync(file, 'utf8');
  let n = 0;
  for (const line of text.split('\n')) if (line.trim()) n++;
  return n;
}

/** Lines `id 1` (training) of CUB's train_test_split.txt. */
function cubTrainCount(file: string, st: fs.Stats): number | undefined {
  if (st.size > MAX_TEXT_BYTES) return undefined;
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => /^\s*\S+\s+1\s*$/.test(l)).length;
}

function cubTestCount(file: string, st: fs.Stats): number | undefined {
  if (st.size > MAX_TEXT_BYTES) return undefined;
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => /^\s*\S+\s+0\s*$/.test(l)).length;
}

/** `data_list` length of an OpenMMLab 2.0 json annotation file. */
function jsonDataListCount(file: string, st: fs.Stats): number | undefined {
  if (st.size > MAX_JSON_BYTES) return undefined;
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  return isDict(j) && Array.isArray(j.data_list) ? j.data_list.length : undefined;
}

/** Images in the class sub-folders of `root` (CustomDataset's folder layout), if there are few enough to walk. */
function folderLayoutCount(root: string, extensions: string[]): number | undefined {
  const key = `${root}\0${extensions.join(',')}`;
  const hit = folderCache.get(key);
  if (hit && Date.now() - hit.at < hit.ttl) return hit.count;
  let seen = 0;
  let count = 0;
  let ok = true;
  let tooLarge = false;
  const walk = (dir: string, depth: number): void => {
    if (!ok || depth > 16) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      ok = false;
      return;
    }
    for (const e of entries) {
      if (++seen > MAX_WALK_ENTRIES) {
        ok = false;
        tooLarge = true;
        return;
      }
      const full = path.join(dir, e.name);
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try {
          isDir = fs.statSync(full).isDirectory();
        } catch {
          isDir = false;
        }
      }
      if (isDir) walk(full, depth + 1);
      else if (depth > 0 && extensions.some((x) => e.name.toLowerCase().endsWith(x))) count++;
    }
  };
  walk(root, 0);
  const n = ok && count > 0 ? count : undefined;
  remember(folderCache, key, { at: Date.now(), ttl: tooLarge ? TOO_LARGE_TTL_MS : FOLDER_TTL_MS, count: n });
  return n;
}

function exists(p: string): boolean {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

function typeName(v: Dict): string {
  return typeof v.type === 'string' ? v.type.replace(/^\w+\./, '') : '';
}

/**
 * The number of samples of the dataset config `ds` (a train_dataloader.dataset), with relative
 * paths resolved from `cwd` (where training runs: the workspace folder). Undefined when it cannot
 * be known cheaply.
 */
export function datasetSize(ds: unknown, cwd: string, depth = 0): DatasetSize | undefined {
  if (!isDict(ds) || depth > 8) return undefined;
  const type = typeName(ds);
  if (type === 'RepeatDataset') {
    const inner = datasetSize(ds.dataset, cwd, depth + 1);
    return inner && typeof ds.times === 'number' && Number.isInteger(ds.times) && ds.times > 0 ? { size: inner.size * ds.times, from: `${inner.from} × ${ds.times}` } : undefined;
  }
  if (type === 'ConcatDataset') {
    if (!Array.isArray(ds.datasets) || !ds.datasets.length) return undefined;
    const parts = ds.datasets.map((d) => datasetSize(d, cwd, depth + 1));
    if (parts.some((p) => !p)) return undefined;
    return { size: parts.reduce((a, p) => a + (p as DatasetSize).size, 0), from: parts.map((p) => (p as DatasetSize).from).join(' + ') };
  }
  if (type === 'KFoldDataset') {
    const inner = datasetSize(ds.dataset, cwd, depth + 1);
    const k = ds.num_splits ?? 5;
    const fold = ds.fold ?? 0;
    if (!inner || typeof k !== 'number' || typeof fold !== 'number' || !(fold >= 0 && fold < k)) return undefined;
    const n = inner.size;
    const part = Math.floor((n * (fold + 1)) / k) - Math.floor((n * fold) / k);
    return { size: ds.test_mode === true ? part : n - part, from: `${inner.from}, fold ${fold} of ${k}` };
  }
  const base = leafSize(type, ds, cwd);
  if (!base) return undefined;
  const idx = ds.indices;
  if (idx === undefined || idx === null) return base;
  if (typeof idx === 'number' && Number.isInteger(idx)) return { size: Math.min(Math.abs(idx), base.size), from: `${base.from}, indices=${idx}` };
  if (Array.isArray(idx)) return { size: idx.length, from: `indices (${idx.length})` };
  return undefined;
}

function leafSize(type: string, ds: Dict, cwd: string): DatasetSize | undefined {
  const root = typeof ds.data_root === 'string' ? join(cwd, expandUser(ds.data_root)) : cwd;
  const test = ds.test_mode === true;
  if (type === 'MNIST' || type === 'FashionMNIST') {
    const prefix = typeof ds.data_prefix === 'string' ? expandUser(ds.data_prefix) : '';
    const folder = prefix ? join(root, prefix) : root;
    const stem = `${test ? 't10k' : 'train'}-labels-idx1-ubyte`;
    for (const name of [stem, `${stem}.gz`]) {
      const f = path.join(folder, name);
      if (!exists(f)) continue;
      const n = countOfFile(f, idxCount);
      return n !== undefined && n > 0 ? { size: n, from: name } : undefined;
    }
    return { size: STANDARD[type][test ? 1 : 0], from: `the standard ${type} ${test ? 'test' : 'training'} split` };
  }
  if (type === 'CIFAR10' || type === 'CIFAR100') {
    const prefix = typeof ds.data_prefix === 'string' ? expandUser(ds.data_prefix) : '';
    const folder = prefix ? join(root, prefix) : root;
    const c10 = type === 'CIFAR10';
    const bin = path.join(folder, c10 ? 'cifar-10-batches-bin' : 'cifar-100-binary');
    const py = path.join(folder, c10 ? 'cifar-10-batches-py' : 'cifar-100-python');
    if (!exists(py) && exists(bin)) {
      const files = c10 ? (test ? ['test_batch.bin'] : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`)) : [test ? 'test.bin' : 'train.bin'];
      const rec = (c10 ? 1 : 2) + 3072;
      let n = 0;
      for (const f of files) {
        try {
          const size = fs.statSync(path.join(bin, f)).size;
          if (size % rec !== 0) return undefined;
          n += size / rec;
        } catch {
          return undefined;
        }
      }
      return { size: n, from: path.basename(bin) };
    }
    // The pickled batches are the official ones (10000 images each); reading them to count is not cheap.
    return { size: STANDARD[type][test ? 1 : 0], from: `the standard ${type} ${test ? 'test' : 'training'} split` };
  }
  if (type === 'CUB') {
    const f = join(root, typeof ds.train_test_split_file === 'string' ? ds.train_test_split_file : 'train_test_split.txt');
    const n = countOfFile(f, test ? cubTestCount : cubTrainCount);
    return n !== undefined && n > 0 ? { size: n, from: path.basename(f) } : undefined;
  }
  if (type === 'VOC') {
    if (typeof ds.image_set_path !== 'string') return undefined;
    const f = join(root, ds.image_set_path);
    const n = countOfFile(f, lineCount);
    return n !== undefined && n > 0 ? { size: n, from: ds.image_set_path } : undefined;
  }
  if (['CustomDataset', 'ImageNet', 'ImageNet21k', 'BaseDataset', 'MultiLabelDataset'].includes(type)) {
    const ann = typeof ds.ann_file === 'string' ? expandUser(ds.ann_file) : '';
    if (ann) {
      const f = join(root, ann);
      const lower = ann.toLowerCase();
      const n = lower.endsWith('.json') ? countOfFile(f, jsonDataListCount) : ['.yaml', '.yml', '.pkl', '.pickle'].some((x) => lower.endsWith(x)) ? undefined : countOfFile(f, lineCount);
      return n !== undefined && n > 0 ? { size: n, from: ann } : undefined;
    }
    if (type === 'BaseDataset' || type === 'MultiLabelDataset') return undefined;
    const dp = ds.data_prefix;
    const prefix = typeof dp === 'string' ? dp : isDict(dp) && typeof dp.img_path === 'string' ? dp.img_path : '';
    const folder = join(root, expandUser(prefix));
    const ext = Array.isArray(ds.extensions) && ds.extensions.every((x) => typeof x === 'string') ? (ds.extensions as string[]).map((x) => x.toLowerCase()) : IMG_EXTENSIONS;
    const n = folderLayoutCount(folder, ext);
    return n !== undefined ? { size: n, from: `the images under ${prefix || (typeof ds.data_root === 'string' ? ds.data_root : '.')}` } : undefined;
  }
  return undefined;
}
