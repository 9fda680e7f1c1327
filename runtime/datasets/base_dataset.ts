import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MmclsError } from '../errors';
import { Compose, Results, RNG_KEY, TransformLike } from './transforms/base';
import { Rng, sampleRng } from './rng';
import { loadStructuredFile } from './annotation';

/** A loaded sample description before the pipeline runs (`img_path`, `gt_label`, or `img` for in-memory data). */
export type DataInfo = Record<string, unknown>;

/** Where the sample's random numbers come from (the loader passes this; by hand, (0, 0, index)). */
export interface SampleContext {
  seed?: number;
  epoch?: number;
  /** Position of the sample in the sampler's stream (defaults to the index). */
  position?: number;
  rng?: Rng;
}

/** Anything the loader can draw samples from. */
export interface IndexedDataset {
  readonly length: number;
  getItem(index: number, ctx?: SampleContext): Promise<Results>;
  readonly metainfo: Record<string, unknown>;
}

export function expandUser(p: string): string {
  return p.startsWith('~') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** `mmengine.fileio.join_path` / os.path.join, leaving absolute paths alone. */
export function joinPath(root: string, p: string): string {
  if (!root || path.isAbsolute(p)) return p;
  return path.join(root, p);
}

/** `mmengine.list_from_file`: the lines of a text file, without line breaks. */
export function listFromFile(file: string, what = 'file'): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MmclsError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      code: 'data.missing-file',
      location: { file },
      cause: e,
    });
  }
  const lines = text.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Options of BaseDataset. */
export interface BaseDatasetOptions {
  /** Annotation file path, relative to data_root unless absolute. @default '' */
  ann_file?: string;
  /** Meta information of the dataset, such as class names; a dict or a path to a file with one. @default None */
  metainfo?: Record<string, unknown> | string | null;
  /** Root directory that relative ann_file and data_prefix paths are joined to. @default '' */
  data_root?: string;
  /** Prefix of the image paths: a directory, or a dict like dict(img_path='...'). @default '' */
  data_prefix?: string | Record<string, string>;
  /** Filter of the annotations (accepted; MMCls datasets do not filter). @default None */
  filter_cfg?: Record<string, unknown> | null;
  /** Use only these samples: an int N for the first N (negative for the last), or a list of indices. @default None */
  indices?: number | number[] | null;
  /** Keep the sample list serialised (accepted for compatibility; memory is shared with worker threads anyway). @default True */
  serialize_data?: boolean;
  /** The data transforms applied to every sample, as config dicts. @default () */
  pipeline?: TransformLike[];
  /** Test mode: no refetching of failed samples, test split for built-in datasets. @default False */
  test_mode?: boolean;
  /** Do not load annotations when constructed; they load on first use. @default False */
  lazy_init?: boolean;
  /** How many other samples to try when the pipeline returns None for one (training only). @default 1000 */
  max_refetch?: number;
  /** Class names: a list, a path to a file with one class per line, or None for the dataset's own. @default None */
  classes?: string[] | string | null;
}

/**
 * The base of all datasets (mmcls.datasets.BaseDataset on mmengine's BaseDataset): loads a list of
 * samples, runs the pipeline on one when asked, retries with another sample when the pipeline
 * drops one in training, keeps the meta information (classes).
 */
export class BaseDataset implements IndexedDataset {
  /** Default meta information of the class (e.g. its class names). */
  static METAINFO: Record<string, unknown> = {};

  readonly ann_file: string;
  readonly data_root: string;
  readonly data_prefix: Record<string, string>;
  readonly test_mode: boolean;
  readonly max_refetch: number;
  readonly pipeline: Compose;
  readonly filter_cfg: Record<string, unknown> | null;
  protected _metainfo: Record<string, unknown>;
  protected dataList: DataInfo[] = [];
  protected fullyInitialized = false;
  private readonly indicesOpt: number | number[] | null;

