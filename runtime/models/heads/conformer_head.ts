import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Linear } from '../../nn/conv';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { ClsDataSample } from '../../structures';
import { Feat, asTensor } from '../types';
import { ClsHead, ClsHeadOptions, accuracy, lastFeat, targetsOf } from './cls_head';

/** Options of {@link ConformerHead}. */
export interface ConformerHeadOptions extends ClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Channels of the two input features: [conv_dim, trans_dim]. */
  in_channels: [number, number] | number[];
  /** Initialisation config. @default dict(type='TruncNormal', layer='Linear', std=.02) */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * Conformer's head: one linear classifier on each branch's feature of the last stage. Its raw
 * output (tensor mode) is the pair (conv scores, transformer scores); the loss sums the loss of
 * both; predictions use their sum.
 */
@MODELS.registerModule()
export class ConformerHead extends ClsHead {
  readonly numClasses: number;
  readonly inChannels: [number, number];
  readonly convClsHead: Linear;
  readonly transClsHead: Linear;

  constructor(options: ConformerHeadOptions) {
    super({ ...options, init_cfg: options.init_cfg === undefined ? { type: 'TruncNormal', layer: 'Linear', std: 0.02 } : options.init_cfg });
    this.numClasses = options.num_classes;
    if (!Array.isArray(options.in_channels) || options.in_channels.length !== 2) {
      throw new MmclsError('ConformerHead: in_channels must be [conv_dim, trans_dim]', { code: 'model.bad-argument' });
    }
    this.inChannels = [options.in_channels[0], options.in_channels[1]];
    if (!(this.numClasses > 0)) {
      throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    }
    this.convClsHead = this.addModule('conv_cls_head', new Linear({ in_features: this.inChannels[0], out_features: this.numClasses }));
    this.transClsHead = this.addModule('trans_cls_head', new Linear({ in_features: this.inChannels[1], out_features: this.numClasses }));
  }

  /** The last stage's [conv feature, transformer feature]. */
  private lastPair(feats: Feat[] | tf.Tensor): [tf.Tensor, tf.Tensor] {
    const x = lastFeat(feats, 'ConformerHead');
    if (!Array.isArray(x) || x.length !== 2) throw new MmclsError('ConformerHead expects the last feature to be [conv_feature, trans_feature]', { code: 'model.shape' });
    return [asTensor(x[0], 'ConformerHead'), asTensor(x[1], 'ConformerHead')];
  }

  /** (conv scores, transformer scores), each [N, num_classes]. */
  forwardPair(feats: Feat[] | tf.Tensor): [tf.Tensor, tf.Tensor] {
    const [c, t] = this.lastPair(feats);
    return [this.convClsHead.forward(c), this.transClsHead.forward(t)];
  }

  /**
   * MMCls returns the two score tensors here. The classifier's tensor mode passes the value on
   * as it is, so it is the pair at run time (typed as the base class's result; use
   * {@link forwardPair} for typed access). `predScores` and the loss accept it.
   */
  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.forwardPair(feats) as unknown as tf.Tensor;
  }

  /** Scores used for predictions: the sum of both branches' scores. */
  private summed(clsScore: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return Array.isArray(clsScore) ? tf.add(clsScore[0], clsScore[1]) : clsScore;
  }

  override predScores(clsScore: tf.Tensor): tf.Tensor2D {
    return super.predScores(this.summed(clsScore as tf.Tensor | tf.Tensor[]));
  }

  override loss(feats: Feat[] | tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    const scores = this.forwardPair(feats);
    const target = targetsOf(dataSamples);
    const losses: Record<string, tf.Tensor> = {};
    losses.loss = tf.addN(scores.map((s) => this.lossModule.forward(s, target, { avgFactor: s.shape[0] })));
    if (this.calAcc) {
      if (target.rank !== 1) {
        throw new MmclsError('If you enable batch augmentation like mixup during training, `cal_acc` is pointless.', { code: 'model.bad-argument' });
      }
      const accs = accuracy(tf.add(scores[0], scores[1]), target, this.topk);
      this.topk.forEach((k, i) => {
        losses[`accuracy_top-${k}`] = accs[i];
      });
    }
    return losses;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const last = super.forwardShape(x, ctx) as number[][];
    return [this.convClsHead.inferShape(last[0], ctx), this.transClsHead.inferShape(last[1], ctx)];
  }
}
