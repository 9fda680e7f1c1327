import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { Module } from '../../nn/module';

export type Reduction = 'none' | 'mean' | 'sum';

/** Call options shared by the losses (MMCls's `weight`, `avg_factor`, `reduction_override`). */
export interface LossCallOptions {
  /** Per-sample weight, shape [N]. */
  weight?: tf.Tensor | null;
  /** Divisor of the summed loss for 'mean' (MMCls heads pass the batch size). */
  avgFactor?: number | null;
  /** Overrides the configured reduction. */
  reductionOverride?: Reduction | null;
}

/** A loss module (an nn.Module in MMCls, so heads list it as `loss_module`): scores [N, C] and targets (class indices [N] or scores [N, C]) to a loss. */
export abstract class LossModule extends Module {
  abstract forward(clsScore: tf.Tensor, label: tf.Tensor, options?: LossCallOptions): tf.Tensor;
}

export function checkReduction(r: unknown, who: string): Reduction {
  if (r === 'none' || r === 'mean' || r === 'sum') return r;
  throw new MmclsError(`${who}: reduction must be 'none', 'mean' or 'sum', got ${JSON.stringify(r)}`, { code: 'model.bad-argument' });
}

/** MMCls's `reduce_loss`. */
export function reduceLoss(loss: tf.Tensor, reduction: Reduction): tf.Tensor {
  if (reduction === 'none') return loss;
  if (reduction === 'mean') return tf.mean(loss);
  return tf.sum(loss);
}

/** MMCls's `weight_reduce_loss`: element weights, then mean over avg_factor (if given) or the reduction. */
export function weightReduceLoss(loss: tf.Tensor, weight: tf.Tensor | null | undefined, reduction: Reduction, avgFactor?: number | null): tf.Tensor {
  if (weight) loss = tf.mul(loss, weight);
  if (avgFactor === null || avgFactor === undefined) return reduceLoss(loss, reduction);
  if (reduction === 'mean') return tf.div(tf.sum(loss), avgFactor);
  if (reduction !== 'none') {
    throw new MmclsError('avg_factor can not be used with reduction="sum"', { code: 'model.bad-argument' });
  }
  return loss;
}

/** MMCls's `convert_to_one_hot`: class indices [N] or [N, 1] to a float one-hot [N, C]. */
export function convertToOneHot(label: tf.Tensor, numClasses: number): tf.Tensor {
  const flat = tf.reshape(tf.cast(label, 'int32'), [-1]) as tf.Tensor1D;
  return tf.cast(tf.oneHot(flat, numClasses), 'float32');
}

/** Per-sample weights reshaped to broadcast over classes ([N] -> [N, 1]) for the element-wise losses. */
export function sampleWeight(weight: tf.Tensor | null | undefined, predRank: number): tf.Tensor | null {
  if (!weight) return null;
  if (weight.rank !== 1) throw new MmclsError('loss weight must be 1-D (one per sample)', { code: 'model.bad-argument' });
  const w = tf.cast(weight, 'float32');
  return predRank > 1 ? tf.reshape(w, [-1, 1]) : w;
}

/** Numerically stable binary cross-entropy with logits, element-wise (PyTorch's formula). */
export function bceWithLogits(pred: tf.Tensor, target: tf.Tensor, posWeight?: tf.Tensor | null): tf.Tensor {
  // loss = (1 - t) * x + (1 + (pw - 1) * t) * (log(1 + exp(-|x|)) + max(-x, 0))
  const logSig = tf.add(tf.log1p(tf.exp(tf.neg(tf.abs(pred)))), tf.relu(tf.neg(pred)));
  const lw = posWeight ? tf.add(1, tf.mul(tf.sub(posWeight, 1), target)) : null;
  const second = lw ? tf.mul(lw, logSig) : logSig;
  return tf.add(tf.mul(tf.sub(1, target), pred), second);
}
