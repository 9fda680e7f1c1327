import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../registry';
import { LossCallOptions, LossModule, Reduction, checkReduction, convertToOneHot, sampleWeight, weightReduceLoss } from './utils';

/** Options of {@link AsymmetricLoss}. */
export interface AsymmetricLossOptions {
  /** Focusing parameter of positive examples. @default 0.0 */
  gamma_pos?: number;
  /** Focusing parameter of negative examples. @default 4.0 */
  gamma_neg?: number;
  /** Probability margin shifted off negative examples. @default 0.05 */
  clip?: number;
  /** How to reduce the loss. @default 'mean' */
  reduction?: Reduction;
  /** Multiplier of the loss. @default 1.0 */
  loss_weight?: number;
  /** Sigmoid (True) or softmax (False) probabilities. @default True */
  use_sigmoid?: boolean;
  /** Lower clamp of the probabilities inside the log. @default 1e-08 */
  eps?: number;
}

/** Asymmetric loss for multi-label classification (ASL). */
@MODELS.registerModule()
export class AsymmetricLoss extends LossModule {
  readonly gammaPos: number;
  readonly gammaNeg: number;
  readonly clip: number;
  readonly reduction: Reduction;
  readonly lossWeight: number;
  readonly useSigmoid: boolean;
  readonly eps: number;

  constructor(options: AsymmetricLossOptions = {}) {
    super();
    this.gammaPos = options.gamma_pos ?? 0.0;
    this.gammaNeg = options.gamma_neg ?? 4.0;
    this.clip = options.clip ?? 0.05;
    this.reduction = checkReduction(options.reduction ?? 'mean', 'AsymmetricLoss');
    this.lossWeight = options.loss_weight ?? 1.0;
    this.useSigmoid = options.use_sigmoid ?? true;
    this.eps = options.eps ?? 1e-8;
  }

  forward(pred: tf.Tensor, target: tf.Tensor, options: LossCallOptions = {}): tf.Tensor {
    const reduction = options.reductionOverride ? checkReduction(options.reductionOverride, 'AsymmetricLoss') : this.reduction;
    const t = target.rank === 1 || (target.rank === 2 && target.shape[1] === 1) ? convertToOneHot(target, pred.shape[pred.rank - 1]) : tf.cast(target, 'float32');
    const p = this.useSigmoid ? tf.sigmoid(pred) : tf.softmax(pred);
    const negT = tf.sub(1, t);
    const pt =
      this.clip > 0
        ? tf.add(tf.mul(tf.minimum(tf.add(tf.sub(1, p), this.clip), 1), negT), tf.mul(p, t))
        : tf.add(tf.mul(tf.sub(1, p), negT), tf.mul(p, t));
    const exponent = tf.add(tf.mul(this.gammaPos, t), tf.mul(this.gammaNeg, negT));
    const weight = tf.pow(tf.sub(1, pt), exponent);
    const loss = tf.mul(tf.neg(tf.log(tf.maximum(pt, this.eps))), weight);
    return tf.mul(weightReduceLoss(loss, sampleWeight(options.weight, pred.rank), reduction, options.avgFactor), this.lossWeight);
  }
}
