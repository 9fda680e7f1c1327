import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { LossCallOptions, LossModule, Reduction, bceWithLogits, checkReduction, convertToOneHot, sampleWeight, weightReduceLoss } from './utils';

/** Options of {@link CrossEntropyLoss}. */
export interface CrossEntropyLossOptions {
  /** Use sigmoid (binary cross-entropy per class) instead of softmax. @default False */
  use_sigmoid?: boolean;
  /** Soft targets (one score per class) with softmax. @default False */
  use_soft?: boolean;
  /** How to reduce the per-sample losses: 'none', 'mean' or 'sum'. @default 'mean' */
  reduction?: Reduction;
  /** Multiplier of the loss. @default 1.0 */
  loss_weight?: number;
  /** Weight of each class. @default None */
  class_weight?: number[] | null;
  /** Weight of positive examples of each class (sigmoid only). @default None */
  pos_weight?: number[] | null;
}

/** Cross-entropy loss: softmax with class indices, softmax with soft targets, or per-class sigmoid. */
@MODELS.registerModule()
export class CrossEntropyLoss extends LossModule {
  readonly useSigmoid: boolean;
  readonly useSoft: boolean;
  readonly reduction: Reduction;
  readonly lossWeight: number;
  readonly classWeight: number[] | null;
  readonly posWeight: number[] | null;

  constructor(options: CrossEntropyLossOptions = {}) {
    super();
    this.useSigmoid = options.use_sigmoid ?? false;
    this.useSoft = options.use_soft ?? false;
    if (this.useSigmoid && this.useSoft) {
      throw new MmclsError('CrossEntropyLoss: use_sigmoid and use_soft could not be set simultaneously', { code: 'model.bad-argument' });
    }
    this.reduction = checkReduction(options.reduction ?? 'mean', 'CrossEntropyLoss');
    this.lossWeight = options.loss_weight ?? 1.0;
    this.classWeight = options.class_weight ?? null;
    this.posWeight = options.pos_weight ?? null;
  }

  forward(clsScore: tf.Tensor, label: tf.Tensor, options: LossCallOptions = {}): tf.Tensor {
    const reduction = options.reductionOverride ? checkReduction(options.reductionOverride, 'CrossEntropyLoss') : this.reduction;
    const numClasses = clsScore.shape[clsScore.rank - 1];
    const cw = this.classWeight ? tf.tensor1d(this.classWeight) : null;
    if (cw && cw.shape[0] !== numClasses) {
      throw new MmclsError(`CrossEntropyLoss: class_weight has ${cw.shape[0]} values for ${numClasses} classes`, { code: 'model.bad-argument' });
    }
    let loss: tf.Tensor;
    if (this.useSigmoid) {
      const target = clsScore.rank !== label.rank ? convertToOneHot(label, numClasses) : tf.cast(label, 'float32');
      const pw = this.posWeight ? tf.tensor1d(this.posWeight) : null;
      loss = bceWithLogits(clsScore, target, pw);
      if (cw) loss = tf.mul(loss, cw);
      loss = weightReduceLoss(loss, sampleWeight(options.weight, clsScore.rank), reduction, options.avgFactor);
    } else if (this.useSoft || (label.rank === clsScore.rank && label.rank > 1)) {
      // use_soft, or class probabilities as targets (batch augments, to_onehot): PyTorch's
      // F.cross_entropy takes those too, with the same formula.
      loss = tf.mul(tf.neg(tf.cast(label, 'float32')), tf.logSoftmax(clsScore));
      if (cw) loss = tf.mul(loss, cw);
      loss = tf.sum(loss, -1);
      loss = weightReduceLoss(loss, options.weight ? tf.cast(options.weight, 'float32') : null, reduction, options.avgFactor);
    } else {
      const onehot = convertToOneHot(label, numClasses);
      loss = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(clsScore)), -1));
      if (cw) loss = tf.mul(loss, tf.sum(tf.mul(onehot, cw), -1));
      loss = weightReduceLoss(loss, options.weight ? tf.cast(options.weight, 'float32') : null, reduction, options.avgFactor);
    }
    return tf.mul(loss, this.lossWeight);
  }
}
