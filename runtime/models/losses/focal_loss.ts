import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../registry';
import { LossCallOptions, LossModule, Reduction, bceWithLogits, checkReduction, convertToOneHot, sampleWeight, weightReduceLoss } from './utils';

/** Options of {@link FocalLoss}. */
export interface FocalLossOptions {
  /** Focusing parameter. @default 2.0 */
  gamma?: number;
  /** Balance of positive and negative examples. @default 0.25 */
  alpha?: number;
  /** How to reduce the loss. @default 'mean' */
  reduction?: Reduction;
  /** Multiplier of the loss. @default 1.0 */
  loss_weight?: number;
}

/** Sigmoid focal loss (Focal Loss for Dense Object Detection). */
@MODELS.registerModule()
export class FocalLoss extends LossModule {
  readonly gamma: number;
  readonly alpha: number;
  readonly reduction: Reduction;
  readonly lossWeight: number;

  constructor(options: FocalLossOptions = {}) {
    super();
    this.gamma = options.gamma ?? 2.0;
    this.alpha = options.alpha ?? 0.25;
    this.reduction = checkReduction(options.reduction ?? 'mean', 'FocalLoss');
    this.lossWeight = options.loss_weight ?? 1.0;
  }

  forward(pred: tf.Tensor, target: tf.Tensor, options: LossCallOptions = {}): tf.Tensor {
    const reduction = options.reductionOverride ? checkReduction(options.reductionOverride, 'FocalLoss') : this.reduction;
    const t = target.rank === 1 || (target.rank === 2 && target.shape[1] === 1) ? convertToOneHot(target, pred.shape[pred.rank - 1]) : tf.cast(target, 'float32');
    const p = tf.sigmoid(pred);
    const pt = tf.add(tf.mul(tf.sub(1, p), t), tf.mul(p, tf.sub(1, t)));
    const focalWeight = tf.mul(tf.add(tf.mul(this.alpha, t), tf.mul(1 - this.alpha, tf.sub(1, t))), tf.pow(pt, this.gamma));
    const loss = tf.mul(bceWithLogits(pred, t), focalWeight);
    return tf.mul(weightReduceLoss(loss, sampleWeight(options.weight, pred.rank), reduction, options.avgFactor), this.lossWeight);
  }
}