  constructor(options: BaseDatasetOptions = {}) {
    const o = options ?? {};
    const prefix = o.data_prefix ?? '';
    const dataPrefix: Record<string, string> = typeof prefix === 'string' ? { img_path: expandUser(prefix) } : { ...prefix };
    if (typeof prefix !== 'string' && (prefix === null || typeof prefix !== 'object' || Object.values(prefix).some((v) => typeof v !== 'string' && v !== null))) {
      throw new MmclsError(`data_prefix must be a path or a dict of paths, got ${JSON.stringify(prefix)}`, { code: 'data.bad-arg' });
    }
    this.data_root = expandUser(o.data_root ?? '');
    for (const [k, v] of Object.entries(dataPrefix)) if (typeof v === 'string') dataPrefix[k] = joinPath(this.data_root, v);
    this.data_prefix = dataPrefix;
    const ann = expandUser(o.ann_file ?? '');
    this.ann_file = ann ? joinPath(this.data_root, ann) : '';
    this.test_mode = o.test_mode ?? false;
    this.max_refetch = o.max_refetch ?? 1000;
    this.filter_cfg = o.filter_cfg ?? null;
    this.indicesOpt = o.indices ?? null;
    this._metainfo = this.loadMetainfo(o.metainfo ?? null, o.classes ?? null);
    this.pipeline = new Compose({ transforms: (o.pipeline ?? []) as TransformLike[] });
    if (!(o.lazy_init ?? false)) this.fullInit();
  }

  private loadMetainfo(metainfo: Record<string, unknown> | string | null, classes: string[] | string | null): Record<string, unknown> {
    const base = { ...((this.constructor as typeof BaseDataset).METAINFO ?? {}) };
    let given: Record<string, unknown> = {};
    if (typeof metainfo === 'string') {
      const loaded = loadStructuredFile(joinPath(this.data_root, metainfo));
      if (loaded === null || typeof loaded !== 'object' || Array.isArray(loaded)) throw new MmclsError(`metainfo file ${metainfo} does not hold a dict`, { code: 'data.bad-metainfo' });
      given = loaded as Record<string, unknown>;
    } else if (metainfo) {
      given = { ...metainfo };
    }
    if (typeof classes === 'string') {
      const file = joinPath(this.data_root, expandUser(classes));
      given = { classes: listFromFile(file, 'classes file').map((s) => s.trim()).filter((s) => s), ...given };
    } else if (Array.isArray(classes)) {
      given = { classes: [...classes], ...given };
    } else if (classes !== null && classes !== undefined) {
      throw new MmclsError(`Unsupported type ${typeof classes} of classes: give a list of names or a file path`, { code: 'data.bad-arg' });
    }
    return { ...base, ...given };
  }

  /** Meta information (a copy). */
  get metainfo(): Record<string, unknown> {
    return { ...this._metainfo };
  }

  /** Class names, or undefined when unknown. */
  get CLASSES(): string[] | undefined {
    const c = this._metainfo.classes;
    return Array.isArray(c) ? (c as string[]) : undefined;
  }

  get class_to_idx(): Record<string, number> {
    const out: Record<string, number> = {};
    (this.CLASSES ?? []).forEach((c, i) => (out[c] = i));
    return out;
  }

  get img_prefix(): string {
    return this.data_prefix.img_path ?? '';
  }

  /** Loads the annotations (once). Called by the constructor unless lazy_init. */
  fullInit(): void {
    if (this.fullyInitialized) return;
    this.dataList = this.loadDataList();
    if ('categories' in this._metainfo && !('classes' in this._metainfo)) {
      const cats = [...(this._metainfo.categories as { id: number; category_name: string }[])].sort((a, b) => a.id - b.id);
      this._metainfo.classes = cats.map((c) => c.category_name);
    }
    this.checkLabels();
    if (this.indicesOpt !== null) this.dataList = this.subset(this.dataList, this.indicesOpt);
    this.fullyInitialized = true;
  }

