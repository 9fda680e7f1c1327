import { DATASETS } from '../registry';
import { MmclsError } from '../errors';
import { BaseDataset, DataInfo, IndexedDataset, SampleContext } from './base_dataset';
import { Results } from './transforms/base';
import { Rng } from './rng';

/** A dataset the wrappers can wrap: anything with samples and, for ClassBalancedDataset, category ids. */
export interface WrappableDataset extends IndexedDataset {
  getDataInfo?(index: number): DataInfo;
  getCatIds?(index: number): number[];
  fullInit?(): void;
}

function buildDataset(d: unknown, who: string): WrappableDataset {
  if (d && typeof d === 'object' && typeof (d as WrappableDataset).getItem === 'function') return d as WrappableDataset;
  if (d && typeof d === 'object' && !Array.isArray(d)) return DATASETS.build<WrappableDataset>(d);
  throw new MmclsError(`${who}: dataset must be a dataset config dict or a dataset, got ${JSON.stringify(d)}`, { code: 'data.bad-arg' });
}

/** Base of the wrappers: maps an outer index to an index of the wrapped dataset. */
abstract class IndexMapWrapper implements WrappableDataset {
  constructor(readonly dataset: WrappableDataset) {}
  protected abstract map(index: number): number;
  abstract get length(): number;
  get metainfo(): Record<string, unknown> {
    return this.dataset.metainfo;
  }
  getItem(index: number, ctx: SampleContext = {}): Promise<Results> {
    return this.dataset.getItem(this.map(index), { ...ctx, position: ctx.position ?? index });
  }
  getDataInfo(index: number): DataInfo {
    if (!this.dataset.getDataInfo) throw new Error('the wrapped dataset has no getDataInfo');
    return this.dataset.getDataInfo(this.map(index));
  }
  getCatIds(index: number): number[] {
    if (!this.dataset.getCatIds) throw new Error('the wrapped dataset has no getCatIds');
    return this.dataset.getCatIds(this.map(index));
  }
  fullInit(): void {
    this.dataset.fullInit?.();
  }
}

/** Options of RepeatDataset. */
export interface RepeatDatasetOptions {
  /** The dataset to repeat: a config dict or a dataset. */
  dataset: Record<string, unknown> | WrappableDataset;
  /** How many times to repeat it. */
  times: number;
  /** Do not load the wrapped dataset's annotations now. @default False */
  lazy_init?: boolean;
}

/** Repeat a dataset `times` times (shortens the epoch overhead of small datasets). */
@DATASETS.registerModule()
export class RepeatDataset extends IndexMapWrapper {
  readonly times: number;
  constructor(options: RepeatDatasetOptions) {
    super(buildDataset(options?.dataset, 'RepeatDataset'));
    if (!Number.isInteger(options.times) || options.times < 1) throw new MmclsError(`RepeatDataset: times must be a positive int, got ${options.times}`, { code: 'data.bad-arg' });
    this.times = options.times;
  }
  get length(): number {
    return this.dataset.length * this.times;
  }
  protected map(index: number): number {
    return index % this.dataset.length;
  }
}

/** Options of ClassBalancedDataset. */
export interface ClassBalancedDatasetOptions {
  /** The dataset to balance: a config dict or a dataset. */
  dataset: Record<string, unknown> | WrappableDataset;
  /** Categories seen in fewer than this fraction of the samples are repeated. */
  oversample_thr: number;
  /** Do not load the wrapped dataset's annotations now. @default False */
  lazy_init?: boolean;
}

/**
 * Repeat samples of rare categories (LVIS's repeat factor sampling): r(c) = max(1, sqrt(thr / f(c)))
 * with f(c) the fraction of samples containing c; a sample repeats ceil(max over its categories) times.
 */
@DATASETS.registerModule()
export class ClassBalancedDataset extends IndexMapWrapper {
  readonly oversample_thr: number;
  readonly repeat_indices: number[];
  constructor(options: ClassBalancedDatasetOptions) {
    super(buildDataset(options?.dataset, 'ClassBalancedDataset'));
    this.oversample_thr = options.oversample_thr;
    if (typeof this.oversample_thr !== 'number') throw new MmclsError('ClassBalancedDataset: oversample_thr is required', { code: 'data.bad-arg' });
    const n = this.dataset.length;
    const cats: number[][] = Array.from({ length: n }, (_, i) => this.dataset.getCatIds!(i));
    const freq = new Map<number, number>();
    for (const cs of cats) for (const c of new Set(cs)) freq.set(c, (freq.get(c) ?? 0) + 1);
    const catRepeat = new Map<number, number>();
    for (const [c, k] of freq) catRepeat.set(c, Math.max(1, Math.sqrt(this.oversample_thr / (k / n))));
    this.repeat_indices = [];
    cats.forEach((cs, i) => {
      const r = Math.max(1, ...[...new Set(cs)].map((c) => catRepeat.get(c) ?? 1));
      for (let k = 0; k < Math.ceil(r); k++) this.repeat_indices.push(i);
    });
  }
  get length(): number {
    return this.repeat_indices.length;
  }
  protected map(index: number): number {
    return this.repeat_indices[index];
  }
}

