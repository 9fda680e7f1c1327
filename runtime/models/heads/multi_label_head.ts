import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Linear } from '../../nn/conv';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { ClsDataSample } from '../../structures';
import { Feat } from '../types';
import { ClsHead, LossCfg, scoreRow } from './cls_head';

/** Options of {@link MultiLabelClsHead}. */
export interface MultiLabelClsHeadOptions {
  /** Config of the loss. @default dict(type='CrossEntropyLoss', use_sigmoid=True) */
  loss?: LossCfg;
  /** Score threshold of a positive prediction (None with topk None: 0.5). @default None */
  thr?: number | null;
  /** Predict the k highest scores as positive (used when thr is None). @default None */
  topk?: number | null;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Multi-label classification head without layers: sigmoid scores, labels by threshold or top-k. */
@MODELS.registerModule()
export class MultiLabelClsHead extends ClsHead {
  readonly thr: number | null;
  readonly topkLabels: number | null;

  constructor(options: MultiLabelClsHeadOptions = {}) {
    super({ loss: options.loss ?? { type: 'CrossEntropyLoss', use_sigmoid: true }, init_cfg: options.init_cfg ?? null });
    let thr = options.thr ?? null;
    const topk = options.topk ?? null;
    if (thr === null && topk === null) thr = 0.5;
    this.thr = thr;
    this.topkLabels = topk;
  }

  /** Targets as [N, C] scores: gt_score when given, else one-hot of gt_label. */
  protected multiLabelTargets(samples: ClsDataSample[], numClasses: number): tf.Tensor {
    if (samples.length === 0) throw new MmclsError('loss: no data samples', { code: 'model.no-labels' });
    const rows = samples.map((s) => {
      if (s.gt_label?.score) return Array.from(s.gt_label.score);
      const row = new Array<number>(numClasses).fill(0);
      for (const l of s.gt_label?.label ?? []) row[l] = 1;
      return row;
    });
    return tf.tensor2d(rows);
  }

  override loss(feats: Feat[] | tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    const clsScore = this.forward(feats);
    const target = this.multiLabelTargets(dataSamples, clsScore.shape[clsScore.rank - 1]);
    return { loss: this.lossModule.forward(clsScore, target, { avgFactor: clsScore.shape[0] }) };
  }

  /** Sigmoid of the logits, `[N, C]`, on the device. */
  override predScores(clsScore: tf.Tensor): tf.Tensor2D {
    return tf.sigmoid(clsScore.rank === 1 ? tf.expandDims(clsScore, 0) : clsScore) as tf.Tensor2D;
  }

  /** `pred_label`: the classes whose score is at least `thr`, else the `topk` best. */
  override predictionsFromScores(data: ArrayLike<number>, shape: number[], dataSamples: (ClsDataSample | null)[] | null): ClsDataSample[] {
    const [n, c] = shape;
    const out: ClsDataSample[] = [];
    for (let i = 0; i < n; i++) {
      const row = scoreRow(data, i, c);
      let labels: number[];
      if (this.thr !== null) {
        labels = [];
        row.forEach((v, j) => { if (v >= this.thr!) labels.push(j); });
      } else {
        labels = [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, this.topkLabels!);
      }
      const s = dataSamples?.[i] ?? new ClsDataSample();
      s.set_pred_score(row).set_pred_label(labels);
      out.push(s);
    }
    return out;
  }
}

/** Options of {@link MultiLabelLinearClsHead}. */
export interface MultiLabelLinearClsHeadOptions extends MultiLabelClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Channels of the input feature. */
  in_channels: number;
  /** Initialisation config. @default dict(type='Normal', layer='Linear', std=0.01) */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Multi-label head with one fully connected layer `fc`. */
@MODELS.registerModule()
export class MultiLabelLinearClsHead extends MultiLabelClsHead {
  readonly numClasses: number;
  readonly inChannels: number;
  readonly fc: Linear;

  constructor(options: MultiLabelLinearClsHeadOptions) {
    super({ ...options, init_cfg: options.init_cfg === undefined ? { type: 'Normal', layer: 'Linear', std: 0.01 } : options.init_cfg });
    this.numClasses = options.num_classes;
    this.inChannels = options.in_channels;
    if (!(this.numClasses > 0)) throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    this.fc = this.addModule('fc', new Linear({ in_features: this.inChannels, out_features: this.numClasses }));
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.fc.forward(this.preLogits(feats));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.fc.inferShape(super.forwardShape(x, ctx), ctx);
  }
}
