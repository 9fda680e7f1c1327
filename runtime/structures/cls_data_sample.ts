import { MmclsError } from '../errors';

/** A label field: `label` (class indices) and/or `score` (one value per class). */
export interface LabelData {
  label?: number[];
  score?: Float32Array;
}

export type LabelValue = number | ArrayLike<number>;

/**
 * Turns an int, a list of ints or a typed array into a list of class indices, checking each is an
 * integer in [0, num_classes) when the number of classes is known (mmcls `format_label`).
 */
export function formatLabel(value: LabelValue, numClasses?: number, what = 'label'): number[] {
  const list = typeof value === 'number' ? [value] : Array.from(value);
  for (const v of list) {
    if (!Number.isInteger(v)) throw new MmclsError(`${what} ${v} is not an integer class index`, { code: 'data.bad-label' });
    if (v < 0 || (numClasses !== undefined && v >= numClasses)) {
      throw new MmclsError(`${what} ${v} is outside [0, ${numClasses ?? 'inf'})`, { code: 'data.label-out-of-range' });
    }
  }
  return list;
}

function formatScore(value: ArrayLike<number>, numClasses: number | undefined, what: string): Float32Array {
  const score = Float32Array.from(value);
  if (numClasses !== undefined && score.length !== numClasses) {
    throw new MmclsError(`${what} has ${score.length} values, expected num_classes = ${numClasses}`, { code: 'data.bad-score' });
  }
  return score;
}

/**
 * The data sample of classification (mmcls.structures.ClsDataSample): the ground truth
 * (`gt_label.label`, `gt_label.score`), the prediction (`pred_label.label`, `pred_label.score`) and
 * meta information (`img_path`, `ori_shape`, `img_shape`, `num_classes`, ...).
 */
export class ClsDataSample {
  private meta: Record<string, unknown> = {};
  gt_label?: LabelData;
  pred_label?: LabelData;

  constructor(options: { metainfo?: Record<string, unknown> } = {}) {
    if (options.metainfo) this.set_metainfo(options.metainfo);
  }

  /** Meta information; a copy, change it with set_metainfo. */
  get metainfo(): Record<string, unknown> {
    return { ...this.meta };
  }

  set_metainfo(meta: Record<string, unknown>): this {
    Object.assign(this.meta, meta);
    return this;
  }

  /** A meta field (`img_shape`, `img_path`, ...), or undefined. */
  get<T = unknown>(key: string): T | undefined {
    return this.meta[key] as T | undefined;
  }

  metainfo_keys(): string[] {
    return Object.keys(this.meta);
  }

  private get numClasses(): number | undefined {
    const n = this.meta.num_classes;
    return typeof n === 'number' ? n : undefined;
  }

  set_gt_label(value: LabelValue): this {
    this.gt_label = { ...(this.gt_label ?? {}), label: formatLabel(value, this.numClasses, 'gt_label') };
    return this;
  }

  set_gt_score(value: ArrayLike<number>): this {
    this.gt_label = { ...(this.gt_label ?? {}), score: formatScore(value, this.numClasses, 'gt_score') };
    return this;
  }

  set_pred_label(value: LabelValue): this {
    this.pred_label = { ...(this.pred_label ?? {}), label: formatLabel(value, this.numClasses, 'pred_label') };
    return this;
  }

  set_pred_score(value: ArrayLike<number>): this {
    this.pred_label = { ...(this.pred_label ?? {}), score: formatScore(value, this.numClasses, 'pred_score') };
    return this;
  }

  /** Shortcut for `pred_label.score`. */
  get pred_score(): Float32Array | undefined {
    return this.pred_label?.score;
  }

  /** Shortcut for `gt_label.score`. */
  get gt_score(): Float32Array | undefined {
    return this.gt_label?.score;
  }

  /** Plain data for JSON and for passing between threads. */
  toJSON(): ClsDataSampleData {
    const out: ClsDataSampleData = { metainfo: { ...this.meta } };
    if (this.gt_label) out.gt_label = { label: this.gt_label.label, score: this.gt_label.score ? Array.from(this.gt_label.score) : undefined };
    if (this.pred_label) out.pred_label = { label: this.pred_label.label, score: this.pred_label.score ? Array.from(this.pred_label.score) : undefined };
    return out;
  }

  static fromJSON(d: ClsDataSampleData): ClsDataSample {
    const s = new ClsDataSample({ metainfo: d.metainfo });
    if (d.gt_label) s.gt_label = { label: d.gt_label.label, score: d.gt_label.score ? Float32Array.from(d.gt_label.score) : undefined };
    if (d.pred_label) s.pred_label = { label: d.pred_label.label, score: d.pred_label.score ? Float32Array.from(d.pred_label.score) : undefined };
    return s;
  }
}

export interface ClsDataSampleData {
  metainfo: Record<string, unknown>;
  gt_label?: { label?: number[]; score?: number[] };
  pred_label?: { label?: number[]; score?: number[] };
}
