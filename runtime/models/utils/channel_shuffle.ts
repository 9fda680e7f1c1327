import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';

/**
 * MMCls's `channel_shuffle(x, groups)` (ShuffleNet): the channels, seen as `groups` groups of
 * `C / groups`, are interleaved (group-major to member-major order). `x` is NHWC here.
 */
export function channelShuffle(x: tf.Tensor, groups: number): tf.Tensor {
  const [n, h, w, c] = x.shape;
  if (x.rank !== 4 || c % groups !== 0) {
    throw new MmclsError(`channel_shuffle: expected [N, H, W, C] with C divisible by ${groups}, got [${x.shape.join(', ')}]`, {
      code: 'model.shape',
    });
  }
  if (groups === 1) return x;
  const perGroup = c / groups;
  return tf.reshape(tf.transpose(tf.reshape(x, [n * h * w, groups, perGroup]), [0, 2, 1]), [n, h, w, c]);
}
