import { MmclsError } from '../errors';
import { METRICS } from '../registry';
import { engineLog } from '../engine/optim/logging';
import { BaseMetric, BaseMetricOptions, MetricResults } from './base_metric';
import { FLOAT32_EPS, PRFS, precisionRecallF1Support } from './single_label';
import { fmt2, labelToOnehot, normalizeSample, toNumbers, topkIndices } from './sample';

type MultiAverage = 'macro' | 'micro' | null;

interface MultiResult {
  pred_score: number[];
  gt_score: number[];
}

/** Reads pred scores and one-hot (or given) gt scores from a sample. */
export function multiLabelResult(sample: unknown): MultiResult & { gtLabel: number[]; gtLabelDifficult?: number[] } {
  const s = normalizeSample(sample);
  if (!s.predScore) throw new MmclsError('multi-label metrics need pred_score (pred_label.score) in each data sample', { code: 'metric.bad-input' });
  const C = s.predScore.length;
  let gt: number[];
  if (s.gtScore) gt = [...s.gtScore];
  else if (s.gtLabel) gt = labelToOnehot(s.gtLabel, C);
  else throw new MmclsError('a data sample has neither gt_label nor gt_score', { code: 'metric.bad-input' });
  return { pred_score: s.predScore, gt_score: gt, gtLabel: s.gtLabel ?? [], gtLabelDifficult: s.gtLabelDifficult };
}

/** Options of `MultiLabelMetric`. */
export interface MultiLabelMetricOptions extends BaseMetricOptions {
  /** A class is predicted when its score is at least `thr` (0.5 when neither `thr` nor `topk` is set). @default None */
  thr?: number | null;
  /** The k best-scored classes are predicted (used when `thr` is unset). @default None */
  topk?: number | null;
  /** Which results: `'precision'`, `'recall'`, `'f1-score'`, `'support'`. @default ('precision', 'recall', 'f1-score') */
  items?: Array<'precision' | 'recall' | 'f1-score' | 'support'>;
  /**
   * `'macro'` (CP/CR/CF1), `'micro'` (OP/OR/OF1, `_micro` names), None (per class, `_classwise`
   * names), or `'both'` (macro and micro together, as the migration guide's example writes it).
   * @default 'macro'
   */
  average?: 'macro' | 'micro' | 'both' | null;
}

const ITEMS = ['precision', 'recall', 'f1-score', 'support'];

/**
 * Precision, recall, f1-score and support for multi-label tasks (`multi-label/precision`,
 * `multi-label/f1-score_micro`, `multi-label/recall_thr-0.30`, `multi-label/precision_top3`, ...). Percent.
 */
@METRICS.registerModule()
export class MultiLabelMetric extends BaseMetric {
  static override readonly defaultPrefix = 'multi-label';
  readonly thr: number | null;
  readonly topk: number | null;
  readonly items: string[];
  readonly average: MultiAverage | 'both';

  constructor(options: MultiLabelMetricOptions = {}) {
    super(options);
    let thr = options.thr ?? null;
    const topk = options.topk ?? null;
    if (thr === null && topk === null) {
      thr = 0.5;
      engineLog('warning', 'Neither thr nor k is given, set thr as 0.5 by default.');
    } else if (thr !== null && topk !== null) {
      engineLog('warning', 'Both thr and topk are given, use threshold in favor of top-k.');
    }
    this.thr = thr;
    this.topk = topk;
    const average = options.average === undefined ? 'macro' : options.average;
    if (!(average === 'macro' || average === 'micro' || average === 'both' || average === null)) {
      throw new MmclsError(`Invalid \`average\` argument ${JSON.stringify(average)}, please specify from ['micro', 'macro', None].`, {
        code: 'metric.invalid-arg',
      });
    }
    this.average = average;
    const items = options.items ?? ['precision', 'recall', 'f1-score'];
    for (const it of items) {
      if (!ITEMS.includes(it)) {
        throw new MmclsError(
          `The metric ${it} is not supported by \`MultiLabelMetric\`, please choose from "precision", "recall", "f1-score" and "support".`,
          { code: 'metric.invalid-arg' },
        );
      }
    }
    this.items = [...items];
  }

