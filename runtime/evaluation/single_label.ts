import { MmclsError } from '../errors';
import { METRICS } from '../registry';
import { BaseMetric, BaseMetricOptions, MetricResults } from './base_metric';
import { fmt2, normalizeSample, topkIndices } from './sample';

/** float32 machine epsilon, which MMClassification uses as the smallest denominator. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

export type Average = 'macro' | 'micro' | null;
/** Precision, recall, f1-score (percent) and support: numbers, or per-class lists when `average` is None. */
export type PRFS = [number | number[], number | number[], number | number[], number | number[]];

/** Predictions as scores (one row per sample) or as labels (one per sample). */
export type PredInput = ArrayLike<number> | ReadonlyArray<ArrayLike<number>>;

function isMatrix(p: PredInput): p is ReadonlyArray<ArrayLike<number>> {
  return p.length > 0 && typeof (p as ArrayLike<unknown>)[0] === 'object';
}

function rows(p: ReadonlyArray<ArrayLike<number>>): number[][] {
  return Array.from(p, (r) => Array.from(r, Number));
}

function checkAverage(average: unknown): asserts average is Average {
  if (!(average === 'macro' || average === 'micro' || average === null)) {
    throw new MmclsError(`Invalid \`average\` argument ${JSON.stringify(average)}, please specify from ['micro', 'macro', None].`, {
      code: 'metric.invalid-arg',
    });
  }
}

/**
 * MMClassification's `_precision_recall_f1_support` on 0/1 matrices (N×C). Targets of -1
 * (difficult samples) are ignored. Percent units.
 */
export function precisionRecallF1Support(predPositive: number[][], gtPositive: number[][], average: Average): PRFS {
  checkAverage(average);
  const C = predPositive[0]?.length ?? gtPositive[0]?.length ?? 0;
  const tp = new Array<number>(C).fill(0);
  const predSum = new Array<number>(C).fill(0);
  const gtSum = new Array<number>(C).fill(0);
  for (let n = 0; n < gtPositive.length; n++) {
    for (let c = 0; c < C; c++) {
      let g = gtPositive[n][c];
      let p = predPositive[n][c];
      if (g === -1) {
        g = 0;
        p = 0;
      }
      if (p && g) tp[c] += 1;
      if (p) predSum[c] += 1;
      if (g) gtSum[c] += 1;
    }
  }
  const f1 = (p: number, r: number) => (2 * p * r) / Math.max(p + r, FLOAT32_EPS);
  if (average === 'micro') {
    const t = tp.reduce((a, b) => a + b, 0);
    const ps = predSum.reduce((a, b) => a + b, 0);
    const gs = gtSum.reduce((a, b) => a + b, 0);
    const precision = (t / Math.max(ps, 1)) * 100;
    const recall = (t / Math.max(gs, 1)) * 100;
    return [precision, recall, f1(precision, recall), gs];
  }
  const precision = tp.map((t, c) => (t / Math.max(predSum[c], 1)) * 100);
  const recall = tp.map((t, c) => (t / Math.max(gtSum[c], 1)) * 100);
  const f1s = precision.map((p, c) => f1(p, recall[c]));
  if (average === 'macro') {
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    return [mean(precision), mean(recall), mean(f1s), gtSum.reduce((a, b) => a + b, 0)];
  }
  return [precision, recall, f1s, gtSum];
}

function oneHot(labels: readonly number[], C: number): number[][] {
  return labels.map((l) => {
    if (!(Number.isInteger(l) && l >= 0 && l < C)) {
      throw new MmclsError(`label ${l} is out of range for ${C} classes`, { code: 'metric.bad-input' });
    }
    const r = new Array<number>(C).fill(0);
    r[l] = 1;
    return r;
  });
}

function thrsTuple(thrs: number | null | ReadonlyArray<number | null> | undefined, dflt: number | null): Array<number | null> {
  if (thrs === undefined) return [dflt];
  if (thrs === null || typeof thrs === 'number') return [thrs];
  return [...thrs];
}

function thrSuffix(thr: number | null): string {
  return thr === null ? '_no-thr' : `_thr-${fmt2(thr)}`;
}

interface ScoreOrLabel {
  pred_score?: number[];
  pred_label?: number;
  gt_label: number;
  num_classes?: number;
}

