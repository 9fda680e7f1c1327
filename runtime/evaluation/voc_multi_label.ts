import { METRICS } from '../registry';
import { AveragePrecision, AveragePrecisionOptions, MultiLabelMetric, MultiLabelMetricOptions, multiLabelResult } from './multi_label';

/** The VOC option of difficult labels. */
export interface VOCMetricOptions {
  /** Difficult-only labels count as positive (True), negative (False), or are ignored (None, set to -1). @default None */
  difficult_as_positive?: boolean | null;
}

/**
 * VOC annotations mark some objects difficult; a class present only through difficult objects is a
 * difficult label: -1 (ignored), 1 or 0 in the ground truth according to `difficult_as_positive`.
 */
function vocResult(sample: unknown, difficultAsPositive: boolean | null): { pred_score: number[]; gt_score: number[] } {
  const r = multiLabelResult(sample);
  const gtSet = new Set(r.gtLabel);
  const difficult = [...new Set(r.gtLabelDifficult ?? [])].filter((l) => !gtSet.has(l));
  if (difficultAsPositive === null) for (const l of difficult) r.gt_score[l] = -1;
  else if (difficultAsPositive) for (const l of difficult) r.gt_score[l] = 1;
  return { pred_score: r.pred_score, gt_score: r.gt_score };
}

/** Options of `VOCMultiLabelMetric`. */
export interface VOCMultiLabelMetricOptions extends MultiLabelMetricOptions, VOCMetricOptions {}

/** Multi-label precision, recall and f1-score for VOC, with difficult labels handled (`multi-label/...`). */
@METRICS.registerModule()
export class VOCMultiLabelMetric extends MultiLabelMetric {
  readonly difficultAsPositive: boolean | null;
  constructor(options: VOCMultiLabelMetricOptions = {}) {
    super(options);
    this.difficultAsPositive = options.difficult_as_positive ?? null;
  }
  override process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) this.results.push(vocResult(ds, this.difficultAsPositive));
  }
}

/** Options of `VOCAveragePrecision`. */
export interface VOCAveragePrecisionOptions extends AveragePrecisionOptions, VOCMetricOptions {}

/** Average precision for VOC, with difficult labels handled (`multi-label/mAP`). */
@METRICS.registerModule()
export class VOCAveragePrecision extends AveragePrecision {
  readonly difficultAsPositive: boolean | null;
  constructor(options: VOCAveragePrecisionOptions = {}) {
    super(options);
    this.difficultAsPositive = options.difficult_as_positive ?? null;
  }
  override process(_dataBatch: unknown, dataSamples: readonly unknown[]): void {
    for (const ds of dataSamples) this.results.push(vocResult(ds, this.difficultAsPositive));
  }
}