  /** Labels must be integers in [0, number of classes). */
  protected checkLabels(): void {
    const n = this.CLASSES?.length;
    for (let i = 0; i < this.dataList.length; i++) {
      const g = this.dataList[i].gt_label;
      if (g === undefined || g === null) continue;
      const labels = typeof g === 'number' ? [g] : Array.isArray(g) ? (g as number[]) : ArrayBuffer.isView(g) ? Array.from(g as Int32Array) : null;
      if (!labels) continue;
      for (const l of labels) {
        if (!Number.isInteger(l) || l < 0 || (n !== undefined && l >= n)) {
          const where = this.dataList[i].img_path ? ` (${this.dataList[i].img_path})` : '';
          throw new MmclsError(
            `sample ${i}${where} of ${this.ann_file || this.img_prefix || this.constructor.name} has label ${l}, outside [0, ${n ?? 'inf'})` +
              (n !== undefined ? ` for the ${n} classes` : ''),
            { code: 'data.label-out-of-range', location: this.ann_file ? { file: this.ann_file } : {} },
          );
        }
      }
    }
  }

  private subset(list: DataInfo[], indices: number | number[]): DataInfo[] {
    if (typeof indices === 'number') return indices >= 0 ? list.slice(0, indices) : list.slice(indices);
    return indices.map((i) => {
      if (!Number.isInteger(i) || i < -list.length || i >= list.length) throw new MmclsError(`indices: ${i} is out of range for ${list.length} samples`, { code: 'data.bad-arg' });
      return list[i < 0 ? list.length + i : i];
    });
  }

  /**
   * Reads the annotation file in the OpenMMLab 2.0 format (json / yaml / pickle with `metainfo` and
   * `data_list`). Subclasses override this for their own formats.
   */
  loadDataList(): DataInfo[] {
    if (!this.ann_file) throw new MmclsError(`${this.constructor.name}: ann_file is required`, { code: 'data.bad-arg' });
    return this.loadOpenMMLabFormat(this.ann_file);
  }

  protected loadOpenMMLabFormat(file: string): DataInfo[] {
    const ann = loadStructuredFile(file);
    if (ann === null || typeof ann !== 'object' || Array.isArray(ann)) {
      throw new MmclsError(`the annotation file ${file} must hold a dict with "metainfo" and "data_list", got ${Array.isArray(ann) ? 'a list' : typeof ann}`, {
        code: 'data.bad-annotation',
        location: { file },
      });
    }
    const a = ann as Record<string, unknown>;
    if (!('data_list' in a) || !('metainfo' in a)) {
      throw new MmclsError(`the annotation file ${file} must have the keys "metainfo" and "data_list" (OpenMMLab 2.0 format)`, { code: 'data.bad-annotation', location: { file } });
    }
    const meta = a.metainfo as Record<string, unknown>;
    if (meta && typeof meta === 'object') for (const [k, v] of Object.entries(meta)) if (!(k in this._metainfo) || this.isDefaultMeta(k)) this._metainfo[k] = v;
    if (!Array.isArray(a.data_list)) throw new MmclsError(`"data_list" of ${file} must be a list`, { code: 'data.bad-annotation', location: { file } });
    const out: DataInfo[] = [];
    a.data_list.forEach((raw, i) => {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new MmclsError(`data_list[${i}] of ${file} is not a dict`, { code: 'data.bad-annotation', location: { file } });
      const parsed = this.parseDataInfo({ ...(raw as DataInfo) });
      if (Array.isArray(parsed)) out.push(...parsed);
      else out.push(parsed);
    });
    return out;
  }

  /** Whether a meta key still holds the class default (an annotation file may replace it). */
  private isDefaultMeta(key: string): boolean {
    return (this.constructor as typeof BaseDataset).METAINFO?.[key] === this._metainfo[key];
  }