function singleLabelResult(sample: unknown, numClasses: number | null | undefined, needNumClasses: boolean): ScoreOrLabel {
  const s = normalizeSample(sample);
  if (!s.gtLabel || s.gtLabel.length === 0) {
    throw new MmclsError('a data sample has no gt_label', { code: 'metric.bad-input' });
  }
  const r: ScoreOrLabel = { gt_label: s.gtLabel[0] };
  if (s.predScore) r.pred_score = s.predScore;
  else if (s.predLabel && s.predLabel.length) {
    r.pred_label = s.predLabel[0];
    if (needNumClasses) {
      const n = numClasses ?? s.numClasses;
      if (n === undefined || n === null) {
        throw new MmclsError('The `num_classes` must be specified if `pred_label` has only `label`.', { code: 'metric.invalid-arg' });
      }
      r.num_classes = n;
    }
  } else {
    throw new MmclsError('a data sample has neither pred_score nor pred_label', { code: 'metric.bad-input' });
  }
  return r;
}

/** Options of `Accuracy`. */
export interface AccuracyOptions extends BaseMetricOptions {
  /** A sample is correct when its label is among the k best predictions; several k give several results. @default (1, ) */
  topk?: number | number[];
  /** Scores not above a threshold count as wrong; None applies none; several give several results. @default 0.0 */
  thrs?: number | null | Array<number | null>;
}

/**
 * Accuracy evaluation metric: the percentage of samples whose label is among the top-k
 * predictions (`accuracy/top1`, `accuracy/top5`, with `_thr-0.50` suffixes for several thresholds).
 */
@METRICS.registerModule()
export class Accuracy extends BaseMetric {
  static override readonly defaultPrefix = 'accuracy';
  readonly topk: number[];
  readonly thrs: Array<number | null>;

  constructor(options: AccuracyOptions = {}) {
    super(options);
    const topk = options.topk ?? [1];
    this.topk = typeof topk === 'number' ? [topk] : [...topk];
    this.thrs = thrsTuple(options.thrs, 0.0);
  }

  process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) this.results.push(singleLabelResult(ds, undefined, false));
  }

  computeMetrics(results: unknown[]): MetricResults {
    const res = results as ScoreOrLabel[];
    const target = res.map((r) => r.gt_label);
    const metrics: MetricResults = {};
    if (res[0].pred_score) {
      let acc: number[][];
      try {
        acc = Accuracy.calculate(
          res.map((r) => r.pred_score as number[]),
          target,
          this.topk,
          this.thrs,
        ) as number[][];
      } catch (e) {
        if (e instanceof MmclsError) {
          throw new MmclsError(`${e.message} Please check the \`val_evaluator\` and \`test_evaluator\` fields in your config file.`, {
            code: e.code,
          });
        }
        throw e;
      }
      const multi = this.thrs.length > 1;
      this.topk.forEach((k, i) =>
        this.thrs.forEach((thr, j) => {
          metrics[`top${k}${multi ? thrSuffix(thr) : ''}`] = acc[i][j];
        }),
      );
    } else {
      metrics.top1 = Accuracy.calculate(
        res.map((r) => r.pred_label as number),
        target,
      ) as number;
    }
    return metrics;
  }

  /**
   * `Accuracy.calculate`: labels (N) give the top-1 accuracy; scores (N×C) give
   * `result[i][j]` for `topk[i]` and `thrs[j]`. Percent.
   */
  static calculate(
    pred: PredInput,
    target: ArrayLike<number>,
    topk: readonly number[] = [1],
    thrs: ReadonlyArray<number | null> = [0.0],
  ): number | number[][] {
    const tgt = Array.from(target, Number);
    const num = pred.length;
    if (num !== tgt.length) {
      throw new MmclsError(`The size of pred (${num}) doesn't match the target (${tgt.length}).`, { code: 'metric.bad-input' });
    }
    if (!isMatrix(pred)) {
      const p = Array.from(pred as ArrayLike<number>, Number);
      const correct = p.reduce((a, x, i) => a + (x === tgt[i] ? 1 : 0), 0);
      return (correct * 100) / num;
    }
    const scores = rows(pred);
    const maxk = Math.max(...topk);
    const C = scores[0].length;
    if (maxk > C) {
      throw new MmclsError(`Top-${maxk} accuracy is unavailable since the number of categories is ${C}.`, { code: 'metric.invalid-arg' });
    }
    const tops = scores.map((r) => topkIndices(r, maxk));
    return topk.map((k) =>
      thrs.map((thr) => {
        let correct = 0;
        scores.forEach((r, n) => {
          for (let j = 0; j < k; j++) {
            const c = tops[n][j];
            if (c === tgt[n] && (thr === null || r[c] > thr)) correct += 1;
          }
        });
        return (correct * 100) / num;
      }),
    );
  }
}