  process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) {
      const r = multiLabelResult(ds);
      this.results.push({ pred_score: r.pred_score, gt_score: r.gt_score });
    }
  }

  computeMetrics(results: unknown[]): MetricResults {
    const res = results as MultiResult[];
    const pred = res.map((r) => r.pred_score);
    const target = res.map((r) => r.gt_score);
    const averages: MultiAverage[] = this.average === 'both' ? ['macro', 'micro'] : [this.average];
    const out: MetricResults = {};
    for (const average of averages) {
      const prfs = MultiLabelMetric.calculate(pred, target, { average, thr: this.thr, topk: this.topk });
      const packed: { [k: string]: number | number[] } = {};
      const put = (k: string, v: number | number[]) => {
        if (this.items.includes(k)) packed[k] = v;
      };
      put('precision', prfs[0]);
      put('recall', prfs[1]);
      put('f1-score', prfs[2]);
      put('support', prfs[3]);
      // MMClassification names by truthiness of thr (so thr=0 falls to the top-k spelling).
      const suffix = this.thr ? (this.thr === 0.5 ? '' : `_thr-${fmt2(this.thr)}`) : `_top${this.topk === null ? 'None' : this.topk}`;
      for (const [k, v] of Object.entries(packed)) {
        const name = k + suffix;
        if (average === null) out[`${name}_classwise`] = v;
        else if (average === 'macro') out[name] = v;
        else out[`${name}_${average}`] = v;
      }
    }
    return out;
  }

  /**
   * `MultiLabelMetric.calculate`: scores and targets as N×C matrices (or, with `pred_indices` /
   * `target_indices`, lists of class indices and `num_classes`). Returns (precision, recall,
   * f1-score, support), percent.
   */
  static calculate(
    pred: ReadonlyArray<ArrayLike<number>>,
    target: ReadonlyArray<ArrayLike<number>>,
    options: {
      pred_indices?: boolean;
      target_indices?: boolean;
      average?: MultiAverage;
      thr?: number | null;
      topk?: number | null;
      num_classes?: number | null;
    } = {},
  ): PRFS {
    const average = options.average === undefined ? 'macro' : options.average;
    const nc = options.num_classes ?? null;
    const format = (m: ReadonlyArray<ArrayLike<number>>, isIndices: boolean, what: string): number[][] =>
      m.map((r) => {
        const v = toNumbers(r, what);
        if (!isIndices) return v;
        if (nc === null) throw new MmclsError('For index-type labels, please specify `num_classes`.', { code: 'metric.invalid-arg' });
        return labelToOnehot(v, nc);
      });
    const p = format(pred, Boolean(options.pred_indices), 'pred');
    const t = format(target, Boolean(options.target_indices), 'target');
    if (p.length !== t.length || (p.length && p[0].length !== t[0].length)) {
      throw new MmclsError(`The size of pred (${p.length}×${p[0]?.length}) doesn't match the target (${t.length}×${t[0]?.length}).`, {
        code: 'metric.bad-input',
      });
    }
    if (nc !== null && p.length && p[0].length !== nc) {
      throw new MmclsError(`The shape of \`pred\` doesn't match the num_classes (${nc}).`, { code: 'metric.bad-input' });
    }
    let thr = options.thr ?? null;
    const topk = options.topk ?? null;
    if (thr === null && topk === null) thr = 0.5;
    let pos: number[][];
    if (thr !== null) {
      const th = thr;
      pos = p.map((r) => r.map((x) => (x >= th ? 1 : 0)));
    } else {
      pos = p.map((r) => {
        const row = new Array<number>(r.length).fill(0);
        for (const i of topkIndices(r, topk as number)) row[i] = 1;
        return row;
      });
    }
    return precisionRecallF1Support(pos, t.map((r) => r.map((x) => Math.trunc(x))), average);
  }
}

/**
 * Average precision of one class (MMClassification's `_average_precision`): targets of -1 are
 * ignored; the mean of the precision at each positive, over the number of positives. Fraction (0-1).
 */
export function averagePrecision(pred: readonly number[], target: readonly number[]): number {
  const idx: number[] = [];
  for (let i = 0; i < target.length; i++) if (target[i] > -1) idx.push(i);
  idx.sort((a, b) => (pred[b] !== pred[a] ? pred[b] - pred[a] : a - b));
  let tps = 0;
  let sum = 0;
  idx.forEach((i, rank) => {
    if (target[i] === 1) {
      tps += 1;
      sum += tps / (rank + 1);
    }
  });
  return sum / Math.max(tps, FLOAT32_EPS);
}

/** Options of `AveragePrecision`. */
export interface AveragePrecisionOptions extends BaseMetricOptions {
  /** `'macro'` (mean over classes: `mAP`) or None (per class: `AP_classwise`). @default 'macro' */
  average?: 'macro' | null;
}

/** Average precision per class and its mean (`multi-label/mAP`, `multi-label/AP_classwise`). Percent. */
@METRICS.registerModule()
export class AveragePrecision extends BaseMetric {
  static override readonly defaultPrefix = 'multi-label';
  readonly average: 'macro' | null;

  constructor(options: AveragePrecisionOptions = {}) {
    super(options);
    const average = options.average === undefined ? 'macro' : options.average;
    if (!(average === 'macro' || average === null)) {
      throw new MmclsError(`Invalid \`average\` argument ${JSON.stringify(average)}, please specify from ['macro', None].`, {
        code: 'metric.invalid-arg',
      });
    }
    this.average = average;
  }

  process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) {
      const r = multiLabelResult(ds);
      this.results.push({ pred_score: r.pred_score, gt_score: r.gt_score });
    }
  }

  computeMetrics(results: unknown[]): MetricResults {
    const res = results as MultiResult[];
    const ap = AveragePrecision.calculate(
      res.map((r) => r.pred_score),
      res.map((r) => r.gt_score),
      this.average,
    );
    return this.average === null ? { AP_classwise: ap as number[] } : { mAP: ap as number };
  }

  /** `AveragePrecision.calculate`: N×C scores and targets (1 positive, 0 negative, -1 ignored). Percent. */
  static calculate(pred: ReadonlyArray<ArrayLike<number>>, target: ReadonlyArray<ArrayLike<number>>, average: 'macro' | null = 'macro'): number | number[] {
    const p = pred.map((r) => toNumbers(r, 'pred'));
    const t = target.map((r) => toNumbers(r, 'target'));
    if (p.length !== t.length || (p.length && p[0].length !== t[0].length)) {
      throw new MmclsError("The size of pred doesn't match the target.", { code: 'metric.bad-input' });
    }
    const C = p[0]?.length ?? 0;
    const ap: number[] = [];
    for (let c = 0; c < C; c++) ap.push(averagePrecision(p.map((r) => r[c]), t.map((r) => r[c])) * 100);
    if (average === 'macro') return ap.reduce((a, b) => a + b, 0) / C;
    return ap;
  }
}
