import { MmclsError } from '../errors';

/** Numbers as metrics accept them: arrays, typed arrays, or anything with `dataSync()` (a tensor). */
export type Numeric = number | ArrayLike<number> | { dataSync(): ArrayLike<number> };

/**
 * A data sample as metrics read it. Both MMClassification 1.0 layouts are accepted:
 * `pred_label: {label, score}`, `gt_label: {label, score}` (ClsDataSample / its `toDict()`), and the
 * flat `pred_score`, `pred_label`, `gt_label`, `gt_score`. `num_classes` and `gt_label_difficult`
 * may also sit in `metainfo`.
 */
export interface DataSampleLike {
  pred_label?: Numeric | { label?: Numeric; score?: Numeric };
  pred_score?: Numeric;
  gt_label?: Numeric | { label?: Numeric; score?: Numeric };
  gt_score?: Numeric;
  gt_label_difficult?: Numeric;
  num_classes?: number;
  metainfo?: { [key: string]: unknown };
  [key: string]: unknown;
}

/** A sample with plain number arrays. */
export interface NormalizedSample {
  predScore?: number[];
  predLabel?: number[];
  gtLabel?: number[];
  gtScore?: number[];
  gtLabelDifficult?: number[];
  numClasses?: number;
}

export function toNumbers(v: unknown, what: string): number[] {
  if (typeof v === 'number') return [v];
  if (v && typeof v === 'object') {
    const ds = (v as { dataSync?: unknown }).dataSync;
    if (typeof ds === 'function') return Array.from(ds.call(v) as ArrayLike<number>);
    if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number>, Number);
  }
  throw new MmclsError(`${what}: expected a number or a list of numbers, got ${JSON.stringify(v)}`, { code: 'metric.bad-input' });
}

function isLabelObject(v: unknown): v is { label?: unknown; score?: unknown } {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !ArrayBuffer.isView(v) &&
    typeof (v as { dataSync?: unknown }).dataSync !== 'function' &&
    ('label' in v || 'score' in v)
  );
}

/** Reads a sample (a ClsDataSample, its dict, or the flat layout) into plain arrays. */
export function normalizeSample(sample: unknown): NormalizedSample {
  let s = sample as DataSampleLike;
  if (s && typeof (s as { toDict?: unknown }).toDict === 'function') {
    const d = (s as unknown as { toDict(): DataSampleLike }).toDict();
    // Keep getters such as pred_score that a dict form may not carry.
    s = { ...d, metainfo: (s as DataSampleLike).metainfo ?? d.metainfo };
    if ((sample as DataSampleLike).pred_label && !d.pred_label) s.pred_label = (sample as DataSampleLike).pred_label;
  }
  if (!s || typeof s !== 'object') {
    throw new MmclsError(`a data sample must be an object, got ${JSON.stringify(sample)}`, { code: 'metric.bad-input' });
  }
  const out: NormalizedSample = {};
  const meta = (s.metainfo ?? {}) as { [key: string]: unknown };
  const pl = s.pred_label;
  if (isLabelObject(pl)) {
    if (pl.score !== undefined && pl.score !== null) out.predScore = toNumbers(pl.score, 'pred_label.score');
    if (pl.label !== undefined && pl.label !== null) out.predLabel = toNumbers(pl.label, 'pred_label.label');
  } else if (pl !== undefined && pl !== null) {
    out.predLabel = toNumbers(pl, 'pred_label');
  }
  if (s.pred_score !== undefined && s.pred_score !== null && !out.predScore) out.predScore = toNumbers(s.pred_score, 'pred_score');
  const gl = s.gt_label;
  if (isLabelObject(gl)) {
    if (gl.label !== undefined && gl.label !== null) out.gtLabel = toNumbers(gl.label, 'gt_label.label');
    if (gl.score !== undefined && gl.score !== null) out.gtScore = toNumbers(gl.score, 'gt_label.score');
  } else if (gl !== undefined && gl !== null) {
    out.gtLabel = toNumbers(gl, 'gt_label');
  }
  if (s.gt_score !== undefined && s.gt_score !== null && !out.gtScore) out.gtScore = toNumbers(s.gt_score, 'gt_score');
  const diff = s.gt_label_difficult ?? meta.gt_label_difficult;
  if (diff !== undefined && diff !== null) out.gtLabelDifficult = toNumbers(diff, 'gt_label_difficult');
  const n = s.num_classes ?? meta.num_classes;
  if (typeof n === 'number') out.numClasses = n;
  return out;
}

/** MMEngine's `LabelData.label_to_onehot`. */
export function labelToOnehot(labels: readonly number[], numClasses: number): number[] {
  const out = new Array<number>(numClasses).fill(0);
  for (const l of labels) {
    if (!(Number.isInteger(l) && l >= 0 && l < numClasses)) {
      throw new MmclsError(`label ${l} is out of range for ${numClasses} classes`, { code: 'metric.bad-input' });
    }
    out[l] = 1;
  }
  return out;
}

/** Indices of the k largest values, largest first; ties keep the lower index first. */
export function topkIndices(row: readonly number[], k: number): number[] {
  if (k > 16) {
    const idx = row.map((_, i) => i);
    idx.sort((a, b) => (row[b] !== row[a] ? row[b] - row[a] : a - b));
    return idx.slice(0, k);
  }
  // Small k (top-1/top-5 over many classes): one pass keeping the best k in order.
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (best.length === k && !(v > row[best[k - 1]])) continue;
    let j = best.length < k ? best.length : k - 1;
    while (j > 0 && v > row[best[j - 1]]) j--;
    best.splice(j, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/** Python's `f'{x:.2f}'` for the threshold suffixes of metric names. */
export function fmt2(x: number): string {
  return x.toFixed(2);
}