/** Options of `SingleLabelMetric`. */
export interface SingleLabelMetricOptions extends BaseMetricOptions {
  /** The top-1 prediction counts only when its score is above the threshold; None: always. @default 0.0 */
  thrs?: number | null | Array<number | null>;
  /** Which results: `'precision'`, `'recall'`, `'f1-score'`, `'support'`. @default ('precision', 'recall', 'f1-score') */
  items?: Array<'precision' | 'recall' | 'f1-score' | 'support'>;
  /** `'macro'` (mean over classes), `'micro'` (pooled counts, `_micro` names) or None (per class, `_classwise` names). @default 'macro' */
  average?: 'macro' | 'micro' | null;
  /** Number of classes; needed when predictions are labels rather than scores. @default None */
  num_classes?: number | null;
}

const SINGLE_ITEMS = ['precision', 'recall', 'f1-score', 'support'];

function packResults(items: readonly string[], prfs: PRFS): { [k: string]: number | number[] } {
  const out: { [k: string]: number | number[] } = {};
  if (items.includes('precision')) out.precision = prfs[0];
  if (items.includes('recall')) out.recall = prfs[1];
  if (items.includes('f1-score')) out['f1-score'] = prfs[2];
  if (items.includes('support')) out.support = prfs[3];
  return out;
}

/**
 * Precision, recall, f1-score and support for single-label tasks (`single-label/precision`,
 * `single-label/f1-score_classwise`, `single-label/recall_micro`, ...). Percent.
 */
@METRICS.registerModule()
export class SingleLabelMetric extends BaseMetric {
  static override readonly defaultPrefix = 'single-label';
  readonly thrs: Array<number | null>;
  readonly items: string[];
  readonly average: Average;
  readonly numClasses: number | null;

  constructor(options: SingleLabelMetricOptions = {}) {
    super(options);
    this.thrs = thrsTuple(options.thrs, 0.0);
    const items = options.items ?? ['precision', 'recall', 'f1-score'];
    for (const it of items) {
      if (!SINGLE_ITEMS.includes(it)) {
        throw new MmclsError(
          `The metric ${it} is not supported by \`SingleLabelMetric\`, please specify from "precision", "recall", "f1-score" and "support".`,
          { code: 'metric.invalid-arg' },
        );
      }
    }
    this.items = [...items];
    const average = options.average === undefined ? 'macro' : options.average;
    checkAverage(average);
    this.average = average;
    this.numClasses = options.num_classes ?? null;
  }

  process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) this.results.push(singleLabelResult(ds, this.numClasses, true));
  }

  computeMetrics(results: unknown[]): MetricResults {
    const res = results as ScoreOrLabel[];
    const target = res.map((r) => r.gt_label);
    let metrics: { [k: string]: number | number[] } = {};
    if (res[0].pred_score) {
      const list = SingleLabelMetric.calculate(
        res.map((r) => r.pred_score as number[]),
        target,
        this.thrs,
        this.average,
      ) as PRFS[];
      const multi = this.thrs.length > 1;
      this.thrs.forEach((thr, i) => {
        const suffix = multi ? thrSuffix(thr) : '';
        for (const [k, v] of Object.entries(packResults(this.items, list[i]))) metrics[k + suffix] = v;
      });
    } else {
      const r = SingleLabelMetric.calculate(
        res.map((x) => x.pred_label as number),
        target,
        this.thrs,
        this.average,
        res[0].num_classes,
      ) as PRFS;
      metrics = packResults(this.items, r);
    }
    const out: MetricResults = {};
    for (const [k, v] of Object.entries(metrics)) {
      if (this.average === null) out[`${k}_classwise`] = v;
      else if (this.average === 'micro') out[`${k}_micro`] = v;
      else out[k] = v;
    }
    return out;
  }

  /**
   * `SingleLabelMetric.calculate`: labels (N, with `numClasses`) give one
   * (precision, recall, f1-score, support); scores (N×C) give one per threshold.
   */
  static calculate(
    pred: PredInput,
    target: ArrayLike<number>,
    thrs: ReadonlyArray<number | null> = [0.0],
    average: Average = 'macro',
    numClasses?: number | null,
  ): PRFS | PRFS[] {
    checkAverage(average);
    const tgt = Array.from(target, Number);
    if (pred.length !== tgt.length) {
      throw new MmclsError(`The size of pred (${pred.length}) doesn't match the target (${tgt.length}).`, { code: 'metric.bad-input' });
    }
    if (!isMatrix(pred)) {
      if (numClasses === undefined || numClasses === null) {
        throw new MmclsError('Please specify the `num_classes` if the `pred` is labels intead of scores.', { code: 'metric.invalid-arg' });
      }
      const p = Array.from(pred as ArrayLike<number>, Number);
      return precisionRecallF1Support(oneHot(p, numClasses), oneHot(tgt, numClasses), average);
    }
    const scores = rows(pred);
    const C = scores[0].length;
    const gt = oneHot(tgt, C);
    const top = scores.map((r) => topkIndices(r, 1)[0]);
    return thrs.map((thr) => {
      const predPos = scores.map((r, n) => {
        const row = new Array<number>(C).fill(0);
        if (thr === null || r[top[n]] > thr) row[top[n]] = 1;
        return row;
      });
      return precisionRecallF1Support(predPos, gt, average);
    });
  }
}