  /** Joins data_prefix into the path keys of a raw sample; `img_label` is read as `gt_label`. */
  parseDataInfo(raw: DataInfo): DataInfo | DataInfo[] {
    for (const [key, prefix] of Object.entries(this.data_prefix)) {
      if (typeof raw[key] === 'string' && prefix) raw[key] = joinPath(prefix, raw[key] as string);
    }
    if (raw.gt_label === undefined && raw.img_label !== undefined) raw.gt_label = raw.img_label;
    return raw;
  }

  get length(): number {
    if (!this.fullyInitialized) this.fullInit();
    return this.dataList.length;
  }

  /** The sample's description (a copy) with `sample_idx`. */
  getDataInfo(index: number): DataInfo {
    if (!this.fullyInitialized) this.fullInit();
    const n = this.dataList.length;
    if (!Number.isInteger(index) || index < -n || index >= n) throw new RangeError(`index ${index} out of range for a dataset of ${n} samples`);
    const i = index < 0 ? n + index : index;
    return { ...this.dataList[i], sample_idx: i };
  }

  /** All ground-truth labels, in order. */
  getGtLabels(): (number | number[])[] {
    return Array.from({ length: this.length }, (_, i) => this.getDataInfo(i).gt_label as number | number[]);
  }

  /** The category ids of a sample (ClassBalancedDataset uses them). */
  getCatIds(index: number): number[] {
    const g = this.getDataInfo(index).gt_label;
    return typeof g === 'number' ? [g] : Array.isArray(g) ? (g as number[]) : [];
  }

  /** Runs the pipeline on sample `index`. */
  async prepareData(index: number, rng: Rng): Promise<Results | null> {
    const info = this.getDataInfo(index);
    info[RNG_KEY] = rng;
    return this.pipeline.call(info);
  }

  /**
   * The processed sample `index`. In training, when the pipeline drops it (returns None) another
   * sample is drawn, up to max_refetch times.
   */
  async getItem(index: number, ctx: SampleContext = {}): Promise<Results> {
    const rng = ctx.rng ?? new Rng(ctx.seed ?? 0, ctx.epoch ?? 0, ctx.position ?? index, index);
    if (this.test_mode) {
      const data = await this.prepareData(index, rng);
      if (data === null) throw new MmclsError(`Test time pipeline should not get \`None\` data_sample (sample ${index}: ${this.getDataInfo(index).img_path ?? ''})`, { code: 'data.dropped-in-test' });
      return stripRng(data);
    }
    let idx = index;
    for (let i = 0; i <= this.max_refetch; i++) {
      const data = await this.prepareData(idx, rng);
      if (data !== null) return stripRng(data);
      idx = rng.randint(0, this.length);
    }
    throw new MmclsError(`Cannot find valid image after ${this.max_refetch} retries! Please check your image path and pipeline`, { code: 'data.refetch-exhausted' });
  }

  toString(): string {
    const lines = [`Dataset ${this.constructor.name}`, `    Number of samples: \t${this.fullyInitialized ? this.dataList.length : 'Haven\'t been initialized'}`];
    if (this.ann_file) lines.push(`    Annotation file: \t${this.ann_file}`);
    if (this.img_prefix) lines.push(`    Prefix of images: \t${this.img_prefix}`);
    const c = this.CLASSES;
    lines.push(c ? `    Number of categories: \t${c.length}` : '    The `CLASSES` meta info is not set.');
    return lines.join('\n');
  }
}

function stripRng(r: Results): Results {
  if (RNG_KEY in r) delete r[RNG_KEY];
  return r;
}

export { sampleRng };

/** Options of MultiLabelDataset. */
export interface MultiLabelDatasetOptions extends BaseDatasetOptions {}

/** A dataset whose samples have several labels each (`gt_label` is a list). */
export class MultiLabelDataset extends BaseDataset {
  constructor(options: MultiLabelDatasetOptions = {}) {
    super(options);
  }
  override getCatIds(index: number): number[] {
    const g = this.getDataInfo(index).gt_label;
    return Array.isArray(g) ? (g as number[]) : typeof g === 'number' ? [g] : [];
  }
}