/** Options of KFoldDataset. */
export interface KFoldDatasetOptions {
  /** The dataset to split: a config dict or a dataset. */
  dataset: Record<string, unknown> | WrappableDataset;
  /** Which fold is the validation fold. @default 0 */
  fold?: number;
  /** Number of folds. @default 5 */
  num_splits?: number;
  /** True: the validation fold; False: the other k - 1 folds. @default False */
  test_mode?: boolean;
  /** Shuffle with this seed before splitting; None keeps the order. @default None */
  seed?: number | null;
}

/** A fold of k-fold cross validation: k - 1 folds for training, one for validation (tools/kfold-cross-valid). */
@DATASETS.registerModule()
export class KFoldDataset extends IndexMapWrapper {
  readonly fold: number;
  readonly num_splits: number;
  readonly test_mode: boolean;
  readonly seed: number | null;
  readonly indices: number[];
  constructor(options: KFoldDatasetOptions) {
    super(buildDataset(options?.dataset, 'KFoldDataset'));
    this.fold = options.fold ?? 0;
    this.num_splits = options.num_splits ?? 5;
    this.test_mode = options.test_mode ?? false;
    this.seed = options.seed ?? null;
    if (!(this.fold >= 0 && this.fold < this.num_splits)) throw new MmclsError(`KFoldDataset: fold ${this.fold} must be in [0, ${this.num_splits})`, { code: 'data.bad-arg' });
    const n = this.dataset.length;
    const all = this.seed === null ? Array.from({ length: n }, (_, i) => i) : new Rng(this.seed, 0x6b666f6c).permutation(n);
    const start = Math.floor((n * this.fold) / this.num_splits);
    const end = Math.floor((n * (this.fold + 1)) / this.num_splits);
    this.indices = this.test_mode ? all.slice(start, end) : [...all.slice(0, start), ...all.slice(end)];
  }
  get length(): number {
    return this.indices.length;
  }
  protected map(index: number): number {
    return this.indices[index];
  }
}

/** Options of ConcatDataset. */
export interface ConcatDatasetOptions {
  /** The datasets to concatenate: config dicts or datasets. */
  datasets: (Record<string, unknown> | WrappableDataset)[];
  /** Do not load the wrapped datasets' annotations now. @default False */
  lazy_init?: boolean;
  /** Meta keys allowed to differ between the datasets. @default None */
  ignore_keys?: string | string[] | null;
}

/** Concatenate datasets; the meta information is the first dataset's (the others must agree, except ignore_keys). */
@DATASETS.registerModule()
export class ConcatDataset implements WrappableDataset {
  readonly datasets: WrappableDataset[];
  private readonly cumulative: number[];
  constructor(options: ConcatDatasetOptions) {
    if (!Array.isArray(options?.datasets) || !options.datasets.length) throw new MmclsError('ConcatDataset: datasets must be a non-empty list', { code: 'data.bad-arg' });
    this.datasets = options.datasets.map((d) => buildDataset(d, 'ConcatDataset'));
    const ignore = new Set(typeof options.ignore_keys === 'string' ? [options.ignore_keys] : options.ignore_keys ?? []);
    const m0 = this.datasets[0].metainfo;
    this.datasets.slice(1).forEach((d, i) => {
      for (const [k, v] of Object.entries(d.metainfo)) {
        if (ignore.has(k)) continue;
        if (k in m0 && JSON.stringify(m0[k]) !== JSON.stringify(v)) {
          throw new MmclsError(`ConcatDataset: the meta information of the ${i + 2}-th dataset does not match the first one's at "${k}" (add it to ignore_keys if that is intended)`, { code: 'data.metainfo-mismatch' });
        }
      }
    });
    this.cumulative = [];
    let s = 0;
    for (const d of this.datasets) this.cumulative.push((s += d.length));
  }
  get metainfo(): Record<string, unknown> {
    return this.datasets[0].metainfo;
  }
  get length(): number {
    return this.cumulative[this.cumulative.length - 1];
  }
  private locate(index: number): [number, number] {
    if (index < 0) index += this.length;
    if (index < 0 || index >= this.length) throw new RangeError(`index ${index} out of range for ${this.length} samples`);
    const d = this.cumulative.findIndex((c) => index < c);
    return [d, index - (d ? this.cumulative[d - 1] : 0)];
  }
  getItem(index: number, ctx: SampleContext = {}): Promise<Results> {
    const [d, i] = this.locate(index);
    return this.datasets[d].getItem(i, { ...ctx, position: ctx.position ?? index });
  }
  getDataInfo(index: number): DataInfo {
    const [d, i] = this.locate(index);
    return this.datasets[d].getDataInfo!(i);
  }
  getCatIds(index: number): number[] {
    const [d, i] = this.locate(index);
    return this.datasets[d].getCatIds!(i);
  }
  fullInit(): void {
    for (const d of this.datasets) d.fullInit?.();
  }
}

export type { BaseDataset };