/** Options of `ConfusionMatrix`. */
export interface ConfusionMatrixOptions extends BaseMetricOptions {
  /** Number of classes; taken from the scores when unset. @default None */
  num_classes?: number | null;
}

/** The confusion matrix of a single-label task (`confusion_matrix/result`: rows are targets, columns predictions). */
@METRICS.registerModule()
export class ConfusionMatrix extends BaseMetric {
  static override readonly defaultPrefix = 'confusion_matrix';
  numClasses: number | null;

  constructor(options: ConfusionMatrixOptions = {}) {
    super(options);
    this.numClasses = options.num_classes ?? null;
  }

  process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) {
      const s = normalizeSample(ds);
      if (!s.gtLabel?.length) throw new MmclsError('a data sample has no gt_label', { code: 'metric.bad-input' });
      let predLabel: number;
      if (s.predScore) {
        predLabel = topkIndices(s.predScore, 1)[0];
        this.numClasses = s.predScore.length;
      } else if (s.predLabel?.length) {
        predLabel = s.predLabel[0];
      } else {
        throw new MmclsError('a data sample has neither pred_score nor pred_label', { code: 'metric.bad-input' });
      }
      this.results.push({ pred_label: predLabel, gt_label: s.gtLabel[0] });
    }
  }

  computeMetrics(results: unknown[]): MetricResults {
    const res = results as Array<{ pred_label: number; gt_label: number }>;
    return {
      result: ConfusionMatrix.calculate(
        res.map((r) => r.pred_label),
        res.map((r) => r.gt_label),
        this.numClasses,
      ),
    };
  }

  /** `ConfusionMatrix.calculate`: `matrix[target][pred]` counts. Scores are reduced to their argmax. */
  static calculate(pred: PredInput, target: ArrayLike<number>, numClasses?: number | null): number[][] {
    const tgt = Array.from(target, Number);
    if (pred.length !== tgt.length) {
      throw new MmclsError(`The size of pred (${pred.length}) doesn't match the target (${tgt.length}).`, { code: 'metric.bad-input' });
    }
    let labels: number[];
    let C: number;
    if (isMatrix(pred)) {
      const r = rows(pred);
      C = numClasses ?? r[0].length;
      labels = r.map((row) => topkIndices(row, 1)[0]);
    } else {
      if (numClasses === undefined || numClasses === null) {
        throw new MmclsError('Please specify the `num_classes` if the `pred` is labels intead of scores.', { code: 'metric.invalid-arg' });
      }
      C = numClasses;
      labels = Array.from(pred as ArrayLike<number>, Number);
    }
    const m = Array.from({ length: C }, () => new Array<number>(C).fill(0));
    tgt.forEach((t, i) => {
      const p = labels[i];
      if (!(t >= 0 && t < C && p >= 0 && p < C)) {
        throw new MmclsError(`label out of range for ${C} classes (target ${t}, prediction ${p})`, { code: 'metric.bad-input' });
      }
      m[t][p] += 1;
    });
    return m;
  }
}

